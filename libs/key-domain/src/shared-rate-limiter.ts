import type { RateLimit } from '@keyledger/contracts';
import { shareOfRemaining, windowStart } from './rate-limits.js';

/**
 * One replica's state of its rate-limit windows, as it tells the others at every sync tick,
 * even with nothing to count: a report also says "I am here, and this is all I admitted or
 * may still admit as of tick `at`".
 */
export interface ConsumptionReport {
  readonly instance: string;
  /** The tick (aligned wall-clock ms) the figures are as of. */
  readonly at: number;
  /** The tick of the sender's previous report: a receiver that missed it knows it has a gap. */
  readonly previous: number | null;
  /** Every open window is listed (not only those that changed): it closes any gap. */
  readonly full: boolean;
  /** [key id, window length ms, window start ms, admitted in it, allowance still held for it]. */
  readonly counts: readonly (readonly [string, number, number, number, number])[];
}

/**
 * A key's quota for one use: its period (`end` is the next refill, or
 * Number.POSITIVE_INFINITY), the balance the events give (`limit`) and what this use costs.
 */
export interface CreditCharge {
  readonly start: number;
  readonly end: number;
  readonly limit: number;
  readonly cost: number;
}

/**
 * What a key's limits say to one more use. `remaining` (keys with a quota): the credits
 * neither this replica nor, as last reported, any other has admitted, counting this use when
 * it is allowed. A refusal says which limit refused it: `credits` when what remains cannot
 * cover the cost, `rate-limit` when a rate-limit window is spent or this replica's share of
 * either is (then `reset` is the next recompute). The limiter writes every assessment into
 * the same object, so that a verification allocates nothing: read it before the next one.
 */
export interface Admission {
  readonly allowed: boolean;
  /** The limit that refused the use; undefined when it is allowed. */
  readonly exhausted: 'rate-limit' | 'credits' | undefined;
  /** When a refused use may be tried again (ms; infinite for a quota that never refills); NaN when allowed. */
  readonly reset: number;
  readonly remaining: number | undefined;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

interface WindowState {
  /** The key id, or for a quota `<key id>/credits`: the name reports use. */
  readonly keyId: string;
  readonly windowMs: number;
  readonly start: number;
  limit: number;
  /** Admitted here in this window. */
  local: number;
  /** What this replica may still admit in this window before its next share. */
  allowance: number;
  /** `local` and `allowance` at the last report. */
  reportedLocal: number;
  reportedAllowance: number;
  /** The first tick this window was reported at: before it, its claim was unknown to the others. */
  firstReported: number | undefined;
  /** This replica's fair share of what was not yet admitted, at the last recompute. */
  target: number | undefined;
  /** For a quota window: the key id. */
  readonly creditsOf: string | undefined;
  /** When this replica was last asked to admit a use in the window, or heard another report it. */
  lastUsed: number;
  /**
   * The tick of the full report that left this idle quota window out. It is forgotten at the
   * recompute of that tick: until every member has read that report, the others may still
   * count the claim it last reported rather than the most it could take by opening it again.
   */
  leavingAt: number | undefined;
}

/** What another replica last reported of a window. */
interface RemoteState {
  readonly admitted: number;
  readonly allowance: number;
}

/**
 * The limit of a window: for a rate limit (`credits` false) the key's limit of that window
 * length, for a quota the balance of the period starting at `start`; undefined when unknown.
 */
export type LimitResolver = (keyId: string, windowMs: number, start: number, credits: boolean) => number | undefined;

/** Window length reported for a quota that never refills (JSON has no infinity). */
const ENDLESS = Number.MAX_SAFE_INTEGER;
/**
 * A quota window (a day, a month, forever) that nobody has used for this long (no use here, no
 * count of another's moving), with nothing counted here, is forgotten: reports stay small. The
 * next full report leaves it out; from then on the others count this replica at its share of
 * the whole limit, and a later use opens it again from what is unclaimed.
 */
const QUOTA_IDLE_MS = 10_000;

/** The name under which a key's quota is shared: a key id never holds a slash. */
export function creditWindowKey(keyId: string): string {
  return `${keyId}/credits`;
}

/**
 * Rate limits shared by every verifier replica without a round trip per request. A replica
 * admits a use of a limited key only from an allowance it holds; at each sync tick every
 * replica reports what it has admitted and what allowance it still holds, and once every
 * member's report of a tick is in, each adds to its allowance its share of what neither
 * anyone's admissions nor anyone's allowances cover. Shares of one remainder add up to it
 * and an allowance is spent at most once, so all replicas together never admit more than
 * the limit; a late or lost report only delays new shares. A replica holding more than
 * its fair share of what is not yet admitted hands the excess back at its next report, so a
 * replica that gets all of a key's traffic still reaches the limit within a few periods.
 *
 * A replica opens a window, on its first use or on first hearing of it, with its share of
 * what it sees unclaimed: at most its share of the whole limit. That claim is in no report
 * yet, so until a member has reported a window, the others count it as holding that much.
 */
export class SharedRateLimiter {
  private readonly windows = new Map<string, WindowState>();
  private readonly remote = new Map<string, Map<string, RemoteState>>();
  /** The last tick of each other replica whose reports, and every one before, were received. */
  private readonly reportedTicks = new Map<string, number>();
  private lastReport: number | null = null;
  private reportsSinceFull = 0;
  private members: readonly string[];
  private rank = 0;
  /** Until it has been given its members, a replica cannot know its share: it admits no limited key. */
  private membersKnown = false;
  /** Every assessment is written here, and its windows kept for `take`: nothing is allocated per use. */
  private readonly admission: Writable<Admission> = { allowed: false, exhausted: undefined, reset: Number.NaN, remaining: undefined };
  private readonly assessed: WindowState[] = [];
  private assessedWindows = 0;
  private assessedQuota: WindowState | undefined;
  private assessedCost = 0;
  /** Whether the last assessment allowed its use and it has not been taken yet. */
  private takeable = false;
  private windowOpened: (() => void) | undefined;
  private limitOf: LimitResolver | undefined;

