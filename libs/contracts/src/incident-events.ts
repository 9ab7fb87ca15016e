import { z } from 'zod';
import { MAX_ROTATION_GRACE_MS, keyIdSchema, ownerSchema, tenantIdSchema } from './key-events.js';
import { ENUMERATION_POLICY_ACTIONS, MAX_NETWORK_DENIAL_MS, deniedTenantSchema, networkCidrSchema } from './network-events.js';
import { USAGE_LIMITS, USAGE_TRANSPORTS } from './usage.js';

/**
 * Incidents on a key: a leak report or an anomaly, both recorded on the key's stream
 * (`key-<keyId>`), and what the rotator did about it (KeyIncidentHandled, same stream). Version
 * 1; a field is only ever added (as optional) within a version. No incident event ever carries
 * a key's plaintext: a leak reported with the plaintext is recorded by key id.
 */
const isoInstant = z.iso.datetime({ offset: true });

/** Text an incident keeps: bounded, one line of printable characters (it reaches notifications and terminals). */
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/**
 * Where a leaked key was found: a file (with line and column), a commit of a repository, a URL,
 * or free text. At least one of `file`, `repository`, `url` and `description`. Never the key
 * itself: a source that contains a key is refused.
 */
export const leakSourceSchema = z
  .object({
    /** A path, relative to the repository or scanned directory. */
    file: printable(1024).optional(),
    line: z.number().int().min(1).max(100_000_000).optional(),
    column: z.number().int().min(1).max(1_000_000).optional(),
    /** The commit that added the key (hex object name). */
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, 'a commit is 7 to 64 lowercase hex digits')
      .optional(),
    /** The repository: a URL, a name (`org/repo`) or a local path. */
    repository: printable(512).optional(),
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    description: printable(1000).optional(),
  })
  .strict()
  .refine(
    (source) => [source.file, source.repository, source.url, source.description].some((field) => field !== undefined),
    'a leak source names at least a file, a repository, a url or a description',
  );
export type LeakSource = z.infer<typeof leakSourceSchema>;

/** How a leak was reported: with the key's plaintext (which proves the leak) or by its id. */
export const LEAK_EVIDENCE = ['plaintext', 'key-id'] as const;
export type LeakEvidence = (typeof LEAK_EVIDENCE)[number];

/**
 * A key was found where it should not be. On the key's stream; reported once per place
 * (a second report of the same key at the same place records nothing).
 */
export const keyLeakReportedSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    source: leakSourceSchema,
    evidence: z.enum(LEAK_EVIDENCE),
    /** The principal that reported it, as event metadata names actors (`admin-key:key_…`). */
    reportedBy: printable(200),
    at: isoInstant,
  })
  .strict();
export type KeyLeakReportedData = z.infer<typeof keyLeakReportedSchema>;

/**
 * What kind of unusual use an anomaly detector saw: `dead-key-use`, a revoked, expired or
 * suspended key presented (someone still holds it); `dormant-key-use`, a key used after a long
 * silence; `honeytoken` (added in the honeytoken release), a key issued never to be used was presented.
 */
