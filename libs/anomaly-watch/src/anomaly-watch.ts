import type { MsgHdrs } from '@nats-io/transport-node';
import type { AnomalyCall, AnomalyDetectedData, AnomalyEvidence, UsageBatch } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, MAX_ANOMALY_EVIDENCE_ENTRIES, anomalyEvidenceSchema } from '@keyledger/contracts';
import type { AnomalyDetector, AnomalyFinding, ObservedCall } from '@keyledger/anomaly-detection';
import { ANOMALY_KIND_OF } from '@keyledger/anomaly-detection';
import type { BatchHandler, ConsumerSettings, DurableConsumerDependencies } from '@keyledger/consumer-runtime';
import { DurableConsumer } from '@keyledger/consumer-runtime';
import type { EventAuthentication } from '@keyledger/event-auth';
import { nameBasedEventId } from '@keyledger/ids';
import type { Logger } from '@keyledger/observability';
import { UsageBatchReader } from '@keyledger/usage-ledger';
import type { AnomalyMemory } from './anomaly-memory.js';
import { observeUsageBatch } from './usage-observations.js';

/**
 * Where a finding about a key goes: AnomalyDetected on its stream, under `eventId` (the same for
 * the same finding, so a retry or a second replica records it once). The service gives
 * `recordAnomaly` of libs/key-incidents.
 */
export type KeyAnomalyRecorder = (anomaly: AnomalyDetectedData, eventId: string) => Promise<void>;

/**
 * The id of a finding: from what it is about, the detector, the record time that crossed the line
 * and the severity (the slow line and the burst's can be crossed by calls of one instant: a
 * verifier tallies unknown keys per batch).
 */
export function findingId(finding: AnomalyFinding): string {
  const subject = finding.subject.kind === 'key' ? finding.subject.keyId : finding.subject.network;
  return nameBasedEventId(`keyledger anomaly v2|${subject}|${finding.detector}|${finding.at}|${finding.severity}`);
}

/** A finding about a key as AnomalyDetected (undefined for one about a source). */
export function anomalyDetectedOf(finding: AnomalyFinding, detectedAt: Date): AnomalyDetectedData | undefined {
  if (finding.subject.kind !== 'key') return undefined;
  const detector = finding.detector as keyof typeof ANOMALY_KIND_OF;
  return {
    keyId: finding.subject.keyId,
    tenant: finding.subject.tenant,
    kind: ANOMALY_KIND_OF[detector],
    severity: finding.severity,
    detail: `${finding.detector}: ${finding.detail}`.slice(0, 1000),
    detectedAt: detectedAt.toISOString(),
    ...(finding.call === undefined ? {} : { call: anomalyCallOf(finding.call) }),
    detector,
    // The window the evidence counts over and the caller's network first: the cap keeps them.
    ...recordedEvidence({
      windowStart: new Date(finding.windowStart).toISOString(),
      ...(finding.network === undefined ? {} : { network: finding.network }),
      ...finding.evidence,
    }),
  };
}

/**
 * The evidence as AnomalyDetected keeps it: the entries its schema takes, at most
 * MAX_ANOMALY_EVIDENCE_ENTRIES, a text entry cut to a line of printable characters. An entry the
 * schema would refuse is left out rather than failing the finding's append.
 */
function recordedEvidence(evidence: Readonly<Record<string, number | string>>): { evidence?: AnomalyEvidence } {
  const kept: Record<string, number | string> = {};
  for (const [name, value] of Object.entries(evidence)) {
    if (Object.keys(kept).length === MAX_ANOMALY_EVIDENCE_ENTRIES) break;
    const entry = typeof value === 'string' ? printable(value).slice(0, 200) : value;
    if (anomalyEvidenceSchema.safeParse({ [name]: entry }).success) kept[name] = entry;
  }
  return Object.keys(kept).length === 0 ? {} : { evidence: kept };
}

/** A call as an AnomalyDetected carries it: the caller's address and scopes made printable (they reach notifications and terminals). */
function anomalyCallOf(call: ObservedCall): AnomalyCall {
  const ip = call.ip === undefined ? '' : printable(call.ip);
  return {
    at: new Date(call.at).toISOString(),
    ...(ip === '' ? {} : { ip }),
    ...(call.transport === undefined ? {} : { transport: call.transport }),
    scopes: call.scopes.map(printable).filter((scope) => scope !== ''),
  };
}

function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '\ufffd');
}

/**
 * What follows a finding about a source network once it is recorded (the service gives
 * `respondToEnumeration` of libs/key-incidents: a denial under the tenant's incident policy).
 * Must be idempotent by `findingId`: a redelivered batch calls it again with the same finding,
 * and a replica that took the lock over (its source watches begin empty) may find it again with
 * another count in its detail.
 */
