import type { AnomalyKind, AnomalySeverity, AnomalyThresholds, UsageTransport, VerifyCode } from '@keyledger/contracts';
import { ANOMALY_SEVERITIES } from '@keyledger/contracts';
import type { AnomalySettings } from './anomaly-settings.js';
import { DEFAULT_ANOMALY_SETTINGS, setsNoThreshold, settingsForTenant } from './anomaly-settings.js';
import type { Detector, KeyBaseline, KeyDetector } from './key-baseline.js';
import { newKeyBaseline } from './key-baseline.js';
import type { NamedNetwork, NetworkTable } from './network-table.js';
import { SourceNetworks } from './source-network.js';

/**
 * One or more verifications as the detectors see them: a KeyUsed record (`calls` 1), or a
 * tally of calls with an unknown or malformed string (`calls` n, `at` its minute).
 */
export interface UsageObservation {
  readonly at: number;
  readonly keyId?: string | undefined;
  readonly tenant?: string | undefined;
  readonly ip?: string | undefined;
  readonly fingerprint?: string | undefined;
  readonly code: VerifyCode;
  readonly calls: number;
  /** The key named is a honeytoken: its caller was answered NOT_FOUND. */
  readonly honeytoken?: boolean | undefined;
  readonly transport?: UsageTransport | undefined;
  /** The scopes the caller asked for. */
  readonly scopes?: readonly string[] | undefined;
}

/** One call as the verifier recorded it, for a finding about that call alone (a honeytoken's use). */
export interface ObservedCall {
  readonly at: number;
  /** The caller's address as the transport gave it. */
  readonly ip: string | undefined;
  readonly transport: UsageTransport | undefined;
  readonly scopes: readonly string[];
}

/** What a finding is about: a key, or a source network (enumeration across keys). */
export type FindingSubject =
  | { readonly kind: 'key'; readonly keyId: string; readonly tenant: string }
  | { readonly kind: 'source'; readonly network: string; readonly tenant: string | undefined };

/** An anomaly, with what was seen: a key's is recorded as AnomalyDetected on its stream. */
export interface AnomalyFinding {
  readonly detector: Detector;
  readonly severity: AnomalySeverity;
  readonly subject: FindingSubject;
  /** The record time of the call that crossed the line. */
  readonly at: number;
  /** The window the evidence counts over: [windowStart, at]. */
  readonly windowStart: number;
  /** The caller's network, when known. */
  readonly network: string | undefined;
  /** For people, one line: `412 calls in 10 s against 12 usual`. */
  readonly detail: string;
  /** The numbers behind it, for `explain`. */
  readonly evidence: Readonly<Record<string, number | string>>;
  /** The call itself, for a finding about one call (a honeytoken's use). */
  readonly call?: ObservedCall | undefined;
}

/** What each key detector's findings are recorded as (AnomalyDetected's closed `kind`). */
export const ANOMALY_KIND_OF: { readonly [D in KeyDetector]: AnomalyKind } = {
  'rate-spike': 'usage-spike',
  'new-network': 'new-source',
  probing: 'error-rate',
  'dead-key-use': 'dead-key-use',
  'dormant-key-use': 'dormant-key-use',
  'off-hours': 'unusual-time',
  honeytoken: 'honeytoken',
};

/** Counts since the detector was made, for metrics. */
export interface DetectionStats {
  observed: number;
  findings: number;
  /** Findings on traffic older than `alertWithinMs`: learned from, not reported. */
  stale: number;
  /** Findings inside a cool-down. */
  cooledDown: number;
  /** Sources not watched because `maxSources` were. */
  sourcesDropped: number;
  /** Source findings given to no tenant because the tenant the calls named had its `tenantFindingsPerMinute`. */
  tenantBudgetSpent: number;
}

interface SourceWatch {
  bucket: number;
  fingerprints: Set<string>;
  /** Calls whose string the verifier did not fingerprint (past its per-source limit): each counted as another string. */
  unnamed: number;
  previous: number;
  tenant: string | undefined;
  quietUntil: number;
  quietSeverity: AnomalySeverity;
  /** The latest distinct named strings (up to the slow line's count) and when each was last seen, oldest first. */
  recent: { fingerprint: string; at: number }[];
}

function copyOfWatch(watch: SourceWatch): SourceWatch {
  return { ...watch, fingerprints: new Set(watch.fingerprints), recent: watch.recent.map((entry) => ({ ...entry })) };
}

/** Source findings given to each tenant in one minute of record time. */
interface TenantFindings {
  readonly minute: number;
  readonly counts: Map<string, number>;
}

/**
 * The source state as it was when `beginSourceBatch` was called: each watch touched since (undefined
 * for one not watched then) and the tenants' counts.
 */
