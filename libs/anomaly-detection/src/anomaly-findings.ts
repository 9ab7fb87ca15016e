import type {
  AnomalyAcknowledgedData,
  AnomalyAcknowledgement,
  AnomalyDetectedData,
  AnomalyExplanation,
  AnomalyFinding,
  AnomalyHandling,
  AnomalyKind,
  AnomalySeverity,
  EventEnvelope,
  KeyIncidentHandledData,
  SourceAnomalyDetectedData,
  SourceAnomalyExplanation,
  SourceAnomalyFinding,
  SourceNetworkDeniedData,
} from '@keyledger/contracts';
import { SOURCE_ANOMALY_DETECTORS } from '@keyledger/contracts';
import type { AnomalySettings } from './anomaly-settings.js';
import type { Detector, KeyDetector } from './key-baseline.js';
import { KEY_DETECTORS } from './key-baseline.js';
import { ANOMALY_KIND_OF } from './anomaly-detector.js';

/** The actor the anomaly detector records its findings as; any other actor reported the anomaly by hand. */
export const ANOMALY_DETECTOR_ACTOR = 'system:anomaly-detector';

/** What the rotator recorded about one finding, if anything. */
export function handlingOf(events: readonly EventEnvelope[], findingId: string): AnomalyHandling | null {
  const event = events.find(
    (candidate) => candidate.type === 'KeyIncidentHandled' && (candidate.data as KeyIncidentHandledData).incident.eventId === findingId,
  );
  if (!event) return null;
  const data = event.data as KeyIncidentHandledData;
  return {
    policy: data.policy,
    action: data.action,
    reason: data.reason ?? null,
    replacedBy: data.replacedBy ?? null,
    graceEndsAt: data.graceEndsAt ?? null,
    at: data.at,
    eventId: event.eventId,
  };
}

/** The acknowledgement of one finding: the first one recorded (a later one would be a duplicate, never appended). */
export function acknowledgementOf(events: readonly EventEnvelope[], findingId: string): AnomalyAcknowledgement | null {
  const event = events.find((candidate) => candidate.type === 'AnomalyAcknowledged' && (candidate.data as AnomalyAcknowledgedData).findingId === findingId);
  if (!event) return null;
  const data = event.data as AnomalyAcknowledgedData;
  return { by: data.acknowledgedBy, at: data.at, note: data.note ?? null, eventId: event.eventId };
}

/** One AnomalyDetected as a finding, with what followed it on the same key stream. */
export function findingOf(anomaly: EventEnvelope, stream: readonly EventEnvelope[]): AnomalyFinding {
  if (anomaly.type !== 'AnomalyDetected') throw new RangeError(`event ${anomaly.eventId} is ${anomaly.type}, not a finding`);
  const data = anomaly.data as AnomalyDetectedData;
  return {
    id: anomaly.eventId,
    keyId: data.keyId,
    tenant: data.tenant,
    kind: data.kind,
    severity: data.severity,
    detail: data.detail ?? null,
    detectedAt: data.detectedAt,
    recordedAt: anomaly.occurredAt,
    recordedBy: anomaly.metadata.actor,
    call: data.call ?? null,
    evidence: data.evidence ?? null,
    handled: handlingOf(stream, anomaly.eventId),
    acknowledged: acknowledgementOf(stream, anomaly.eventId),
  };
}

/** Every finding of one key stream, oldest first. */
export function findingsOfStream(stream: readonly EventEnvelope[]): AnomalyFinding[] {
  return stream.filter((event) => event.type === 'AnomalyDetected').map((event) => findingOf(event, stream));
}

/** One SourceAnomalyDetected of a network's stream as a finding, with the denial that followed it on the same stream. */
export function sourceFindingOf(found: EventEnvelope, stream: readonly EventEnvelope[]): SourceAnomalyFinding {
  if (found.type !== 'SourceAnomalyDetected') throw new RangeError(`event ${found.eventId} is ${found.type}, not a source finding`);
  const data = found.data as SourceAnomalyDetectedData;
  const denial = stream.find((event) => event.type === 'SourceNetworkDenied' && (event.data as SourceNetworkDeniedData).findingId === found.eventId);
  const denied = denial?.data as SourceNetworkDeniedData | undefined;
  return {
    id: found.eventId,
    network: data.network,
    tenant: data.tenant,
    detector: data.detector,
    severity: data.severity,
    detail: data.detail,
    detectedAt: data.detectedAt,
    recordedAt: found.occurredAt,
    recordedBy: found.metadata.actor,
    denied: denial && denied ? { until: denied.until, at: denied.at, eventId: denial.eventId } : null,
  };
}