export type SourceFindingResponder = (finding: AnomalyFinding, findingId: string) => Promise<void>;

export interface AnomalyWatchDependencies {
  readonly detector: AnomalyDetector;
  readonly memory: AnomalyMemory;
  readonly recordKeyAnomaly: KeyAnomalyRecorder;
  /** Unset: a source's finding is only recorded. */
  readonly respondToSourceFinding?: SourceFindingResponder;
  readonly logger: Logger;
  /** Checks each batch's seal before anything of it is learned; refusals go to its sink. */
  readonly auth: EventAuthentication;
  readonly clock?: () => Date;
  /** Told about each finding once recorded. */
  readonly onFinding?: (finding: AnomalyFinding) => void;
  /**
   * Whether this replica still holds the detector lock, asked before each save: a replica that
   * lost it must not mark batches learned that the next holder is learning (unset: always).
   */
  readonly stillLeading?: () => Promise<boolean>;
}

/**
 * The usage stream through the detectors, as the batch mode of the consumer runtime takes it.
 * Only batches whose seal verifies are read (`UsageBatchReader`). Each batch is learned from as
 * it arrives (`receive`): batches learned before are skipped; the records (and tallies) of the
 * others are observed in order; each finding is recorded at once (a key's on its stream, a
 * source's in `anomaly_source_findings`, then answered by `respondToSourceFinding`). At the end
 * of the consumer's batch (`store`: its wait is over, or it is full) the baselines changed by all
 * of its usage batches and their ids are saved together, once per key however many batches
 * named it, and only then are the messages acked. A failure anywhere fails that save and naks
 * them all: the baselines they changed are read back from Postgres before the next batch, and
 * the source watches (kept in memory alone) are put back as they were before the first of them,
 * so a redelivery is learned from the state of before it, its findings get the same ids and are
 * acted on again (recorded once), none of them taken for one cooling down.
 */
export class AnomalyWatch implements BatchHandler<UsageBatch> {
  private readonly clock: () => Date;
  /** Keys whose baseline in memory may be ahead of Postgres (a save failed): read back before the next batch. */
  private readonly unsaved = new Set<string>();
  /** The usage batches received since the last save: learned from, not saved yet. */
  private window: Window | undefined;

  private readonly reader: UsageBatchReader;

  constructor(private readonly deps: AnomalyWatchDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.reader = new UsageBatchReader(deps.auth);
  }

  /** The authentic batch a message carries (`UsageBatchReader`): a forged one is never observed. */
  decode(data: Uint8Array, subject: string, headers: MsgHdrs | undefined): UsageBatch | undefined {
    return this.reader.read(data, subject, headers);
  }
  id(batch: UsageBatch): string {
    return batch.batchId;
  }
  occurredAt(batch: UsageBatch): string {
    return new Date(batch.createdAt).toISOString();
  }

  /** Reads every stored baseline into the detector (at start, before consuming). */
  async load(): Promise<number> {
    const { baselines, unreadable } = await this.deps.memory.baselines();
    for (const [keyId, baseline] of baselines) this.deps.detector.restore(keyId, baseline);
    for (const { keyId, reason } of unreadable) this.deps.logger.warn({ keyId, reason }, 'a stored anomaly baseline is unreadable; the key learns afresh');
    return baselines.size;
  }

  /** Learns from batches as they arrive and records their findings; never throws: the failure fails the next `store`. */
  async receive(batches: readonly UsageBatch[]): Promise<void> {
    const window = await this.openWindow();
    if (window.failure !== undefined) return;
    try {
      await this.learn(window, batches);
    } catch (error) {
      window.failure = { error };
    }
  }

  /** Gives up the batches received since the last save (another replica learns them): as after a failed save. */
  abandon(): void {
    if (this.window === undefined) return;
    for (const [keyId] of this.deps.detector.takeChanged()) this.unsaved.add(keyId);
    this.deps.detector.rollBackSourceBatch();
    this.window = undefined;
  }