interface SourceBatch {
  readonly watches: Map<string, SourceWatch | undefined>;
  readonly tenantFindings: TenantFindings;
}

/** Settings with what is derived from them once, not per call. */
interface Tuning {
  readonly settings: AnomalySettings;
  /** The EWMA's weight of one window. */
  readonly alpha: number;
  readonly peakDecayPerHour: number;
}

function tuningOf(settings: AnomalySettings): Tuning {
  return {
    settings,
    alpha: Math.min(1, settings.rate.windowMs / settings.rate.timeConstantMs),
    peakDecayPerHour: 0.5 ** (HOUR_MS / settings.rate.peakHalfLifeMs),
  };
}

const DEAD_CODES: ReadonlySet<VerifyCode> = new Set<VerifyCode>(['REVOKED', 'EXPIRED', 'DISABLED']);
const DENIED_CODES: ReadonlySet<VerifyCode> = new Set<VerifyCode>(['INSUFFICIENT_PERMISSIONS', 'FORBIDDEN']);
/** What a string that named no key gets: from a denied network that is DENIED, and guessing from there is still enumeration. */
const UNKNOWN_CODES: ReadonlySet<VerifyCode> = new Set<VerifyCode>(['MALFORMED', 'NOT_FOUND', 'DENIED']);

const round = (value: number): number => Math.round(value * 10) / 10;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const WEEK_HOURS = 168;
/** A weekly profile forgets an hour not used for four to eight weeks: two epochs of four weeks are kept. */
const EPOCH_MS = 4 * WEEK_HOURS * HOUR_MS;
const DAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed'];
/** The UTC hour of the week of an instant, counted from the epoch's Thursday 00:00. */
const hourOfWeek = (at: number): number => Math.floor(at / HOUR_MS) % WEEK_HOURS;
const isSet = (words: readonly number[], offset: number, hour: number): boolean => ((words[offset + Math.floor(hour / 28)]! >>> (hour % 28)) & 1) === 1;
const bitCount = (word: number): number => {
  let count = 0;
  for (let rest = word; rest !== 0; rest &= rest - 1) count += 1;
  return count;
};
/** The UTC hour of the day of an instant. */
const hourOfDay = (at: number): number => Math.floor(at / HOUR_MS) % 24;

/**
 * The anomaly detectors over a stream of verifications, in plain TypeScript: each key learns
 * its own baseline (a few numbers, `KeyBaseline`), each source network is watched for a
 * minute at a time, and `observe` says what crosses a line. Time is the records' time; the
 * injected clock only decides whether a finding is fresh enough to report (`alertWithinMs`).
 * The same records in the same order give the same findings: the evaluation in
 * bench/anomaly runs exactly this. `settings` are the installation's; a tenant that set
 * thresholds of its own (`setTenantThresholds`) has its keys judged by those instead, while the
 * source detectors (enumeration), which watch a network across tenants, keep the installation's.
 *
 * - rate-spike: a key's calls (but those refused for a scope or an address, and a dead key's) in a sliding window above its EWMA mean by `deviations`
 *   standard deviations, `ratio` times the mean, `peakRatio` times the decaying peak of that
 *   hour of the day and the `floor`, once it has `warmupMs` of history. A spike is learned only up to the line,
 *   so an attack does not become the new normal.
 * - new-network: a call from a /24 or /48 the key has not used, once the key has `learnMs`
 *   of history and `minCalls` calls and did not roam over more than `maxNetworks`; where the
 *   operator's network table names the address (an ASN, a region), that named network instead,
 *   so a key that roams over one provider's addresses is judged too.
 * - probing: `floor` INSUFFICIENT_PERMISSIONS or FORBIDDEN answers on one key in a window (high),
 *   or `slowFloor` on a key whose refused calls average under `usualBelow` a window (medium).
 * - dead-key-use: a call of a revoked, expired or suspended key.
 * - dormant-key-use: a valid call after `dormantAfterMs` without any.
 * - off-hours: a valid call at an hour of the week (UTC) the key has not been used in lately,
 *   nor in the hours either side, once its weekly profile has learned (`offHours`).
 * - enumeration: `distinct` unknown or malformed strings from one network in a window (high),
 *   or `slowDistinct` named ones (medium), for the tenant the calls named: at most
 *   `tenantFindingsPerMinute` a minute each, the rest for no tenant.
 * - honeytoken: any call of a honeytoken, critical, whatever its answer and however late it is
 *   seen (someone holds a key that was never given to anyone); it teaches the key no baseline.
 */
