import { z } from 'zod';
import { eventIdSchema } from './event-envelope.js';
import type {
  AnomalyCall,
  AnomalyEvidence,
  AnomalyKind,
  AnomalySeverity,
  IncidentAction,
  IncidentActionReason,
  IncidentPolicyAction,
  SourceAnomalyDetector,
} from './incident-events.js';
import { ANOMALY_KINDS, ANOMALY_SEVERITIES, KEY_ANOMALY_DETECTORS, SOURCE_ANOMALY_DETECTORS } from './incident-events.js';
import { keyIdSchema, tenantIdSchema } from './key-events.js';

/**
 * The operator's side of anomaly findings: `<prefix>.v1.anomalies.list` and `anomalies.explain`
 * (answered by the auditor from the event store) and `anomalies.ack` (the issuer records
 * AnomalyAcknowledged on the key's stream). A finding is an AnomalyDetected event, named by its
 * event id. Version 1; a field is only ever added (as optional) within a version.
 */
const isoInstant = z.iso.datetime({ offset: true });

/** An operator's note: bounded, one line of printable characters (it reaches terminals). */
const note = z
  .string()
  .min(1)
  .max(1000)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/**
 * Someone looked at a finding: on the key's stream, once per finding (a second acknowledgement
 * records nothing). It changes nothing of the key, and nothing the rotator did or will do.
 */
export const anomalyAcknowledgedSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    /** The AnomalyDetected event acknowledged. */
    findingId: z.uuid(),
    /** The principal that acknowledged it, as event metadata names actors (`admin-key:key_…`). */
    acknowledgedBy: z.string().min(1).max(200),
    note: note.optional(),
    at: isoInstant,
  })
  .strict();
export type AnomalyAcknowledgedData = z.infer<typeof anomalyAcknowledgedSchema>;

/** Findings at most per answer. */
export const MAX_ANOMALY_FINDINGS = 1000;

/** Lists findings, newest first: the caller's tenant by default (every tenant for a root admin without `tenant`). */
export const anomalyListRequestSchema = z
  .object({
    tenant: tenantIdSchema.optional(),
    /** Findings recorded at or after (default: 24 hours before the request). */
    since: isoInstant.optional(),
    keyId: keyIdSchema.optional(),
    kind: z.enum(ANOMALY_KINDS).optional(),
    severity: z.enum(ANOMALY_SEVERITIES).optional(),
    /** Only the findings of this detector (`enumeration`: source networks'); an operator's report has none. */
    detector: z.enum([...KEY_ANOMALY_DETECTORS, ...SOURCE_ANOMALY_DETECTORS]).optional(),
    /** Only findings nobody acknowledged. */
    unacked: z.boolean().optional(),
    limit: z.number().int().min(1).max(MAX_ANOMALY_FINDINGS).default(100),
  })
  .strict();
export type AnomalyListRequest = z.input<typeof anomalyListRequestSchema>;

/** One finding, by its id (the AnomalyDetected event id). */
export const anomalyExplainRequestSchema = z.object({ id: eventIdSchema }).strict();
export type AnomalyExplainRequest = z.infer<typeof anomalyExplainRequestSchema>;

/** Acknowledges one finding, with an optional note; needs `keyledger:keys:write` on its tenant. */
export const anomalyAckRequestSchema = z.object({ id: eventIdSchema, note: note.optional() }).strict();
export type AnomalyAckRequest = z.infer<typeof anomalyAckRequestSchema>;

/** What the tenant's incident policy did about a finding (the rotator's KeyIncidentHandled). */
export interface AnomalyHandling {
  readonly policy: IncidentPolicyAction;
  readonly action: IncidentAction;
  readonly reason: IncidentActionReason | null;
  readonly replacedBy: string | null;
  readonly graceEndsAt: string | null;
  readonly at: string;
  /** The KeyIncidentHandled event. */
  readonly eventId: string;
}

/** Who acknowledged a finding, when, and why. */
export interface AnomalyAcknowledgement {
  readonly by: string;
  readonly at: string;
  readonly note: string | null;
  /** The AnomalyAcknowledged event. */
  readonly eventId: string;
}