  constructor(private readonly instance: string) {
    this.members = [instance];
  }

  /** Calls `hook` whenever a use opens a window here: the sync, idle until then, has something to report. */
  onWindowOpened(hook: () => void): void {
    this.windowOpened = hook;
  }

  /**
   * How to find the limit of a window this replica hears of before its first use here (a
   * rate limit's for that window length, a quota's balance; undefined for a key unknown yet).
   */
  resolveLimitsWith(resolver: LimitResolver): void {
    this.limitOf = resolver;
  }

  /** Nothing to share: no window open here, none reported by another replica. */
  get idle(): boolean {
    return this.windows.size === 0 && this.remote.size === 0;
  }

  /**
   * What all the rate limits of `keyId` (one use each) and, for a key with a quota,
   * `credits.cost` credits of it say to one more verification, and when to try again if not.
   * Takes nothing (`take` does), but opens the windows the use needs.
   */
  assess(keyId: string, limits: readonly RateLimit[], now: number, nextRecompute: number, credits?: CreditCharge): Admission {
    let refused = false;
    let reset = Number.NaN;
    this.assessedWindows = 0;
    this.assessedQuota = undefined;
    this.takeable = false;
    for (const limit of limits) {
      const window = this.window(keyId, limit.windowMs, windowStart(now, limit.windowMs), limit.limit);
      // Written to refuse on anything but a number that covers the use (NaN included).
      if (!(window.allowance >= 1)) {
        // The whole window is spent: try again when it ends; only this replica's share: at the next recompute.
        const until = this.unclaimed(window) <= 0 && this.warm ? window.start + window.windowMs : nextRecompute;
        if (!refused || until > reset) reset = until;
        refused = true;
      }
      this.assessed[this.assessedWindows] = window;
      this.assessedWindows += 1;
    }
    if (!credits) return refused ? this.answer(false, 'rate-limit', reset, undefined) : this.allow(undefined, 0);
    const windowMs = Number.isFinite(credits.end) ? credits.end - credits.start : ENDLESS;
    const quota = this.window(creditWindowKey(keyId), windowMs, credits.start, credits.limit);
    quota.lastUsed = now;
    quota.leavingAt = undefined;
    const remaining = this.remaining(quota);
    if (!(quota.allowance >= credits.cost)) {
      // What is left cannot cover the cost: spent until the refill. Otherwise other replicas
      // hold the rest, and this one gets a share at the next recompute.
      if (remaining < credits.cost) return this.answer(false, 'credits', credits.end, remaining);
      if (!refused || nextRecompute > reset) reset = nextRecompute;
      refused = true;
    }
    if (refused) return this.answer(false, 'rate-limit', reset, remaining);
    this.assessedQuota = quota;
    return this.allow(Math.max(0, remaining - credits.cost), credits.cost);
  }