/** What a list of findings may be narrowed to, beyond tenant, key and time (which the store's index answers). */
export interface FindingFilter {
  readonly kind?: AnomalyKind | undefined;
  readonly severity?: AnomalySeverity | undefined;
  readonly detector?: Detector | undefined;
  readonly unacked?: boolean | undefined;
}

export function matchesFindingFilter(finding: AnomalyFinding, filter: FindingFilter): boolean {
  if (filter.kind !== undefined && finding.kind !== filter.kind) return false;
  if (filter.severity !== undefined && finding.severity !== filter.severity) return false;
  if (filter.detector !== undefined && detectorOfFinding(finding) !== filter.detector) return false;
  if (filter.unacked === true && finding.acknowledged !== null) return false;
  return true;
}

/**
 * The same filter over source findings: they have no kind (a kind names a key's finding), and
 * nobody acknowledges them, so `unacked` (findings waiting for someone) leaves them out.
 */
export function matchesSourceFilter(finding: SourceAnomalyFinding, filter: FindingFilter): boolean {
  if (filter.kind !== undefined || filter.unacked === true) return false;
  if (filter.severity !== undefined && finding.severity !== filter.severity) return false;
  return filter.detector === undefined || finding.detector === filter.detector;
}

/** The events a finding is recorded as: a key's, a source network's. */
export type FindingEventType = 'AnomalyDetected' | 'SourceAnomalyDetected';

/**
 * The events a list narrowed by `filter` (and to one key, with `keyId`) can hold, so the store is
 * asked for those alone: a kind, a key's detector, a key or `unacked` names key findings, the
 * `enumeration` detector source findings. Else a flood of one type (source findings, which
 * whoever names a tenant in calls can cause) would fill the rows a list reads and push out the
 * findings asked for.
 */
export function findingEventTypes(filter: FindingFilter & { readonly keyId?: string | undefined }): readonly FindingEventType[] {
  const sourceDetector = filter.detector !== undefined && (SOURCE_ANOMALY_DETECTORS as readonly string[]).includes(filter.detector);
  const keysOnly = filter.kind !== undefined || filter.unacked === true || filter.keyId !== undefined || (filter.detector !== undefined && !sourceDetector);
  if (keysOnly) return sourceDetector ? [] : ['AnomalyDetected'];
  return sourceDetector ? ['SourceAnomalyDetected'] : ['AnomalyDetected', 'SourceAnomalyDetected'];
}

/** Newest first by when the store recorded them; ties by id, so the order is stable. */
export function newestFirst(a: Pick<AnomalyFinding, 'recordedAt' | 'id'>, b: Pick<AnomalyFinding, 'recordedAt' | 'id'>): number {
  return b.recordedAt.localeCompare(a.recordedAt) || b.id.localeCompare(a.id);
}

const seconds = (ms: number): string => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
const hours = (ms: number): string => (ms % 86_400_000 === 0 ? `${ms / 86_400_000} d` : `${ms / 3_600_000} h`);