  /** Learns from the batches not received yet, then saves what the window changed and the batch ids together. */
  async store(batches: readonly UsageBatch[]): Promise<{ readonly duplicateIds: readonly string[] }> {
    const { detector, memory } = this.deps;
    // What the window changed, taken once: on a failure these are the keys to read back.
    let changed: readonly (readonly [string, unknown])[] = [];
    try {
      const window = await this.openWindow();
      if (window.failure !== undefined) throw window.failure.error;
      await this.learn(window, batches);
      const baselines = detector.takeChanged();
      changed = baselines;
      if (this.deps.stillLeading && !(await this.deps.stillLeading())) throw new Error('the anomaly detector lock was lost: the batches are not saved here');
      await memory.save(baselines, window.fresh);
      detector.keepSourceBatch();
      return { duplicateIds: window.learnedBefore };
    } catch (error) {
      for (const [keyId] of [...changed, ...detector.takeChanged()]) this.unsaved.add(keyId);
      detector.rollBackSourceBatch();
      throw error;
    } finally {
      this.window = undefined;
    }
  }

  private async openWindow(): Promise<Window> {
    if (this.window) return this.window;
    const window: Window = { ids: new Set(), fresh: [], learnedBefore: [], failure: undefined };
    this.window = window;
    try {
      await this.readBackUnsaved();
    } catch (error) {
      window.failure = { error };
    }
    this.deps.detector.beginSourceBatch();
    return window;
  }

  /** Observes the batches new to the window and not learned before, and records their findings. */
  private async learn(window: Window, batches: readonly UsageBatch[]): Promise<void> {
    const { detector, memory } = this.deps;
    // A batch delivered twice (a redelivery overtaking) may come twice in one call: learned once.
    const unseen: UsageBatch[] = [];
    for (const batch of batches) {
      if (window.ids.has(batch.batchId)) continue;
      window.ids.add(batch.batchId);
      unseen.push(batch);
    }
    if (unseen.length === 0) return;
    const learned = await memory.learned(unseen.map((batch) => batch.batchId));
    const findings: AnomalyFinding[] = [];
    for (const batch of unseen) {
      if (learned.has(batch.batchId)) window.learnedBefore.push(batch.batchId);
      else {
        window.fresh.push(batch.batchId);
        observeUsageBatch(detector, batch, findings);
      }
    }
    const detectedAt = this.clock();
    for (const finding of findings) {
      const id = findingId(finding);
      const anomaly = anomalyDetectedOf(finding, detectedAt);
      if (anomaly) await this.deps.recordKeyAnomaly(anomaly, id);
      else {
        await memory.recordSourceFinding(id, finding, detectedAt);
        await this.deps.respondToSourceFinding?.(finding, id);
      }
      this.deps.logger.warn(
        { findingId: id, detector: finding.detector, subject: finding.subject, severity: finding.severity, detail: finding.detail },
        'anomaly detected',
      );
      this.deps.onFinding?.(finding);
    }
  }

  private async readBackUnsaved(): Promise<void> {
    if (this.unsaved.size === 0) return;
    const keyIds = [...this.unsaved];
    const { baselines } = await this.deps.memory.baselines(keyIds);
    for (const keyId of keyIds) {
      const stored = baselines.get(keyId);
      if (stored) this.deps.detector.restore(keyId, stored);
      else this.deps.detector.forget(keyId);
    }
    this.unsaved.clear();
  }
}

/** The usage batches of one consumer batch, between the first received and their save. */
interface Window {
  readonly ids: Set<string>;
  /** Learned from now, in the order observed: saved as learned. */
  readonly fresh: string[];
  /** Learned from before (a redelivery after their save): skipped. */
  readonly learnedBefore: string[];
  failure: { readonly error: unknown } | undefined;
}

export interface AnomalyConsumerSettings extends ConsumerSettings {
  /** Usage batches (messages) learned from per save at most. */
  readonly batchesPerSave: number;
  /**
   * How long the baselines learned from the first batch of a save wait for more batches before
   * they are saved and the batches acked (each batch is learned from as it arrives); 0: none.
   */
  readonly saveWaitMs?: number;
}

/** The anomaly detector's durable consumer of the usage stream (`anomaly-detector-usage`), in batch mode, through AnomalyWatch. */
export class AnomalyConsumer extends DurableConsumer<UsageBatch> {
  constructor(deps: DurableConsumerDependencies, watch: AnomalyWatch, settings: AnomalyConsumerSettings) {
    const saveWaitMs = settings.saveWaitMs ?? 0;
    // A batch held past ack wait is redelivered before it is saved.
    if (saveWaitMs * 2 > settings.ackWaitMs)
      throw new Error(`the anomaly save wait (${saveWaitMs} ms) must be at most half the ack wait (${settings.ackWaitMs} ms)`);
    super(
      deps,
      { name: DURABLE_CONSUMER_NAMES.anomalyUsage, stream: deps.topology.usageStream, filterSubject: deps.topology.usageSubjects },
      { kind: 'batch', handler: watch, maxMessages: settings.batchesPerSave, maxWaitMs: saveWaitMs },
      settings,
    );
  }
}
