import { z } from 'zod';
import type { AnomalyRule, IncidentAction, IncidentActionReason, IncidentPolicyAction, LeakPolicyAction } from './incident-events.js';
import {
  ANOMALY_KINDS,
  ANOMALY_POLICY_ACTIONS,
  ANOMALY_SEVERITIES,
  INCIDENT_ACTIONS,
  INCIDENT_ACTION_REASONS,
  INCIDENT_TYPES,
  LEAK_POLICY_ACTIONS,
  SOURCE_ANOMALY_DETECTORS,
  anomalyCallSchema,
  anomalyRulesSchema,
  leakSourceSchema,
  unreachableAnomalyRule,
} from './incident-events.js';
import { MAX_ROTATION_GRACE_MS, keyIdSchema, ownerSchema, tenantIdSchema } from './key-events.js';
import type { EnumerationPolicyAction } from './network-events.js';
import { ENUMERATION_POLICY_ACTIONS, MAX_NETWORK_DENIAL_MS, networkCidrSchema } from './network-events.js';

/**
 * Reports a leaked key: by its plaintext (what a scanner has; it is hashed to find the key and
 * never kept) or by its id, with where it was found.
 */
export const reportLeakRequestSchema = z
  .object({
    key: z.string().max(512).optional(),
    keyId: keyIdSchema.optional(),
    source: leakSourceSchema,
  })
  .strict()
  .refine((request) => (request.key === undefined) !== (request.keyId === undefined), 'give either key or keyId');
export type ReportLeakRequest = z.infer<typeof reportLeakRequestSchema>;

/**
 * What became of a leak report: recorded, recorded before at that place (nothing new), or no
 * key (an unknown key, one of a tenant the caller may not see, or a string that is not a key).
 */
export const LEAK_REPORT_OUTCOMES = ['REPORTED', 'ALREADY_REPORTED', 'NOT_FOUND', 'MALFORMED'] as const;
export type LeakReportOutcome = (typeof LEAK_REPORT_OUTCOMES)[number];

/** What an incident led to, once the rotator handled it. */
export interface IncidentHandledView {
  readonly action: IncidentAction;
  readonly reason: IncidentActionReason | null;
  readonly replacedBy: string | null;
}

/** The answer to a leak or anomaly report. Key fields are set when a key was found. */
export interface IncidentReportResult {
  readonly outcome: LeakReportOutcome;
  readonly keyId?: string;
  readonly tenant?: string;
  readonly owner?: string;
  readonly hint?: string;
  /** The id of the incident event (the report, or the earlier one at the same place). */
  readonly incidentId?: string;
  /** What the rotator will do by the policy and the key's state now, until it has handled it. */
  readonly pendingAction?: IncidentAction;
  /** Set once the rotator has handled the incident. */
  readonly handled?: IncidentHandledView | null;
  /**
   * With a rotation (pending or done): how the new key's plaintext reaches the owner, by sealed
   * NATS delivery to its registered public key and by its webhook. Empty: nobody holds it.
   */
  readonly newKeyDelivery?: readonly KeyDeliveryChannel[];
}

/** How a rotated key's plaintext reaches its owner without a human. */
export type KeyDeliveryChannel = 'nats' | 'webhook';

/** An anomaly reported by an operator or an external detector (the anomaly detector appends AnomalyDetected itself). */
export const reportAnomalyRequestSchema = z
  .object({
    keyId: keyIdSchema,
    kind: z.enum(ANOMALY_KINDS),
    severity: z.enum(ANOMALY_SEVERITIES),
    detail: z
      .string()
      .min(1)
      .max(1000)
      .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
      .optional(),
    /** Default: now. */
    detectedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type ReportAnomalyRequest = z.infer<typeof reportAnomalyRequestSchema>;

/** Sets the incident policy of a tenant, or of one owner in it; a field left out or null is not set at that level. */
export const setIncidentPolicyRequestSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema.optional(),
    onLeak: z.enum(LEAK_POLICY_ACTIONS).nullable().default(null),
    onAnomaly: z.enum(ANOMALY_POLICY_ACTIONS).nullable().default(null),
    graceMs: z.number().int().min(0).max(MAX_ROTATION_GRACE_MS).nullable().default(null),
    /** The tenant's alone; left out: not set. */
    onEnumeration: z.enum(ENUMERATION_POLICY_ACTIONS).nullable().optional(),
    denyForMs: z.number().int().min(1000).max(MAX_NETWORK_DENIAL_MS).nullable().optional(),
    /** Anomaly findings by detector and severity, first match wins, before onAnomaly; left out: not set. */
    anomalyRules: anomalyRulesSchema.nullable().optional(),
  })
  .strict()
  .refine(
    (request) => request.owner === undefined || (request.onEnumeration == null && request.denyForMs == null),
    "onEnumeration and denyForMs are set for a tenant, not an owner: a source network is no owner's",
  )
  .superRefine((request, context) => {
    const unreachable = unreachableAnomalyRule(request.anomalyRules ?? []);
    if (unreachable)
      context.addIssue({
        code: 'custom',
        path: ['anomalyRules', unreachable.index],
        message: `anomaly rule ${unreachable.index + 1} is never reached: rule ${unreachable.coveredBy + 1} matches every finding it does (the first match wins; put the narrower rule first)`,
      });
  });