export class AnomalyDetector {
  readonly stats: DetectionStats = { observed: 0, findings: 0, stale: 0, cooledDown: 0, sourcesDropped: 0, tenantBudgetSpent: 0 };
  private readonly keys = new Map<string, KeyBaseline>();
  private readonly sources = new Map<string, SourceWatch>();
  private tenantFindings: TenantFindings = { minute: 0, counts: new Map() };
  private sourceBatch: SourceBatch | undefined;
  private readonly changed = new Set<string>();
  private readonly networks: SourceNetworks;
  private readonly installation: Tuning;
  /** The tenants that set thresholds of their own; every other tenant's keys are judged by the installation's. */
  private readonly tenants = new Map<string, Tuning>();

  /** `networkTable`: the operator's named networks (ASNs, regions), which new-network judges keys by where they name an address. */
  constructor(
    private readonly clock: () => number,
    readonly settings: AnomalySettings = DEFAULT_ANOMALY_SETTINGS,
    networkTable?: NetworkTable,
  ) {
    this.networks = new SourceNetworks(networkTable);
    this.installation = tuningOf(settings);
  }

  /** Judges a tenant's keys by the thresholds it set (all null: by the installation's again) from the next observation on. */
  setTenantThresholds(tenant: string, thresholds: AnomalyThresholds): void {
    if (setsNoThreshold(thresholds)) this.tenants.delete(tenant);
    else this.tenants.set(tenant, tuningOf(settingsForTenant(this.settings, thresholds)));
  }

  /** The settings a tenant's keys are judged by. */
  settingsOf(tenant: string): AnomalySettings {
    return this.tuningFor(tenant).settings;
  }

  private tuningFor(tenant: string): Tuning {
    return this.tenants.get(tenant) ?? this.installation;
  }

  /** Takes a stored baseline back (at start, or after a failed save). */
  restore(keyId: string, baseline: KeyBaseline): void {
    const { windowMs } = this.tuningFor(baseline.tenant).settings.rate;
    if (baseline.rateWindowMs !== windowMs) this.forgetRate(baseline, windowMs);
    this.keys.set(keyId, baseline);
    this.changed.delete(keyId);
  }

  /**
   * A baseline learned with another window (the setting changed, the tenant's included, or it was stored before the
   * window was kept with it): its counts per window mean nothing now, so the rate is learned
   * afresh, warm-up included. Networks, hours and the rest are kept.
   */
  private forgetRate(state: KeyBaseline, windowMs: number): void {
    state.rateWindowMs = windowMs;
    state.bucket = state.lastSeen - (state.lastSeen % windowMs);
    state.inBucket = 0;
    state.previous = 0;
    state.learned = 0;
    state.mean = 0;
    state.variance = 0;
    state.hourly.fill(0);
    state.pendingPeak = 0;
    state.spikeBucket = 0;
  }

  /** Forgets a key's baseline (its stored one is to be restored). */
  forget(keyId: string): void {
    this.keys.delete(keyId);
    this.changed.delete(keyId);
  }

  baseline(keyId: string): Readonly<KeyBaseline> | undefined {
    return this.keys.get(keyId);
  }

  get trackedKeys(): number {
    return this.keys.size;
  }

  /** The baselines changed since the last call, to be saved; the caller restores or forgets them if the save fails. */
  takeChanged(): [string, KeyBaseline][] {
    const changed: [string, KeyBaseline][] = [];
    for (const keyId of this.changed) changed.push([keyId, this.keys.get(keyId)!]);
    this.changed.clear();
    return changed;
  }

  /**
   * Remembers the source watches as they are, until `keepSourceBatch` or `rollBackSourceBatch`.
   * They live in memory alone (a key's baseline is read back from Postgres instead), so a batch
   * whose findings were not all acted on must be able to put them back: else the redelivered
   * batch would find its enumeration cooling down and nobody would act on it.
   */
  beginSourceBatch(): void {
    this.sourceBatch = { watches: new Map(), tenantFindings: { minute: this.tenantFindings.minute, counts: new Map(this.tenantFindings.counts) } };
  }

  /** What the source watches learned since `beginSourceBatch` stands (what followed their findings was done). */
  keepSourceBatch(): void {
    this.sourceBatch = undefined;
  }

  /** Puts the source watches and the tenants' counts back as they were at `beginSourceBatch`, cool-downs included. */
  rollBackSourceBatch(): void {
    const batch = this.sourceBatch;
    if (batch === undefined) return;
    for (const [network, watch] of batch.watches)
      if (watch === undefined) this.sources.delete(network);
      else this.sources.set(network, watch);
    this.tenantFindings = batch.tenantFindings;
    this.sourceBatch = undefined;
  }

  /** A watch about to change: its state before the batch is kept the first time. */
  private touchSource(network: string): void {
    const batch = this.sourceBatch;
    if (batch === undefined || batch.watches.has(network)) return;
    const watch = this.sources.get(network);
    batch.watches.set(network, watch === undefined ? undefined : copyOfWatch(watch));
  }