/** A finding as an operator sees it: the anomaly, who recorded it, what the policy did, whether someone acknowledged it. */
export interface AnomalyFinding {
  readonly id: string;
  readonly keyId: string;
  readonly tenant: string;
  readonly kind: AnomalyKind;
  readonly severity: AnomalySeverity;
  readonly detail: string | null;
  /** When the detector saw it (its clock). */
  readonly detectedAt: string;
  /** When the store recorded it. */
  readonly recordedAt: string;
  /** Who recorded it: `system:anomaly-detector`, or the admin key that reported it. */
  readonly recordedBy: string;
  /** The call that tripped it, when the finding is about one call (a honeytoken's use). */
  readonly call: AnomalyCall | null;
  /** The numbers behind it as the detector saw them, the key's baseline among them; null for a report or an older finding. */
  readonly evidence: AnomalyEvidence | null;
  /** Null until the rotator has handled it. */
  readonly handled: AnomalyHandling | null;
  readonly acknowledged: AnomalyAcknowledgement | null;
}

/** How the tenant's incident policy answered a source finding: the network denied until `until` (SourceNetworkDenied). */
export interface SourceAnomalyDenial {
  readonly until: string;
  readonly at: string;
  /** The SourceNetworkDenied event. */
  readonly eventId: string;
}

/**
 * A finding about a source network across keys (an enumeration: SourceAnomalyDetected on the
 * network's stream), in the tenant its calls asked for (`*`: none, seen by root alone).
 */
export interface SourceAnomalyFinding {
  readonly id: string;
  readonly network: string;
  readonly tenant: string;
  readonly detector: SourceAnomalyDetector;
  readonly severity: AnomalySeverity;
  readonly detail: string;
  /** The record time of the call that crossed the line. */
  readonly detectedAt: string;
  readonly recordedAt: string;
  readonly recordedBy: string;
  /** Null when the policy only notified (`onEnumeration: notify`, or a medium finding). */
  readonly denied: SourceAnomalyDenial | null;
}

export interface AnomalyFindingsPage {
  /** Findings about keys. */
  readonly findings: readonly AnomalyFinding[];
  /** Findings about source networks (added with them: absent from older auditors), newest first; `limit` counts both lists. */
  readonly sources?: readonly SourceAnomalyFinding[];
  /** More findings matched than were returned: narrow the window or raise the limit. */
  readonly truncated: boolean;
}

/**
 * A finding and its evidence: which detector (or person) recorded it, what that detector
 * looks at and the default thresholds it starts from (the detector's own configuration may
 * change them; a key's learned baseline is the detector's and is not shown), and the key's
 * state as it is now.
 */
export interface AnomalyExplanation {
  readonly finding: AnomalyFinding;
  readonly detector: {
    /** The detector's name (`honeytoken`, `rate-spike`, …), or `report` for an operator's report. */
    readonly name: string;
    /** What it looks at, in words. */
    readonly watches: string;
    /** Its default thresholds, in words; null for a report. */
    readonly defaultThresholds: string | null;
  };
  /** The key now: its status, owner and hint (never more). */
  readonly key: { readonly status: string; readonly owner: string; readonly hint: string; readonly honeytoken: boolean } | null;
}

/** A source finding and what its detector looks at (`anomalies.explain` of a source finding's id). */
export interface SourceAnomalyExplanation {
  readonly source: SourceAnomalyFinding;
  readonly detector: AnomalyExplanation['detector'];
}

/** What an acknowledgement did: recorded now, or recorded before (nothing new). */
export const ANOMALY_ACK_OUTCOMES = ['ACKNOWLEDGED', 'ALREADY_ACKNOWLEDGED'] as const;
export type AnomalyAckOutcome = (typeof ANOMALY_ACK_OUTCOMES)[number];

export interface AnomalyAckResult {
  readonly outcome: AnomalyAckOutcome;
  readonly findingId: string;
  readonly keyId: string;
  readonly acknowledged: AnomalyAcknowledgement;
}