  /**
   * Takes the use last assessed, if it was allowed (once): one use of each rate-limit window
   * and its cost of the quota. Returns whether it took it.
   */
  take(): boolean {
    if (!this.takeable) return false;
    this.takeable = false;
    for (let n = 0; n < this.assessedWindows; n += 1) {
      const window = this.assessed[n]!;
      window.local += 1;
      window.allowance -= 1;
    }
    const quota = this.assessedQuota;
    if (quota) {
      quota.local += this.assessedCost;
      quota.allowance -= this.assessedCost;
    }
    return true;
  }

  private allow(remaining: number | undefined, cost: number): Admission {
    this.takeable = true;
    this.assessedCost = cost;
    return this.answer(true, undefined, Number.NaN, remaining);
  }

  private answer(allowed: boolean, exhausted: Admission['exhausted'], reset: number, remaining: number | undefined): Admission {
    const admission = this.admission;
    admission.allowed = allowed;
    admission.exhausted = exhausted;
    admission.reset = reset;
    admission.remaining = remaining;
    return admission;
  }

  /**
   * Stops counting credits this replica admitted and flushed, once the events that record
   * them are in every replica's balance (the limit each passes): counted by both for a while,
   * never by neither.
   */
  release(keyId: string, start: number, end: number, amount: number): void {
    const windowMs = Number.isFinite(end) ? end - start : ENDLESS;
    const window = this.windows.get(idOf(creditWindowKey(keyId), windowMs, start));
    if (window) window.local = Math.max(0, window.local - amount);
  }

  /** What remains of a key's quota as far as this replica knows, without charging anything. */
  quotaRemaining(keyId: string, credits: Omit<CreditCharge, 'cost'>): number {
    const windowMs = Number.isFinite(credits.end) ? credits.end - credits.start : ENDLESS;
    const id = idOf(creditWindowKey(keyId), windowMs, credits.start);
    return Math.max(0, credits.limit - this.admittedInWindow(id, this.windows.get(id)?.local ?? 0));
  }

  /**
   * Sets each open quota window's limit to the balance the events now give (`limitOf`), so a
   * recompute never shares out credits an applied flush or update has taken away.
   */
  refreshQuotaLimits(limitOf: (keyId: string, start: number) => number): void {
    for (const window of this.windows.values())
      if (window.creditsOf !== undefined) {
        window.limit = limitOf(window.creditsOf, window.start);
        this.capLeaving(window);
      }
  }

  /**
   * The replicas sharing the limits, this one included; their order decides who gets
   * remainders. Make the first call once the others have had a sync period to be heard.
   */
  setMembers(instances: readonly string[]): void {
    this.members = [...new Set([...instances, this.instance])].sort();
    this.rank = this.members.indexOf(this.instance);
    this.membersKnown = true;
  }

  /** The replicas the shares are divided among, this one included. */
  get memberCount(): number {
    return this.members.length;
  }