  /** Learns from one observation; appends to `findings` what it reveals (fresh and out of cool-down only). */
  observe(observation: UsageObservation, findings: AnomalyFinding[]): void {
    this.stats.observed += observation.calls;
    if (observation.keyId !== undefined && observation.tenant !== undefined) this.observeKey(observation.keyId, observation.tenant, observation, findings);
    else if (UNKNOWN_CODES.has(observation.code)) this.observeSource(observation, findings);
  }

  private observeKey(keyId: string, tenant: string, observation: UsageObservation, findings: AnomalyFinding[]): void {
    const { at, code, calls } = observation;
    let state = this.keys.get(keyId);
    const known = state !== undefined;
    const t = this.tuningFor(state?.tenant ?? tenant);
    const { settings } = t;
    if (state === undefined) {
      state = newKeyBaseline(tenant, at, settings.rate.windowMs);
      state.bucket = at - (at % settings.rate.windowMs);
      state.deniedBucket = at - (at % settings.probing.windowMs);
      this.keys.set(keyId, state);
    } else if (state.rateWindowMs !== settings.rate.windowMs) this.forgetRate(state, settings.rate.windowMs);
    this.changed.add(keyId);
    const subject = { kind: 'key', keyId, tenant: state.tenant } as const;
    const network = this.networks.of(observation.ip);
    if (observation.honeytoken === true) {
      this.reportHoneytoken(t, state, subject, observation, network, findings);
      state.calls += calls;
      if (at > state.lastSeen) state.lastSeen = at;
      return;
    }

    if (DEAD_CODES.has(code)) {
      const what = code === 'DISABLED' ? 'suspended' : code === 'REVOKED' ? 'revoked' : 'expired';
      this.report(
        t,
        state,
        'dead-key-use',
        'high',
        subject,
        at,
        at,
        network,
        `a ${what} key was presented${network ? ` from ${network}` : ''}`,
        { code },
        findings,
      );
    }
    if (code === 'VALID' && known && at - state.lastSeen >= settings.dormantAfterMs) {
      const days = Math.floor((at - state.lastSeen) / 86_400_000);
      this.report(
        t,
        state,
        'dormant-key-use',
        'medium',
        subject,
        at,
        state.lastSeen,
        network,
        `used after ${days} days without a call`,
        { lastSeen: new Date(state.lastSeen).toISOString(), days },
        findings,
      );
    }
    if (code === 'VALID') this.checkHourOfWeek(t, state, subject, at, network, findings);
    // A key's rate is its use: calls refused for a scope or an address are probing's to judge,
    // calls of a dead key dead-key-use's, and neither is counted twice as a spike.
    if (!DENIED_CODES.has(code) && !DEAD_CODES.has(code)) this.countRate(t, state, subject, at, calls, network, findings);
    if (DENIED_CODES.has(code)) this.countDenied(t, state, subject, at, calls, network, findings);
    if (network !== undefined && !DEAD_CODES.has(code)) this.checkNetwork(t, state, subject, at, network, this.networks.nameOf(observation.ip), findings);
    state.calls += calls;
    if (at > state.lastSeen) state.lastSeen = at;
  }

  /**
   * Off-hours: a valid call at an hour of the week the key was not used in for the last four to
   * eight weeks, nor the hour either side (so a job that drifts by some minutes is not one), once
   * its profile has `learnMs` of history, the key `minCalls` calls, and at most `maxUsualHours`
   * usual hours (a key used round the clock has no off-hours). The hour is then learned: the
   * same hour next week is usual.
   */
  private checkHourOfWeek(t: Tuning, state: KeyBaseline, subject: FindingSubject, at: number, network: string | undefined, findings: AnomalyFinding[]): void {
    const { learnMs, minCalls, maxUsualHours } = t.settings.offHours;
    const epoch = Math.floor(at / EPOCH_MS);
    const words = state.weekHours;
    if (state.weekHoursSince === 0) {
      state.weekHoursSince = at;
      state.weekHoursEpoch = epoch;
    }
    if (epoch > state.weekHoursEpoch) {
      // The current epoch becomes the one before (or both are forgotten after two epochs without a call).
      for (let i = 0; i < 6; i++) {
        words[6 + i] = epoch === state.weekHoursEpoch + 1 ? words[i]! : 0;
        words[i] = 0;
      }
      state.weekHoursEpoch = epoch;
    }
    const hour = hourOfWeek(at);
    const usual = (h: number): boolean => isSet(words, 0, (h + WEEK_HOURS) % WEEK_HOURS) || isSet(words, 6, (h + WEEK_HOURS) % WEEK_HOURS);
    if (at - state.weekHoursSince >= learnMs && state.calls >= minCalls && !usual(hour) && !usual(hour - 1) && !usual(hour + 1)) {
      let usualHours = 0;
      for (let i = 0; i < 6; i++) usualHours += bitCount(words[i]! | words[6 + i]!);
      if (usualHours <= maxUsualHours) {
        const when = `${DAYS[Math.floor(hour / 24)]} ${String(hour % 24).padStart(2, '0')}:00 UTC`;
        this.report(
          t,
          state,
          'off-hours',
          'medium',
          subject,
          at,
          at - (at % HOUR_MS),
          network,
          `a call on ${when}, an hour of the week the key is not used in (used in ${usualHours} of 168)`,
          { hourOfWeek: when, usualHours },
          findings,
        );
      }
    }
    words[Math.floor(hour / 28)] = words[Math.floor(hour / 28)]! | (1 << (hour % 28));
  }