export const ANOMALY_KINDS = ['usage-spike', 'new-source', 'error-rate', 'unusual-time', 'dead-key-use', 'dormant-key-use', 'honeytoken', 'other'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export const ANOMALY_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AnomalySeverity = (typeof ANOMALY_SEVERITIES)[number];

/** The anomaly detector's detectors that judge one key; each finding on a key names one. */
export const KEY_ANOMALY_DETECTORS = ['rate-spike', 'new-network', 'probing', 'dead-key-use', 'dormant-key-use', 'off-hours', 'honeytoken'] as const;
export type KeyAnomalyDetector = (typeof KEY_ANOMALY_DETECTORS)[number];
/** The detectors that judge a source network across keys (their findings are no key's: `onEnumeration` answers them). */
export const SOURCE_ANOMALY_DETECTORS = ['enumeration'] as const;
export type SourceAnomalyDetector = (typeof SOURCE_ANOMALY_DETECTORS)[number];
export type AnomalyDetectorName = KeyAnomalyDetector | SourceAnomalyDetector;
export const ANOMALY_DETECTORS: readonly AnomalyDetectorName[] = [...KEY_ANOMALY_DETECTORS, ...SOURCE_ANOMALY_DETECTORS];

/**
 * The one call an anomaly is about, as the verifier recorded it (a honeytoken's use): when, from
 * which address, by which transport, asking for which scopes. The address and the scopes are
 * what the caller sent, made printable.
 */
export const anomalyCallSchema = z
  .object({
    at: isoInstant,
    ip: printable(USAGE_LIMITS.ip).optional(),
    transport: z.enum(USAGE_TRANSPORTS).optional(),
    scopes: z.array(printable(USAGE_LIMITS.scope)).max(USAGE_LIMITS.scopes),
  })
  .strict();
export type AnomalyCall = z.infer<typeof anomalyCallSchema>;

/** Most entries in a finding's evidence. */
export const MAX_ANOMALY_EVIDENCE_ENTRIES = 16;

/** One entry of a finding's evidence: a name, and a finite number or a line of text. */
export const anomalyEvidenceValueSchema = z.union([z.number().finite(), printable(200)]);

/** The numbers (and a few words) behind a finding, by name. */
export const anomalyEvidenceSchema = z
  .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,39}$/, 'must be a name of letters and digits'), anomalyEvidenceValueSchema)
  .refine((evidence) => Object.keys(evidence).length <= MAX_ANOMALY_EVIDENCE_ENTRIES, `at most ${MAX_ANOMALY_EVIDENCE_ENTRIES} entries`);
export type AnomalyEvidence = z.infer<typeof anomalyEvidenceSchema>;

/**
 * A key was used unusually: what the anomaly detector appends to the key's stream (or an
 * operator reports through `keys.report-anomaly`). The tenant's incident policy (its first
 * `anomalyRules` entry that matches, else `onAnomaly`) says what follows.
 */
export const anomalyDetectedSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    kind: z.enum(ANOMALY_KINDS),
    severity: z.enum(ANOMALY_SEVERITIES),
    /** What was seen, for people: `1200 calls/min against 40 usual`. */
    detail: printable(1000).optional(),
    /** When the detector saw it (its clock). */
    detectedAt: isoInstant,
    /** Added in the honeytoken release: the call that tripped a honeytoken. */
    call: anomalyCallSchema.optional(),
    /**
     * Added with the incident policy's anomaly rules: the detector that found it. Absent from an
     * operator's report and from older findings (whose detail begins with the detector's name).
     */
    detector: z.enum(KEY_ANOMALY_DETECTORS).optional(),
    /**
     * Added with the incident policy's anomaly rules: the window the finding counted over
     * (`windowStart`), the caller's `network`, and the numbers behind it as the detector saw them,
     * the key's baseline among them (`usualDenied`, `known` networks, `usualHours`, …), for
     * `anomalies explain`. Absent from an operator's report and from older findings.
     */
    evidence: anomalyEvidenceSchema.optional(),
  })
  .strict();
export type AnomalyDetectedData = z.infer<typeof anomalyDetectedSchema>;

/**
 * A source network behaved like someone guessing keys (an enumeration): what the anomaly
 * detector appends to the network's stream (`network-<cidr with / as _>`), under the finding's
 * id, before the tenant's incident policy (`onEnumeration`) may deny the network. `tenant` is
 * the tenant the calls asked for, `*` when they named none (then only a root admin sees it).
 * Added in the anomaly rules release.
 */
