import { z } from 'zod';
import { tenantIdSchema } from './key-events.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The anomaly detector's thresholds a tenant's admin may set for the tenant's keys, each with
 * its bounds. The lower bounds keep a tenant from turning the detector into a flood: a finding
 * per call (a cool-down under a minute) or a window too short to mean a rate. The installation's
 * values (the detector's ANOMALY_* variables, else its built-in defaults) apply where a tenant
 * sets nothing. Source detectors (enumeration) judge a network across tenants: they are not here.
 */
export const ANOMALY_THRESHOLD_BOUNDS = {
  /** Rate spike: the window calls are counted in; a change makes the tenant's keys learn their rate afresh. */
  rateWindowMs: { min: 1000, max: HOUR },
  /** Rate spike: a key's history before its rate is judged. */
  rateWarmupMs: { min: 0, max: 30 * DAY },
  /** Rate spike: calls in a window below which a key never alarms. */
  rateFloor: { min: 1, max: 10_000_000 },
  /** New network: a key's history before its networks count as known. */
  networkLearnMs: { min: 0, max: 90 * DAY },
  /** New network: calls before a key's networks count as known. */
  networkMinCalls: { min: 0, max: 10_000_000 },
  /** Probing: refused calls (scope or address) on one key in its window. */
  probingFloor: { min: 1, max: 1_000_000 },
  /** Dormant key: time without a call after which a use is a finding. */
  dormantAfterMs: { min: HOUR, max: 3650 * DAY },
  /** After a finding, the same detector stays quiet on the same key this long. */
  cooldownMs: { min: MINUTE, max: 30 * DAY },
} as const satisfies Record<string, { readonly min: number; readonly max: number }>;

export type AnomalyThresholdName = keyof typeof ANOMALY_THRESHOLD_BOUNDS;
export const ANOMALY_THRESHOLD_NAMES = Object.keys(ANOMALY_THRESHOLD_BOUNDS) as readonly AnomalyThresholdName[];

const threshold = (name: AnomalyThresholdName): z.ZodNullable<z.ZodNumber> => {
  const { min, max } = ANOMALY_THRESHOLD_BOUNDS[name];
  return z.number().int().min(min).max(max).nullable();
};

/** A tenant's thresholds, every one named; null: not set, the installation's value applies. */
export const anomalyThresholdsSchema = z
  .object({
    rateWindowMs: threshold('rateWindowMs'),
    rateWarmupMs: threshold('rateWarmupMs'),
    rateFloor: threshold('rateFloor'),
    networkLearnMs: threshold('networkLearnMs'),
    networkMinCalls: threshold('networkMinCalls'),
    probingFloor: threshold('probingFloor'),
    dormantAfterMs: threshold('dormantAfterMs'),
    cooldownMs: threshold('cooldownMs'),
  })
  .strict() satisfies z.ZodType<Record<AnomalyThresholdName, number | null>>;
export type AnomalyThresholds = z.infer<typeof anomalyThresholdsSchema>;

/** Nothing set: the installation's thresholds throughout. */
export const NO_ANOMALY_THRESHOLDS: AnomalyThresholds = Object.freeze({
  rateWindowMs: null,
  rateWarmupMs: null,
  rateFloor: null,
  networkLearnMs: null,
  networkMinCalls: null,
  probingFloor: null,
  dormantAfterMs: null,
  cooldownMs: null,
});

/**
 * A tenant's anomaly thresholds, on the tenant's stream `tenant-<tenant>`: it replaces the
 * tenant's earlier ones whole (a threshold left null falls back to the installation's).
 */
export const anomalyThresholdsSetSchema = z.object({ tenant: tenantIdSchema, thresholds: anomalyThresholdsSchema }).strict();
export type AnomalyThresholdsSetData = z.infer<typeof anomalyThresholdsSetSchema>;

/** `anomaly-thresholds.set`: a threshold left out or null is not set (the installation's applies). */
export const setAnomalyThresholdsRequestSchema = z
  .object({ tenant: tenantIdSchema, thresholds: anomalyThresholdsSchema.partial().strict().default({}) })
  .strict()
  .transform(({ tenant, thresholds }) => ({ tenant, thresholds: { ...NO_ANOMALY_THRESHOLDS, ...thresholds } }));
export type SetAnomalyThresholdsRequest = z.infer<typeof setAnomalyThresholdsRequestSchema>;

export const getAnomalyThresholdsRequestSchema = z.object({ tenant: tenantIdSchema }).strict();
export type GetAnomalyThresholdsRequest = z.infer<typeof getAnomalyThresholdsRequestSchema>;

/** A tenant's thresholds as the API shows them: what the tenant set (null: the installation's value). */
export interface AnomalyThresholdsView {
  readonly tenant: string;
  readonly thresholds: AnomalyThresholds;
}