  private countRate(
    t: Tuning,
    state: KeyBaseline,
    subject: FindingSubject,
    at: number,
    calls: number,
    network: string | undefined,
    findings: AnomalyFinding[],
  ): void {
    const { windowMs, warmupMs } = t.settings.rate;
    const bucket = at - (at % windowMs);
    if (bucket > state.bucket) {
      const gap = (bucket - state.bucket) / windowMs;
      const closed = state.inBucket;
      this.learn(t, state, closed);
      // The windows without a call are learned as zeros, in one step.
      if (gap > 1) {
        const decay = (1 - t.alpha) ** (gap - 1);
        state.mean *= decay;
        state.variance *= decay;
        state.learned += gap - 1;
      }
      state.previous = gap === 1 ? closed : 0;
      state.inBucket = 0;
      state.bucket = bucket;
    }
    // A late record counts in the current window.
    state.inBucket += calls;
    // Windows learned, not time since the first call: a rate learned afresh warms up again.
    if (state.learned * windowMs < warmupMs) return;
    const elapsed = Math.max(0, at - state.bucket) / windowMs;
    const inWindow = state.inBucket + state.previous * (1 - elapsed);
    const line = this.rateLine(t, state, at);
    if (inWindow > line) {
      // The window before may hold the spike's first calls, and this one holds the spike: neither
      // is the key's normal, neither becomes its peak.
      state.pendingPeak = 0;
      state.spikeBucket = state.bucket;
      const usual = round(state.mean);
      this.report(
        t,
        state,
        'rate-spike',
        inWindow > 10 * line ? 'critical' : 'high',
        subject,
        at,
        at - windowMs,
        network,
        `${Math.round(inWindow)} calls in ${windowMs / 1000} s against ${usual} usual (line ${Math.round(line)})`,
        {
          calls: Math.round(inWindow),
          windowMs,
          mean: usual,
          sd: round(Math.sqrt(state.variance)),
          hourPeak: round(state.hourly[hourOfDay(at)] ?? 0),
          line: Math.round(line),
        },
        findings,
      );
    }
  }

  /** The calls in a window above which a key's rate is a spike. */
  private rateLine(t: Tuning, state: KeyBaseline, at: number): number {
    return Math.max(this.meanLine(t, state), t.settings.rate.peakRatio * state.hourly[hourOfDay(at)]!);
  }

  /** The line by the mean alone: what the mean learns a window up to (the peak learns bursts whole, the mean never). */
  private meanLine(t: Tuning, state: KeyBaseline): number {
    const { deviations, ratio, floor } = t.settings.rate;
    const sd = Math.sqrt(Math.max(state.variance, state.mean));
    return Math.max(floor, ratio * state.mean, state.mean + deviations * sd);
  }

  /**
   * The busiest window of each hour of the day, decaying: a job that bursts at 23:00 every night
   * is the key's own once learned (see `learn`), while a spike at another hour is judged against
   * that hour's own peak.
   */
  private learnPeak(t: Tuning, state: KeyBaseline, bucket: number, count: number): void {
    const hour = Math.floor(bucket / HOUR_MS);
    const elapsed = hour - state.hourlyAt;
    if (elapsed > 0) {
      const decay = t.peakDecayPerHour ** elapsed;
      for (let h = 0; h < 24; h++) state.hourly[h] = state.hourly[h]! * decay;
      state.hourlyAt = hour;
    }
    const slot = hourOfDay(bucket);
    if (count > state.hourly[slot]!) state.hourly[slot] = count;
  }