  /** Whether this replica knows every member's claims, and may hand itself shares. */
  get warm(): boolean {
    return this.membersKnown && this.members.every((member) => member === this.instance || this.reportedTicks.has(member));
  }

  /**
   * This replica's report at tick `at`: the windows that changed since the last one, or all
   * of them every `fullEvery` reports and while there are none; forgets ended windows.
   */
  report(at: number, fullEvery = 40): ConsumptionReport {
    // With no window, a full report is as short as any: sent full, one that follows a lost
    // report is trusted at once, not 40 reports later (minutes, at an idle replica's pace).
    const full = this.reportsSinceFull === 0 || this.windows.size === 0;
    this.reportsSinceFull = (this.reportsSinceFull + 1) % fullEvery;
    const counts: [string, number, number, number, number][] = [];
    for (const [id, window] of this.windows) {
      if (window.start + window.windowMs < at) {
        this.windows.delete(id);
        continue;
      }
      // Only a full report can say a window is gone (by leaving it out).
      const idleQuota = window.creditsOf !== undefined && window.local === 0 && window.reportedLocal === 0 && at - window.lastUsed > QUOTA_IDLE_MS;
      if (full && idleQuota && window.leavingAt === undefined) {
        window.leavingAt = at;
        if (window.target !== undefined) window.allowance = Math.min(window.allowance, window.target);
        this.capLeaving(window);
      }
      if (window.leavingAt !== undefined) {
        // Reported again, should it be used before it is forgotten.
        window.firstReported = undefined;
        continue;
      }
      // What is held beyond this replica's fair share goes back, for the replicas that lack it.
      if (window.target !== undefined) window.allowance = Math.min(window.allowance, window.target);
      if (full || window.firstReported === undefined || window.local !== window.reportedLocal || window.allowance !== window.reportedAllowance) {
        counts.push([window.keyId, window.windowMs, window.start, window.local, window.allowance]);
      }
      window.reportedLocal = window.local;
      window.reportedAllowance = window.allowance;
      window.firstReported ??= at;
    }
    for (const id of this.remote.keys()) if (windowEnd(id) < at) this.remote.delete(id);
    const previous = this.lastReport;
    this.lastReport = at;
    return { instance: this.instance, at, previous, full, counts };
  }

  /** What every replica, this one included, is known to have admitted in the window of `limit` holding `now`. */
  admittedIn(keyId: string, limit: RateLimit, now: number): number {
    const start = windowStart(now, limit.windowMs);
    return this.admittedInWindow(idOf(keyId, limit.windowMs, start), this.windows.get(idOf(keyId, limit.windowMs, start))?.local ?? 0);
  }

  /** Forgets a replica that left: it no longer holds back recomputes, and its quota claims go. */
  forget(instance: string): void {
    this.reportedTicks.delete(instance);
    for (const [id, byInstance] of this.remote) {
      // Its rate-limit admissions stay counted until their windows end (report() drops them
      // then); a quota window's are in the store already (CreditsConsumed), so they go now.
      if (!idIsCredits(id)) continue;
      byInstance.delete(instance);
      if (byInstance.size === 0) this.remote.delete(id);
    }
  }

  /** Forgets a replica's last report, as after a lost message: it counts as silent until its next full report. */
  markGap(instance: string): void {
    this.reportedTicks.delete(instance);
  }

  /** Makes the next report list every window (after a report that could not be sent). */
  reportFullNext(): void {
    this.reportsSinceFull = 0;
  }