export const sourceAnomalyDetectedSchema = z
  .object({
    network: networkCidrSchema,
    tenant: deniedTenantSchema,
    detector: z.enum(SOURCE_ANOMALY_DETECTORS),
    severity: z.enum(ANOMALY_SEVERITIES),
    /** What was seen, for people: `40 unknown or malformed keys from 203.0.113.0/24 in 10 s`. */
    detail: printable(1000),
    /** The record time of the call that crossed the line (not the detector's clock: a redelivered batch records the very same event). */
    detectedAt: isoInstant,
  })
  .strict();
export type SourceAnomalyDetectedData = z.infer<typeof sourceAnomalyDetectedSchema>;

/** The incident events, on a key's stream. */
export const INCIDENT_TYPES = ['KeyLeakReported', 'AnomalyDetected'] as const;
export type IncidentType = (typeof INCIDENT_TYPES)[number];

/** What an incident policy may ask for a leak. */
export const LEAK_POLICY_ACTIONS = ['notify', 'suspend', 'rotate', 'emergency-rotate'] as const;
/** What an incident policy may ask for an anomaly: the same, or nothing at all. */
export const ANOMALY_POLICY_ACTIONS = ['none', ...LEAK_POLICY_ACTIONS] as const;
export type LeakPolicyAction = (typeof LEAK_POLICY_ACTIONS)[number];
export type IncidentPolicyAction = (typeof ANOMALY_POLICY_ACTIONS)[number];

/**
 * What was done about an incident: nothing (`none`: the policy says so, or the key can no
 * longer be used), a notification only, or a change to the key (each also notified). `revoke`
 * is what an emergency policy does to a key already rotated and still in its grace.
 */
export const INCIDENT_ACTIONS = ['none', 'notify', 'suspend', 'rotate', 'emergency-rotate', 'revoke'] as const;
export type IncidentAction = (typeof INCIDENT_ACTIONS)[number];

/** Why the action taken is not the one the policy asks for (`honeytoken`: a honeytoken is notified, never changed). */
export const INCIDENT_ACTION_REASONS = [
  'admin-key',
  'key-revoked',
  'key-expired',
  'already-suspended',
  'already-rotated',
  'tenant-key-quota',
  'honeytoken',
] as const;
export type IncidentActionReason = (typeof INCIDENT_ACTION_REASONS)[number];

/**
 * What the rotator did about one incident, on the key's stream, once per incident: the record
 * that makes a redelivered incident a no-op, and the audit trail's answer to "what happened
 * after this leak".
 */
export const keyIncidentHandledSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    incident: z.object({ type: z.enum(INCIDENT_TYPES), eventId: z.uuid() }).strict(),
    /** What the effective incident policy asked for. */
    policy: z.enum(ANOMALY_POLICY_ACTIONS),
    action: z.enum(INCIDENT_ACTIONS),
    reason: z.enum(INCIDENT_ACTION_REASONS).optional(),
    /** The new key, when the incident rotated the key. */
    replacedBy: keyIdSchema.optional(),
    /** Until when the old key works, after a rotation with grace. */
    graceEndsAt: isoInstant.optional(),
    at: isoInstant,
  })
  .strict();
export type KeyIncidentHandledData = z.infer<typeof keyIncidentHandledSchema>;

/** Anomaly rules at most per policy level: a policy a person can read at a glance. */
export const MAX_ANOMALY_RULES = 16;

const keyDetectorSchema = z.enum(KEY_ANOMALY_DETECTORS, {
  error: (issue) =>
    `unknown detector ${JSON.stringify(issue.input)}: one of ${KEY_ANOMALY_DETECTORS.join(', ')} (an enumeration is no key's finding: onEnumeration answers it)`,
});

/**
 * One rule of an incident policy for anomaly findings: a finding of `detector` (any detector
 * when absent, an operator's report included) at `minSeverity` or above (any when absent) is
 * answered by `action`. A policy's rules are tried in order, the first that matches wins, and
 * `onAnomaly` answers a finding none matches.
 */
export const anomalyRuleSchema = z
  .object({
    detector: keyDetectorSchema.optional(),
    minSeverity: z.enum(ANOMALY_SEVERITIES).optional(),
    action: z.enum(ANOMALY_POLICY_ACTIONS),
  })
  .strict();