  /** One window's count into the EWMA; a spike only up to the line, so an attack does not teach. */
  private learn(t: Tuning, state: KeyBaseline, count: number): void {
    const warm = state.learned * t.settings.rate.windowMs >= t.settings.rate.warmupMs;
    const x = warm ? Math.min(count, this.meanLine(t, state)) : count;
    const line = warm ? this.rateLine(t, state, state.bucket) : Number.POSITIVE_INFINITY;
    // A plain average at first, so a young key's mean is its own, not a slow climb from zero.
    const alpha = Math.max(t.alpha, 1 / (state.learned + 1));
    const diff = x - state.mean;
    const step = alpha * diff;
    state.mean += step;
    state.variance = (1 - alpha) * (state.variance + diff * step);
    // Held back one window: learned only if the next is no spike (countRate drops it otherwise),
    // never if it was one itself, and only up to the line. Once a key is judged, no burst over
    // its line becomes the hour's peak: bursts repeated just over the line cannot raise it.
    if (state.pendingPeak > 0) this.learnPeak(t, state, state.pendingPeakAt, state.pendingPeak);
    state.pendingPeak = state.spikeBucket === state.bucket ? 0 : Math.min(count, line);
    state.pendingPeakAt = state.bucket;
    state.learned += 1;
  }

  private countDenied(
    t: Tuning,
    state: KeyBaseline,
    subject: FindingSubject,
    at: number,
    calls: number,
    network: string | undefined,
    findings: AnomalyFinding[],
  ): void {
    const { windowMs, floor, slowFloor, usualBelow, usualTimeConstantMs, learnMs } = t.settings.probing;
    if (state.deniedSince === 0) state.deniedSince = at;
    const bucket = at - (at % windowMs);
    if (bucket > state.deniedBucket) {
      // The closed window is learned into the average, and the empty ones since decay it.
      const elapsed = Math.max(0, bucket - state.deniedBucket - windowMs);
      state.deniedMean =
        (state.deniedMean + (state.denied - state.deniedMean) * (1 - Math.exp(-windowMs / usualTimeConstantMs))) * Math.exp(-elapsed / usualTimeConstantMs);
      state.deniedPrevious = bucket - state.deniedBucket === windowMs ? state.denied : 0;
      state.denied = 0;
      state.deniedBucket = bucket;
    }
    state.denied += calls;
    // The slow line is a few calls: their times, exactly, rather than the buckets' estimate,
    // which loses a fraction of a call when they straddle two buckets.
    for (let i = 0; i < Math.min(calls, slowFloor); i += 1) state.deniedRecent.push(at);
    if (state.deniedRecent.length > slowFloor) state.deniedRecent.splice(0, state.deniedRecent.length - slowFloor);
    const slow =
      at - state.deniedSince >= learnMs && state.deniedRecent.length >= slowFloor && at - state.deniedRecent[0]! < windowMs && state.deniedMean < usualBelow;
    const inWindow = state.denied + state.deniedPrevious * (1 - Math.max(0, at - state.deniedBucket) / windowMs);
    const severity = inWindow >= floor ? 'high' : slow ? 'medium' : undefined;
    if (severity)
      this.report(
        t,
        state,
        'probing',
        severity,
        subject,
        at,
        at - windowMs,
        network,
        severity === 'high'
          ? `${Math.round(inWindow)} calls refused for scope or address in ${windowMs / 1000} s`
          : `${slowFloor} calls refused for scope or address in ${(at - state.deniedRecent[0]!) / 1000} s on a key refused ${state.deniedMean.toFixed(2)} times a minute on average`,
        { denied: Math.round(inWindow), windowMs, usualDenied: Number(state.deniedMean.toFixed(3)) },
        findings,
      );
  }

  /** `cidr` is the caller's /24 or /48; `named`, the operator's network holding it, is what the key is judged by when there is one. */
  private checkNetwork(
    t: Tuning,
    state: KeyBaseline,
    subject: FindingSubject,
    at: number,
    cidr: string,
    named: NamedNetwork | undefined,
    findings: AnomalyFinding[],
  ): void {
    const { learnMs, minCalls } = t.settings.network;
    // A named network is kept as its range, not its name: renaming a table's entry changes nothing.
    const network = named?.cidr ?? cidr;
    const index = state.networks.indexOf(network);
    if (index >= 0) {
      if (at > state.networkSeen[index]!) state.networkSeen[index] = at;
      return;
    }
    // Its /24 or /48 is known (learned before the table named its range): no finding, and the
    // range is learned with it, so adding a table alarms no key. (A table removed, or a range
    // split, leaves /24s learned only under a range: those are found as new.)
    const known = named === undefined ? -1 : state.networks.indexOf(cidr);
    if (known >= 0) {
      state.networkSeen[known] = Math.max(state.networkSeen[known]!, at);
      this.learnNetwork(t, state, network, at, true);
      return;
    }
    const stable = !state.roaming && at - state.firstSeen >= learnMs && state.calls >= minCalls;
    if (stable)
      this.report(
        t,
        state,
        'new-network',
        'medium',
        subject,
        at,
        state.firstSeen,
        cidr,
        `first call from ${named ? `${named.name} (${cidr})` : cidr}; known: ${state.networks.slice(0, 4).join(', ')}${state.networks.length > 4 ? ', …' : ''}`,
        named
          ? { network: cidr, namedNetwork: named.name, namedRange: named.cidr, known: state.networks.length }
          : { network: cidr, known: state.networks.length },
        findings,
      );
    this.learnNetwork(t, state, network, at, stable);
  }

