import type { AnomalyDetectorName, AnomalySeverity, KeyAnomalyDetector, SourceAnomalyDetector } from '@keyledger/contracts';
import { ANOMALY_DETECTORS, ANOMALY_SEVERITIES, KEY_ANOMALY_DETECTORS, SOURCE_ANOMALY_DETECTORS } from '@keyledger/contracts';

/** The detectors that judge one key, each with its own cool-down (named in the contracts: findings and incident policies name them). */
export const KEY_DETECTORS = KEY_ANOMALY_DETECTORS;
export type KeyDetector = KeyAnomalyDetector;

/** The detectors that judge a source network across keys. */
export const SOURCE_DETECTORS = SOURCE_ANOMALY_DETECTORS;
export type SourceDetector = SourceAnomalyDetector;

export type Detector = AnomalyDetectorName;
export const DETECTORS: readonly Detector[] = ANOMALY_DETECTORS;

/**
 * What the detectors remember of one key: a few numbers and its networks, as JSON so it can be
 * kept in a row and read back after a restart. Times are ms since the epoch, record times.
 * About 60 numbers and up to `maxNetworks` short strings: 0.3-1 KB in memory per key
 * (docs/benchmarks.md#anomaly-detection measures it).
 */
export interface KeyBaseline {
  v: 1;
  tenant: string;
  firstSeen: number;
  lastSeen: number;
  /** Calls counted, all codes. */
  calls: number;
  /** Rate: the window (ms) the rate state was learned in; another window's counts are not comparable. */
  rateWindowMs: number;
  /** Rate: start of the current window bucket, calls in it, calls in the one before. */
  bucket: number;
  inBucket: number;
  previous: number;
  /** Rate: windows learned, their EWMA mean and variance. */
  learned: number;
  mean: number;
  variance: number;
  /** Rate: the busiest window of each UTC hour of the day (24), decayed up to the hour `hourlyAt` (hours since the epoch). */
  hourly: number[];
  hourlyAt: number;
  /**
   * Rate: the last closed window, learned into `hourly` only once the window after it closed
   * without a spike, so the first seconds of an attack never raise the line the rest is judged by.
   */
  pendingPeak: number;
  pendingPeakAt: number;
  /** Rate: the start of the last window found a spike in, which is never learned as the hour's peak. */
  spikeBucket: number;
  /** Probing: the same two-bucket window over the denied answers. */
  deniedBucket: number;
  denied: number;
  deniedPrevious: number;
  /** Probing: refused calls a window, on average (EWMA over the windows closed). */
  deniedMean: number;
  /** Probing: when the latest refused calls came (up to the slow line's count), oldest first. */
  deniedRecent: number[];
  /** Probing: since when the refusals are learned (0: not yet, for a baseline kept before they were). */
  deniedSince: number;
  /** New network: networks used, each with when it was last used (same order). */
  networks: string[];
  networkSeen: number[];
  /** Used more networks than kept while learning: not judged by network. */
  roaming: boolean;
  /**
   * Off-hours: the hours of the week (168, UTC) with a valid call, as two bit sets of 6 × 28 bits:
   * the current four-week epoch's (the first six numbers) and the one before's (the last six).
   * `weekHoursEpoch` numbers the current epoch; `weekHoursSince` is when the profile began (0: not yet).
   */
  weekHours: number[];
  weekHoursEpoch: number;
  weekHoursSince: number;
  /**
   * Per detector: when its last finding began a cool-down. The cool-down runs for the key's
   * tenant's cool-down as it is now, so a tenant that lowers it shortens those running.
   */
  quietSince: Partial<Record<KeyDetector, number>>;
  /** Per detector: the cool-down's end as it was set (read for a cool-down kept before `quietSince` was)… */
  quietUntil: Partial<Record<KeyDetector, number>>;
  /** …but one more severe than the finding that began it (slow probing, then a burst). */
  quietSeverity: Partial<Record<KeyDetector, AnomalySeverity>>;
}

/** A stored baseline that is not one (a row changed by hand, a format from the future). */
export class InvalidKeyBaselineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidKeyBaselineError';
  }
}

const NUMBERS = [
  'firstSeen',
  'lastSeen',
  'calls',
  'bucket',
  'inBucket',
  'previous',
  'learned',
  'mean',
  'variance',
  'hourlyAt',
  'pendingPeak',
  'pendingPeakAt',
  'spikeBucket',
  'rateWindowMs',
  'weekHoursEpoch',
  'weekHoursSince',
  'deniedBucket',
  'denied',
  'deniedPrevious',
  'deniedMean',
  'deniedSince',
] as const;

/** The most refused calls' times a baseline keeps (the slow probing line's count is at most this). */
export const MAX_RECENT = 100;

/** Six numbers of 28 bits per four-week epoch, two epochs. */
export const WEEK_HOUR_WORDS = 12;

/**
 * A baseline read back from storage, checked field by field: a row is data like any other, and
 * one wrong number would silence (or trigger) a key's detectors for good. Throws
 * InvalidKeyBaselineError saying what is wrong.
 */