/** What each detector looks at and the thresholds it starts from, in words. */
function detectorDescription(detector: Detector, settings: AnomalySettings): { watches: string; thresholds: string } {
  switch (detector) {
    case 'rate-spike':
      return {
        watches: "calls per window against the key's learned mean and variance (EWMA) and its decaying peak at that hour",
        thresholds: `window ${seconds(settings.rate.windowMs)}; above mean + ${settings.rate.deviations} standard deviations, ${settings.rate.ratio}× the mean and ${settings.rate.peakRatio}× the hour's peak, at least ${settings.rate.floor} calls; after ${hours(settings.rate.warmupMs)} of history`,
      };
    case 'new-network':
      return {
        watches: 'the /24 (IPv4) or /48 (IPv6) networks a key is called from',
        thresholds: `a network not seen before, once the key has ${hours(settings.network.learnMs)} of history and ${settings.network.minCalls} calls; keys using more than ${settings.network.maxNetworks} networks are not judged`,
      };
    case 'probing':
      return {
        watches: 'INSUFFICIENT_PERMISSIONS and FORBIDDEN answers to one key',
        thresholds: `at least ${settings.probing.floor} denied calls in ${seconds(settings.probing.windowMs)} (high); or ${settings.probing.slowFloor} in ${seconds(settings.probing.windowMs)} on a key denied under ${settings.probing.usualBelow} times a window on average, once it has ${hours(settings.probing.learnMs)} of history (medium)`,
      };
    case 'dead-key-use':
      return { watches: 'calls with a revoked, expired or suspended key', thresholds: 'any call' };
    case 'dormant-key-use':
      return { watches: 'the time since a key was last used', thresholds: `a call after ${hours(settings.dormantAfterMs)} without one` };
    case 'off-hours':
      return {
        watches: 'the hours of the week (UTC) a key is used in, over the last four to eight weeks',
        thresholds: `a valid call at an hour not used, nor the hour either side, once the profile has ${hours(settings.offHours.learnMs)} of history and the key ${settings.offHours.minCalls} calls; keys used in more than ${settings.offHours.maxUsualHours} of the 168 hours are not judged`,
      };
    case 'honeytoken':
      return { watches: 'calls with a honeytoken (a key issued never to be used)', thresholds: 'any call' };
    case 'enumeration':
      return {
        watches: 'unknown or malformed keys presented from one /24 (IPv4) or /48 (IPv6) network, across keys and tenants',
        thresholds: `${settings.enumeration.distinct} distinct strings in ${seconds(settings.enumeration.windowMs)} (high); ${settings.enumeration.slowDistinct} in ${seconds(settings.enumeration.windowMs)} (medium)`,
      };
    default:
      return detector satisfies never;
  }
}

/**
 * Which detector recorded an AnomalyDetected: the one it names; for an older finding, the one its
 * detail begins with (the anomaly detector prefixes it), else the one its kind says. Undefined
 * for an operator's report (recorded by another actor).
 */
export function anomalyDetectorOf(anomaly: Pick<AnomalyDetectedData, 'detector' | 'detail' | 'kind'>, recordedBy: string): KeyDetector | undefined {
  if (recordedBy !== ANOMALY_DETECTOR_ACTOR) return undefined;
  if (anomaly.detector !== undefined) return anomaly.detector;
  const named = KEY_DETECTORS.find((detector) => anomaly.detail?.startsWith(`${detector}: `));
  return named ?? KEY_DETECTORS.find((detector) => ANOMALY_KIND_OF[detector] === anomaly.kind);
}

/** Which detector recorded a finding (`anomalyDetectorOf`). */
export function detectorOfFinding(finding: AnomalyFinding): KeyDetector | undefined {
  return anomalyDetectorOf({ detail: finding.detail ?? undefined, kind: finding.kind }, finding.recordedBy);
}

/** A source finding's explanation: the finding and what its detector looks at, with the thresholds `settings` gives. */
export function explainSourceFinding(source: SourceAnomalyFinding, settings: AnomalySettings): SourceAnomalyExplanation {
  const { watches, thresholds } = detectorDescription(source.detector, settings);
  return { source, detector: { name: source.detector, watches, defaultThresholds: thresholds } };
}

/** The detector part of a finding's explanation, with the thresholds `settings` gives (the defaults, as the auditor knows them). */
export function explainDetector(finding: AnomalyFinding, settings: AnomalySettings): AnomalyExplanation['detector'] {
  const detector = detectorOfFinding(finding);
  if (detector === undefined) return { name: 'report', watches: `reported by ${finding.recordedBy}`, defaultThresholds: null };
  const { watches, thresholds } = detectorDescription(detector, settings);
  return { name: detector, watches, defaultThresholds: thresholds };
}