  /**
   * Takes in another replica's report. A report lists only what changed, so one received
   * after a gap (a lost message) cannot be trusted: that replica counts as silent, which holds
   * back new allowances, until its next full report.
   */
  receive(report: ConsumptionReport): void {
    const sender = report.instance;
    if (sender === this.instance) return;
    const last = this.reportedTicks.get(sender);
    if (!report.full && (last === undefined || report.previous !== last)) {
      this.reportedTicks.delete(sender);
      return;
    }
    this.reportedTicks.set(sender, report.at);
    // A full report lists every window its sender still has: those it leaves out are gone.
    const listed = report.full ? new Set<string>() : undefined;
    for (const [keyId, windowMs, start, admitted, allowance] of report.counts) {
      const id = idOf(keyId, windowMs, start);
      listed?.add(id);
      let byInstance = this.remote.get(id);
      if (!byInstance) this.remote.set(id, (byInstance = new Map<string, RemoteState>()));
      const previous = byInstance.get(sender);
      byInstance.set(sender, { admitted, allowance });
      // New to this replica, or its count moved: in use. A count listed again unchanged is not.
      if (previous?.admitted !== admitted && start + windowMs >= report.at) this.hear(id, keyId, windowMs, start, report.at);
    }
    if (listed)
      for (const [id, byInstance] of this.remote) {
        if (listed.has(id)) continue;
        byInstance.delete(sender);
        if (byInstance.size === 0) this.remote.delete(id);
      }
  }

  /**
   * Opens a window another replica reported in use, as a first use would: this replica then
   * reports it, so the others stop counting it at the most it could take and may share out the
   * rest. A quota window another is still using is not forgotten here.
   */
  private hear(id: string, keyId: string, windowMs: number, start: number, at: number): void {
    const known = this.windows.get(id);
    if (known) {
      if (known.creditsOf !== undefined) known.lastUsed = Math.max(known.lastUsed, at);
      known.leavingAt = undefined;
      return;
    }
    const creditsOf = keyId.endsWith('/credits') ? keyId.slice(0, -'/credits'.length) : undefined;
    const limit = this.limitOf?.(creditsOf ?? keyId, windowMs, start, creditsOf !== undefined);
    // Only a window of a key this replica holds, with a limit of that length: a report naming
    // anything else (a key not applied here yet, or made up) opens nothing. Its first use does.
    if (limit === undefined) return;
    this.window(keyId, windowMs, start, limit).lastUsed = at;
  }

  /**
   * Adds to this replica's allowances its shares of what remained unclaimed at tick `tick`,
   * once every member has reported that tick; returns false (and changes nothing) while a
   * report is missing.
   */
  recompute(tick: number): boolean {
    if (this.members.some((member) => member !== this.instance && (this.reportedTicks.get(member) ?? 0) < tick)) return false;
    for (const [id, window] of this.windows) {
      if (window.leavingAt !== undefined && window.leavingAt <= tick) {
        this.windows.delete(id);
        continue;
      }
      // A window opened here after the tick keeps the share it opened with: that share and
      // the others' were taken from the same remainder, which this tick's reports do not show.
      if (window.firstReported === undefined || window.firstReported > tick) continue;
      // Heard of before its limit was known here: nothing to share out yet.
      if (!Number.isFinite(window.limit)) continue;
      if (this.warm) this.grant(window);
    }
    return true;
  }

  private window(keyId: string, windowMs: number, start: number, limit: number): WindowState {
    const id = idOf(keyId, windowMs, start);
    let window = this.windows.get(id);
    if (!window) {
      window = {
        keyId,
        windowMs,
        start,
        limit,
        local: 0,
        allowance: 0,
        reportedLocal: 0,
        reportedAllowance: 0,
        firstReported: undefined,
        target: undefined,
        creditsOf: keyId.endsWith('/credits') ? keyId.slice(0, -'/credits'.length) : undefined,
        lastUsed: Number.NEGATIVE_INFINITY,
        leavingAt: undefined,
      };
      this.windows.set(id, window);
      this.windowOpened?.();
      if (this.warm && Number.isFinite(limit)) window.allowance = shareOfRemaining(this.unclaimed(window), this.members.length, this.rank);
    }
    // A lowered limit (a key cut off by an update) also cuts what this replica holds at once,
    // rather than at its next report; a raised one is shared out at the next recompute.
    if (limit < window.limit) window.allowance = Math.min(window.allowance, Math.max(0, limit - this.admittedInWindow(id, window.local)));
    window.limit = limit;
    this.capLeaving(window);
    return window;
  }