export function parseKeyBaseline(value: unknown): KeyBaseline {
  if (typeof value !== 'object' || value === null) throw new InvalidKeyBaselineError('a baseline is an object');
  const record = value as Record<string, unknown>;
  // Stored before peaks were held back a window: nothing is pending.
  record['pendingPeak'] ??= 0;
  record['pendingPeakAt'] ??= 0;
  record['spikeBucket'] ??= 0;
  // Stored before the window was kept with it: unknown, so the detector learns the rate afresh.
  record['rateWindowMs'] ??= 0;
  // Stored before the weekly profile: it begins with the next call, and judges nothing until it has learned.
  record['weekHours'] ??= new Array<number>(WEEK_HOUR_WORDS).fill(0);
  record['weekHoursEpoch'] ??= 0;
  record['weekHoursSince'] ??= 0;
  // Stored before slow probing: no refusals learned, and cool-downs of unknown severity, taken as the highest.
  record['deniedMean'] ??= 0;
  record['deniedRecent'] ??= [];
  record['deniedSince'] ??= 0;
  // Stored before the start of cool-downs was kept: they end where they were set to.
  record['quietSince'] ??= {};
  record['quietSeverity'] ??= Object.fromEntries(Object.keys((record['quietUntil'] as object | undefined) ?? {}).map((detector) => [detector, 'critical']));
  if (record['v'] !== 1) throw new InvalidKeyBaselineError(`unknown baseline version ${String(record['v'])}`);
  if (typeof record['tenant'] !== 'string') throw new InvalidKeyBaselineError('tenant: must be a string');
  for (const field of NUMBERS) {
    const number = record[field];
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0)
      throw new InvalidKeyBaselineError(`${field}: must be a finite number, not negative`);
  }
  const { networks, networkSeen, hourly } = record;
  const { weekHours } = record;
  if (
    !Array.isArray(weekHours) ||
    weekHours.length !== WEEK_HOUR_WORDS ||
    !weekHours.every((word) => typeof word === 'number' && Number.isInteger(word) && word >= 0 && word < 2 ** 28)
  )
    throw new InvalidKeyBaselineError(`weekHours: must be ${WEEK_HOUR_WORDS} integers of 28 bits`);
  if (!Array.isArray(hourly) || hourly.length !== 24 || !hourly.every((peak) => typeof peak === 'number' && Number.isFinite(peak) && peak >= 0))
    throw new InvalidKeyBaselineError('hourly: must be 24 numbers, not negative');
  if (!Array.isArray(networks) || !networks.every((network) => typeof network === 'string'))
    throw new InvalidKeyBaselineError('networks: must be a list of strings');
  if (!Array.isArray(networkSeen) || networkSeen.length !== networks.length || !networkSeen.every((at) => typeof at === 'number' && Number.isFinite(at)))
    throw new InvalidKeyBaselineError('networkSeen: must be one time per network');
  if (typeof record['roaming'] !== 'boolean') throw new InvalidKeyBaselineError('roaming: must be a boolean');
  for (const field of ['quietUntil', 'quietSince'] as const) {
    const times = record[field];
    if (typeof times !== 'object' || times === null) throw new InvalidKeyBaselineError(`${field}: must be an object`);
    for (const [detector, at] of Object.entries(times))
      if (!(KEY_DETECTORS as readonly string[]).includes(detector) || typeof at !== 'number' || !Number.isFinite(at))
        throw new InvalidKeyBaselineError(`${field}.${detector}: must be a known detector with a time`);
  }
  const { deniedRecent } = record;
  if (!Array.isArray(deniedRecent) || deniedRecent.length > MAX_RECENT || !deniedRecent.every((at) => typeof at === 'number' && Number.isFinite(at)))
    throw new InvalidKeyBaselineError(`deniedRecent: must be at most ${MAX_RECENT} times`);
  const { quietSeverity } = record;
  if (typeof quietSeverity !== 'object' || quietSeverity === null) throw new InvalidKeyBaselineError('quietSeverity: must be an object');
  for (const [detector, severity] of Object.entries(quietSeverity)) {
    if (!(KEY_DETECTORS as readonly string[]).includes(detector) || !(ANOMALY_SEVERITIES as readonly unknown[]).includes(severity))
      throw new InvalidKeyBaselineError(`quietSeverity.${detector}: must be a known detector with a severity`);
  }
  return value as KeyBaseline;
}

/** A key's baseline before its first call. */
export function newKeyBaseline(tenant: string, at: number, rateWindowMs: number): KeyBaseline {
  return {
    v: 1,
    tenant,
    firstSeen: at,
    lastSeen: at,
    calls: 0,
    rateWindowMs,
    bucket: at,
    inBucket: 0,
    previous: 0,
    learned: 0,
    mean: 0,
    variance: 0,
    hourly: new Array<number>(24).fill(0),
    hourlyAt: Math.floor(at / 3_600_000),
    pendingPeak: 0,
    pendingPeakAt: 0,
    spikeBucket: 0,
    deniedBucket: at,
    denied: 0,
    deniedPrevious: 0,
    deniedMean: 0,
    deniedRecent: [],
    deniedSince: at,
    networks: [],
    networkSeen: [],
    roaming: false,
    weekHours: new Array<number>(WEEK_HOUR_WORDS).fill(0),
    weekHoursEpoch: 0,
    weekHoursSince: 0,
    quietSince: {},
    quietUntil: {},
    quietSeverity: {},
  };
}