export const getIncidentPolicyRequestSchema = z.object({ tenant: tenantIdSchema, owner: ownerSchema.optional() }).strict();
export type SetIncidentPolicyRequest = z.infer<typeof setIncidentPolicyRequestSchema>;
export type GetIncidentPolicyRequest = z.infer<typeof getIncidentPolicyRequestSchema>;

/** An incident policy's settings as set at one level; null: not set there. */
export interface IncidentPolicySettings {
  readonly onLeak: LeakPolicyAction | null;
  readonly onAnomaly: IncidentPolicyAction | null;
  readonly graceMs: number | null;
  readonly onEnumeration: EnumerationPolicyAction | null;
  readonly denyForMs: number | null;
  readonly anomalyRules: readonly AnomalyRule[] | null;
}

/** What applies to keys: every setting resolved (owner, else tenant, else the default). */
export interface EffectiveIncidentPolicy {
  readonly onLeak: LeakPolicyAction;
  readonly onAnomaly: IncidentPolicyAction;
  readonly graceMs: number;
  readonly onEnumeration: EnumerationPolicyAction;
  readonly denyForMs: number;
  /** The owner's rules, else the tenant's, else none; tried before `onAnomaly`. */
  readonly anomalyRules: readonly AnomalyRule[];
}

/** An incident policy as the API shows it: what is set at this level, and what applies to keys there. */
export interface IncidentPolicyView {
  readonly tenant: string;
  readonly owner: string | null;
  readonly policy: IncidentPolicySettings;
  readonly effective: EffectiveIncidentPolicy;
}

/**
 * What the rotator publishes on `<prefix>.v1.notifications.<tenant>` (JetStream, message id
 * `incident-<incidentId>`) for every incident it handled, unless it did nothing (`none`).
 * Never a key's plaintext.
 */
export const incidentNotificationSchema = z
  .object({
    v: z.literal(1),
    type: z.literal('KeyIncident'),
    incidentId: z.uuid(),
    incident: z.enum(INCIDENT_TYPES),
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    owner: ownerSchema,
    hint: z.string().max(40),
    /** For a leak. */
    source: leakSourceSchema.optional(),
    /** For an anomaly. */
    anomaly: z
      .object({
        kind: z.enum(ANOMALY_KINDS),
        severity: z.enum(ANOMALY_SEVERITIES),
        detail: z.string().max(1000).optional(),
        /** The call that tripped a honeytoken: when, from where, by which transport, for which scopes. */
        call: anomalyCallSchema.optional(),
      })
      .strict()
      .optional(),
    policy: z.enum(ANOMALY_POLICY_ACTIONS),
    action: z.enum(INCIDENT_ACTIONS),
    reason: z.enum(INCIDENT_ACTION_REASONS).optional(),
    replacedBy: keyIdSchema.optional(),
    graceEndsAt: z.iso.datetime({ offset: true }).optional(),
    /** For a rotation made now: whether the new key reached its owner sealed (DELIVERED, NO_PUBLIC_KEY, …). */
    delivery: z
      .string()
      .regex(/^[A-Z_]{1,40}$/)
      .optional(),
    at: z.iso.datetime({ offset: true }),
  })
  .strict();
export type IncidentNotification = z.infer<typeof incidentNotificationSchema>;

/**
 * What the anomaly detector publishes on `<prefix>.v1.notifications.<tenant>` (JetStream, message
 * id `incident-<findingId>`) for every enumeration from a source network its tenant's keys were
 * asked for (none for calls that named no tenant): the finding, what `onEnumeration` asked and
 * did (`deny`: the network is refused by every verifier for the tenant until `until`).
 */
export const sourceIncidentNotificationSchema = z
  .object({
    v: z.literal(1),
    type: z.literal('SourceIncident'),
    /** The finding (SourceAnomalyDetected's event id). */
    incidentId: z.uuid(),
    tenant: tenantIdSchema,
    network: networkCidrSchema,
    detector: z.enum(SOURCE_ANOMALY_DETECTORS),
    severity: z.enum(ANOMALY_SEVERITIES),
    detail: z.string().max(1000),
    policy: z.enum(ENUMERATION_POLICY_ACTIONS),
    action: z.enum(ENUMERATION_POLICY_ACTIONS),
    until: z.iso.datetime({ offset: true }).optional(),
    at: z.iso.datetime({ offset: true }),
  })
  .strict();
export type SourceIncidentNotification = z.infer<typeof sourceIncidentNotificationSchema>;

/** Every message of a tenant's notification subject: an incident on a key, or one from a source network. */
export const tenantNotificationSchema = z.discriminatedUnion('type', [incidentNotificationSchema, sourceIncidentNotificationSchema]);
export type TenantNotification = z.infer<typeof tenantNotificationSchema>;