  /**
   * A window being forgotten holds at most what the others, who have read the report that left
   * it out, count it as holding: its share of the whole limit, however the limit falls meanwhile.
   */
  private capLeaving(window: WindowState): void {
    if (window.leavingAt !== undefined && Number.isFinite(window.limit))
      window.allowance = Math.min(window.allowance, shareOfRemaining(window.limit, this.members.length, this.rank));
  }

  /** What nobody has admitted, as far as this replica knows now (claims held as allowances not subtracted). */
  private remaining(window: WindowState): number {
    return Math.max(0, window.limit - this.admittedInWindow(idOf(window.keyId, window.windowMs, window.start), window.local));
  }

  /** What this replica (`local`) and the members, as last reported, admitted in a window. */
  private admittedInWindow(id: string, local: number): number {
    let admitted = local;
    const remote = this.remote.get(id);
    // Members only: a replica that left has flushed what it admitted, or lost it (docs/architecture.md).
    if (remote) for (const member of this.members) admitted += remote.get(member)?.admitted ?? 0;
    return admitted;
  }

  /**
   * Every replica reads the same figures of the tick (its own as reported) and so computes
   * the same grants: each member's fair share of what is not yet admitted is its target, and
   * what nobody holds goes to the members below their target, in proportion to the gap when
   * it cannot fill them all. The grants add up to at most what nobody holds; what was
   * admitted since the tick came out of allowances counted as held.
   */
  private grant(window: WindowState): void {
    const remote = this.remote.get(idOf(window.keyId, window.windowMs, window.start));
    // A member that has not reported the window may have opened it since its report, with
    // at most its share of the whole limit: counted as holding that until it reports.
    const held = this.members.map((member, rank) =>
      member === this.instance
        ? { admitted: window.reportedLocal, allowance: window.reportedAllowance }
        : (remote?.get(member) ?? { admitted: 0, allowance: shareOfRemaining(window.limit, this.members.length, rank) }),
    );
    // Admissions of replicas that have left still count until their window ends; their
    // allowances do not (they can no longer spend them).
    let departedAdmitted = 0;
    for (const [instance, state] of remote ?? []) if (!this.members.includes(instance)) departedAdmitted += state.admitted;
    const notAdmitted = window.limit - departedAdmitted - held.reduce((sum, state) => sum + state.admitted, 0);
    const unclaimed = notAdmitted - held.reduce((sum, state) => sum + state.allowance, 0);
    const gaps = held.map((state, rank) => Math.max(0, shareOfRemaining(notAdmitted, this.members.length, rank) - state.allowance));
    const totalGap = gaps.reduce((sum, gap) => sum + gap, 0);
    const gap = gaps[this.rank]!;
    window.target = shareOfRemaining(notAdmitted, this.members.length, this.rank);
    if (unclaimed <= 0 || gap === 0) return;
    window.allowance += totalGap <= unclaimed ? gap : Math.floor((unclaimed * gap) / totalGap);
  }

  /** What no replica has admitted or holds an allowance for, as far as this one knows now. */
  private unclaimed(window: WindowState): number {
    return window.limit - window.local - window.allowance - this.remoteClaims(window);
  }

  private remoteClaims(window: WindowState): number {
    let total = 0;
    for (const state of this.remote.get(idOf(window.keyId, window.windowMs, window.start))?.values() ?? []) total += state.admitted + state.allowance;
    return total;
  }
}

function idIsCredits(id: string): boolean {
  return id.split(' ')[0]!.endsWith('/credits');
}

function idOf(keyId: string, windowMs: number, start: number): string {
  return `${keyId} ${windowMs} ${start}`;
}

function windowEnd(id: string): number {
  const [, windowMs, start] = id.split(' ');
  return Number(start) + Number(windowMs);
}