  private learnNetwork(t: Tuning, state: KeyBaseline, network: string, at: number, stable: boolean): void {
    if (state.networks.length < t.settings.network.maxNetworks) {
      state.networks.push(network);
      state.networkSeen.push(at);
      return;
    }
    // Full: a key still learning roams; a stable one replaces its least recently used network.
    if (!stable) state.roaming = true;
    let oldest = 0;
    for (let i = 1; i < state.networkSeen.length; i++) if (state.networkSeen[i]! < state.networkSeen[oldest]!) oldest = i;
    state.networks[oldest] = network;
    state.networkSeen[oldest] = at;
  }

  private observeSource(observation: UsageObservation, findings: AnomalyFinding[]): void {
    const network = this.networks.of(observation.ip);
    if (network === undefined) return;
    const { windowMs, distinct, slowDistinct, maxSources } = this.settings.enumeration;
    const { at } = observation;
    const bucket = at - (at % windowMs);
    let watch = this.sources.get(network);
    if (watch === undefined) {
      if (this.sources.size >= maxSources) this.sweepSources(bucket);
      if (this.sources.size >= maxSources) {
        this.stats.sourcesDropped += 1;
        return;
      }
      this.touchSource(network);
      watch = { bucket, fingerprints: new Set(), unnamed: 0, previous: 0, tenant: observation.tenant, quietUntil: 0, quietSeverity: 'low', recent: [] };
      this.sources.set(network, watch);
    } else this.touchSource(network);
    if (bucket > watch.bucket) {
      watch.previous = bucket - watch.bucket === windowMs ? watch.fingerprints.size + watch.unnamed : 0;
      watch.fingerprints.clear();
      watch.unnamed = 0;
      watch.bucket = bucket;
    }
    if (observation.fingerprint !== undefined) {
      // Bounded: past the line, more names change nothing.
      if (watch.fingerprints.size <= distinct) watch.fingerprints.add(observation.fingerprint);
      rememberRecent(watch.recent, observation.fingerprint, at, slowDistinct);
    } else watch.unnamed += observation.calls;
    if (observation.tenant !== undefined) watch.tenant = observation.tenant;
    const strings = watch.fingerprints.size + watch.unnamed + watch.previous * (1 - Math.max(0, at - watch.bucket) / windowMs);
    const slow = watch.recent.length >= slowDistinct && at - watch.recent[0]!.at < windowMs;
    const severity = strings >= distinct ? 'high' : slow ? 'medium' : undefined;
    if (severity === undefined) return;
    if (at < watch.quietUntil && !moreSevere(severity, watch.quietSeverity)) {
      this.stats.cooledDown += 1;
      return;
    }
    if (!this.fresh(at)) return;
    watch.quietUntil = at + this.settings.cooldownMs;
    watch.quietSeverity = severity;
    this.stats.findings += 1;
    const detail = `${Math.round(strings)} unknown or malformed keys from ${network} in ${windowMs / 1000} s`;
    // The tenant the calls named, when it was given its findings of the minute: this one goes to no tenant.
    const pastBudget = watch.tenant !== undefined && !this.tenantMayBeGiven(watch.tenant, at) ? watch.tenant : undefined;
    findings.push({
      detector: 'enumeration',
      severity,
      subject: { kind: 'source', network, tenant: pastBudget === undefined ? watch.tenant : undefined },
      at,
      windowStart: at - windowMs,
      network,
      detail:
        pastBudget === undefined
          ? detail
          : `${detail}; the calls named tenant ${pastBudget}, given its ${this.settings.enumeration.tenantFindingsPerMinute} findings this minute`,
      evidence: { strings: Math.round(strings), windowMs, network, ...(pastBudget === undefined ? {} : { namedTenant: pastBudget }) },
    });
  }