export type AnomalyRule = z.infer<typeof anomalyRuleSchema>;

/** A finding as anomaly rules see it: its detector (none for an operator's report) and severity. */
export interface AnomalyRuleSubject {
  readonly detector: KeyAnomalyDetector | undefined;
  readonly severity: AnomalySeverity;
}

/** Whether a rule answers a finding: the same detector (or a rule for any) and a severity at least the rule's. */
export function anomalyRuleMatches(rule: AnomalyRule, finding: AnomalyRuleSubject): boolean {
  if (rule.detector !== undefined && rule.detector !== finding.detector) return false;
  return ANOMALY_SEVERITIES.indexOf(finding.severity) >= ANOMALY_SEVERITIES.indexOf(rule.minSeverity ?? 'low');
}

/**
 * The first rule that can never match because an earlier one matches every finding it does
 * (`medium=notify` before `high=suspend`: the high findings stop at the first), by its index.
 * Such a list is refused rather than kept, since its order says something it does not do.
 */
export function unreachableAnomalyRule(rules: readonly AnomalyRule[]): { readonly index: number; readonly coveredBy: number } | undefined {
  for (let index = 1; index < rules.length; index += 1) {
    const rule = rules[index] as AnomalyRule;
    // The least finding a rule matches: its detector (or none) at its lowest severity.
    const least: AnomalyRuleSubject = { detector: rule.detector, severity: rule.minSeverity ?? 'low' };
    const coveredBy = rules.slice(0, index).findIndex((earlier) => anomalyRuleMatches(earlier, least));
    if (coveredBy >= 0) return { index, coveredBy };
  }
  return undefined;
}

/** The rules of one policy level: bounded; their order is checked where a person sets them (the request). */
export const anomalyRulesSchema = z.array(anomalyRuleSchema).max(MAX_ANOMALY_RULES);

/** A leak is rotated with a grace of 1 h unless the incident policy says otherwise: enough for a client on libs/live-key-client to switch, short for whoever found the key. */
export const DEFAULT_INCIDENT_GRACE_MS = 3_600_000;

/**
 * A tenant's incident policy (without `owner`) or one owner's within the tenant, on the tenant's
 * stream `tenant-<tenant>`. It replaces the policy at that level; a null field is not set there
 * and falls back to the tenant's, then to the defaults (`onLeak` rotate, `onAnomaly` notify,
 * `graceMs` DEFAULT_INCIDENT_GRACE_MS, `onEnumeration` notify, `denyForMs`
 * DEFAULT_NETWORK_DENIAL_MS, no `anomalyRules`). `onEnumeration` and `denyForMs` (added in the network denial
 * release, absent from older events) are the tenant's alone: a network is no owner's.
 */
export const incidentPolicySetSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema.optional(),
    onLeak: z.enum(LEAK_POLICY_ACTIONS).nullable(),
    onAnomaly: z.enum(ANOMALY_POLICY_ACTIONS).nullable(),
    /** Grace of the rotations an incident triggers. */
    graceMs: z.number().int().min(0).max(MAX_ROTATION_GRACE_MS).nullable(),
    /** What an enumeration from a source network, for this tenant's keys, leads to. */
    onEnumeration: z.enum(ENUMERATION_POLICY_ACTIONS).nullable().optional(),
    /** How long such a denial lasts. */
    denyForMs: z.number().int().min(1000).max(MAX_NETWORK_DENIAL_MS).nullable().optional(),
    /**
     * Added with anomaly rules (absent from older events: not set): how anomaly findings are
     * answered by detector and severity before `onAnomaly`. An empty list is set: it stops the
     * tenant's rules from reaching an owner's keys.
     */
    anomalyRules: anomalyRulesSchema.nullable().optional(),
  })
  .strict();
export type IncidentPolicySetData = z.infer<typeof incidentPolicySetSchema>;
