import type { AnomalyThresholdName, AnomalyThresholds } from '@keyledger/contracts';

/**
 * The detectors' thresholds. Every duration is in ms and is measured on the times the records
 * carry (when the verifier answered), not on the detector's clock, so a replay of the same
 * records finds the same anomalies at the same instants.
 */
export interface AnomalySettings {
  /** Rate spike: calls of a key in a sliding window against its own baseline of that window. */
  readonly rate: {
    /** The window (and the bucket the baseline learns per). */
    readonly windowMs: number;
    /** The EWMA's time constant: how fast the usual rate follows a slow change (the day's curve). */
    readonly timeConstantMs: number;
    /** A window is a spike above the mean by this many standard deviations (Poisson's at least)… */
    readonly deviations: number;
    /** …and this many times the mean… */
    readonly ratio: number;
    /** …and this many times the key's decaying peak at that hour of the day (a nightly job's burst is not an attack)… */
    readonly peakRatio: number;
    /** …the peak halving over this long (longer than a week's cycle of jobs)… */
    readonly peakHalfLifeMs: number;
    /** …and at least this many calls: a new or quiet key never alarms on a handful. */
    readonly floor: number;
    /** A key's baseline says nothing until it has this much history. */
    readonly warmupMs: number;
  };
  /** New network: a /24 or /48 a key with a stable history has not used. */
  readonly network: {
    /** History (since the key's first call) before its networks count as known. */
    readonly learnMs: number;
    /** Calls before its networks count as known. */
    readonly minCalls: number;
    /** Networks kept per key; a key that used more while learning roams, and is not judged by network. */
    readonly maxNetworks: number;
  };
  /** Probing: INSUFFICIENT_PERMISSIONS and FORBIDDEN answers on one key. */
  readonly probing: {
    readonly windowMs: number;
    /** Refused calls in the window that are a burst (high), whatever the key's history. */
    readonly floor: number;
    /**
     * Refused calls in the window that are slow probing (medium) on a key seldom refused: one
     * whose refused calls have averaged under `usualBelow` a window. A client that is refused
     * all day (a wrong scope in its configuration) teaches its key that this is usual.
     */
    readonly slowFloor: number;
    readonly usualBelow: number;
    /** The time constant of that average. */
    readonly usualTimeConstantMs: number;
    /**
     * The slow line judges a key only after it has learned its refusals this long: a new key
     * (or one whose baseline was kept before refusals were learned) has no usual yet.
     */
    readonly learnMs: number;
  };
  /** Enumeration: MALFORMED and NOT_FOUND answers from one network, for distinct presented strings. */
  readonly enumeration: {
    readonly windowMs: number;
    /** Distinct strings (fingerprints) in the window that are a burst (high). */
    readonly distinct: number;
    /**
     * Distinct named strings in the window that are slow enumeration (medium): a caller with a
     * typo repeats one string, a guesser tries new ones. Calls the verifier did not fingerprint
     * (past its per-source limit) count for the burst only.
     */
    readonly slowDistinct: number;
    /** Source networks watched at once; beyond them, new sources are not watched until old ones expire. */
    readonly maxSources: number;
    /**
     * Findings one tenant is given a minute (by record time): the tenant is whatever the calls
     * named, so past this many, in that minute, a finding goes to no tenant (the root
     * operator's list) rather than flood the named tenant's list and notifications.
     */
    readonly tenantFindingsPerMinute: number;
  };
  /** Off-hours: a valid call at an hour of the week (UTC) the key is not used in, nor in the hours either side. */
  readonly offHours: {
    /** History of the weekly profile before it judges (whole weeks, so every hour of the week was seen). */
    readonly learnMs: number;
    /** Calls before it judges. */
    readonly minCalls: number;
    /** A key used in more hours of the week than this keeps no off-hours, and is not judged. */
    readonly maxUsualHours: number;
  };
  /** Dormant: a key used after this long without a call. */
  readonly dormantAfterMs: number;
  /** After a finding, the same detector stays quiet on the same key (or source) this long. */
  readonly cooldownMs: number;
  /**
   * Only records younger than this (by the detector's clock) alert: older traffic (a backlog
   * after an outage, a first start on a long usage stream) teaches the baselines and acts on nothing.
   */
  readonly alertWithinMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Defaults; their precision and recall on the traffic of bench/anomaly-evaluation.ts are in docs/benchmarks.md#anomaly-detection. */
export const DEFAULT_ANOMALY_SETTINGS: AnomalySettings = Object.freeze({
  rate: Object.freeze({
    windowMs: 5_000,
    timeConstantMs: 30 * MINUTE,
    deviations: 6,
    ratio: 4,
    peakRatio: 2,
    peakHalfLifeMs: 7 * DAY,
    floor: 12,
    warmupMs: DAY,
  }),
  network: Object.freeze({ learnMs: DAY, minCalls: 50, maxNetworks: 16 }),
  probing: Object.freeze({ windowMs: MINUTE, floor: 20, slowFloor: 3, usualBelow: 0.2, usualTimeConstantMs: DAY, learnMs: DAY }),
  enumeration: Object.freeze({ windowMs: MINUTE, distinct: 20, slowDistinct: 4, maxSources: 100_000, tenantFindingsPerMinute: 10 }),
  offHours: Object.freeze({ learnMs: 14 * DAY, minCalls: 200, maxUsualHours: 144 }),
  dormantAfterMs: 30 * DAY,
  cooldownMs: HOUR,
  alertWithinMs: 10 * MINUTE,
});

/**
 * The thresholds that judge one tenant's keys: the installation's, with each threshold the
 * tenant set in its place. The rest (the detectors' shape, enumeration across tenants, how
 * fresh a record must be to alert) stays the installation's.
 */
export function settingsForTenant(installation: AnomalySettings, thresholds: AnomalyThresholds): AnomalySettings {
  return {
    ...installation,
    rate: {
      ...installation.rate,
      windowMs: thresholds.rateWindowMs ?? installation.rate.windowMs,
      warmupMs: thresholds.rateWarmupMs ?? installation.rate.warmupMs,
      floor: thresholds.rateFloor ?? installation.rate.floor,
    },
    network: {
      ...installation.network,
      learnMs: thresholds.networkLearnMs ?? installation.network.learnMs,
      minCalls: thresholds.networkMinCalls ?? installation.network.minCalls,
    },
    probing: { ...installation.probing, floor: thresholds.probingFloor ?? installation.probing.floor },
    dormantAfterMs: thresholds.dormantAfterMs ?? installation.dormantAfterMs,
    cooldownMs: thresholds.cooldownMs ?? installation.cooldownMs,
  };
}

/** True when a tenant set no threshold: its keys are judged by the installation's. */
export function setsNoThreshold(thresholds: AnomalyThresholds): boolean {
  return Object.values(thresholds).every((value) => value === null);
}

/** The thresholds a tenant may set, as these settings hold them (the built-in defaults': DEFAULT_ANOMALY_SETTINGS). */
export function thresholdsOf(settings: AnomalySettings): Readonly<Record<AnomalyThresholdName, number>> {
  return {
    rateWindowMs: settings.rate.windowMs,
    rateWarmupMs: settings.rate.warmupMs,
    rateFloor: settings.rate.floor,
    networkLearnMs: settings.network.learnMs,
    networkMinCalls: settings.network.minCalls,
    probingFloor: settings.probing.floor,
    dormantAfterMs: settings.dormantAfterMs,
    cooldownMs: settings.cooldownMs,
  };
}