  /**
   * Whether one more source finding may go to `tenant` in the minute of `at` (record time; an
   * older record counts in the newest minute seen). Whoever can name a tenant in a call (a trusted
   * proxy, a NATS verify client) can make findings for it, one per network per cool-down: this
   * bounds what reaches the tenant's list and notifications, and its denials.
   */
  private tenantMayBeGiven(tenant: string, at: number): boolean {
    const minute = at - (at % MINUTE_MS);
    if (minute > this.tenantFindings.minute) this.tenantFindings = { minute, counts: new Map() };
    const given = this.tenantFindings.counts.get(tenant) ?? 0;
    if (given >= this.settings.enumeration.tenantFindingsPerMinute) {
      this.stats.tenantBudgetSpent += 1;
      return false;
    }
    this.tenantFindings.counts.set(tenant, given + 1);
    return true;
  }

  /** Forgets the sources whose window has passed. */
  private sweepSources(bucket: number): void {
    const horizon = bucket - this.settings.enumeration.windowMs;
    for (const [network, watch] of this.sources)
      if (watch.bucket < horizon && watch.quietUntil <= bucket) {
        this.touchSource(network);
        this.sources.delete(network);
      }
  }

  private fresh(at: number): boolean {
    if (this.clock() - at <= this.settings.alertWithinMs) return true;
    this.stats.stale += 1;
    return false;
  }

  /**
   * A honeytoken's call, reported even when seen late (after an outage of the detector): it is
   * never stale news that someone holds one. The cool-down still applies, so a flood of calls is
   * one finding per cool-down; every call stays in the usage records.
   */
  private reportHoneytoken(
    t: Tuning,
    state: KeyBaseline,
    subject: FindingSubject,
    observation: UsageObservation,
    network: string | undefined,
    findings: AnomalyFinding[],
  ): void {
    const { at, ip, transport } = observation;
    if (coolingDown(state, 'honeytoken', at, t.settings.cooldownMs)) {
      this.stats.cooledDown += 1;
      return;
    }
    beginCooldown(state, 'honeytoken', at, t.settings.cooldownMs);
    this.stats.findings += 1;
    const scopes = observation.scopes ?? [];
    findings.push({
      detector: 'honeytoken',
      severity: 'critical',
      subject,
      at,
      windowStart: at,
      network,
      detail: `a honeytoken was presented${network ? ` from ${network}` : ''}${transport ? ` over ${transport}` : ''}`,
      evidence: { at: new Date(at).toISOString(), ip: ip ?? '', transport: transport ?? '', scopes: scopes.join(' ') },
      call: { at, ip, transport, scopes },
    });
  }

  private report(
    t: Tuning,
    state: KeyBaseline,
    detector: KeyDetector,
    severity: AnomalySeverity,
    subject: FindingSubject,
    at: number,
    windowStart: number,
    network: string | undefined,
    detail: string,
    evidence: Record<string, number | string>,
    findings: AnomalyFinding[],
  ): void {
    if (coolingDown(state, detector, at, t.settings.cooldownMs) && !moreSevere(severity, state.quietSeverity[detector] ?? 'critical')) {
      this.stats.cooledDown += 1;
      return;
    }
    if (!this.fresh(at)) return;
    beginCooldown(state, detector, at, t.settings.cooldownMs);
    state.quietSeverity[detector] = severity;
    this.stats.findings += 1;
    findings.push({ detector, severity, subject, at, windowStart, network, detail, evidence });
  }
}

/**
 * Whether a detector is quiet on a key at `at`: within `cooldownMs` (the tenant's now) of the
 * finding that began its cool-down, and before the end set then. So a lowered cool-down ends
 * those running, and a raised one does not silence findings the end set then would let through;
 * one kept before the start was stored ends where it was set to.
 */
function coolingDown(state: KeyBaseline, detector: KeyDetector, at: number, cooldownMs: number): boolean {
  const since = state.quietSince[detector];
  const until = state.quietUntil[detector] ?? 0;
  return at < (since === undefined ? until : Math.min(until, since + cooldownMs));
}

function beginCooldown(state: KeyBaseline, detector: KeyDetector, at: number, cooldownMs: number): void {
  state.quietSince[detector] = at;
  // Its end as set, for a detector of an earlier release reading the baseline back.
  state.quietUntil[detector] = at + cooldownMs;
}

/** Whether a finding of `severity` is worse than one of `than`: it breaks the cool-down the lesser one began. */
function moreSevere(severity: AnomalySeverity, than: AnomalySeverity): boolean {
  return ANOMALY_SEVERITIES.indexOf(severity) > ANOMALY_SEVERITIES.indexOf(than);
}

/** Keeps the latest `count` distinct strings with when each was last seen, oldest first. */
function rememberRecent(recent: { fingerprint: string; at: number }[], fingerprint: string, at: number, count: number): void {
  const seen = recent.findIndex((entry) => entry.fingerprint === fingerprint);
  if (seen >= 0) recent.splice(seen, 1);
  recent.push({ fingerprint, at });
  if (recent.length > count) recent.splice(0, recent.length - count);
}
