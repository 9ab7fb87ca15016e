import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ConsumptionReportMessage } from '@keyledger/contracts';
import { MAX_CONSUMPTION_ENTRIES_PER_MESSAGE, consumptionReportMessageSchema, verifierConsumptionSubject } from '@keyledger/contracts';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedGauge } from '@keyledger/observability';
import type { ConsumptionReport } from '@keyledger/key-domain';
import { SharedRateLimiter } from '@keyledger/key-domain';
import { SPLIT_MESSAGE_BYTES } from '@keyledger/event-bus';

export interface RateLimitSyncSettings {
  readonly instanceId: string;
  readonly subjectPrefix: string;
  /** Sync period: counts are reported at every multiple of it (wall clock, so replicas tick together). */
  readonly periodMs: number;
  /** How long after a tick the shares are recomputed: the time every report has to arrive. */
  readonly recomputeDelayMs: number;
  /**
   * A replica not heard of for this long no longer takes a share: counted from its last report
   * if that said it was busy, or, if it said it was idle, from the first busy report sent
   * since (which woke it).
   */
  readonly memberTimeoutMs: number;
  /**
   * Sync period while no replica has anything to share (a multiple of `periodMs`). Default
   * DEFAULT_IDLE_PERIOD_MS.
   */
  readonly idlePeriodMs?: number;
  /**
   * A replica whose last report said it was idle, and that no busy report has woken since,
   * stays a member this long (longer than `idlePeriodMs`: its reports are the membership).
   * Default three idle periods.
   */
  readonly idleMemberTimeoutMs?: number;
}

/**
 * An idle replica reports every 5 s instead of 40 times a second: each wake-up of an idle
 * process costs CPU of its own. Its shares matter only once there is something to share, and
 * then every live replica is awake: the first use wakes the others (below), and a replica
 * that does not answer within `memberTimeoutMs` of that is gone, as under load.
 */
export const DEFAULT_IDLE_PERIOD_MS = 5000;
/** Ticks before a starting replica takes a share: by the third, every live replica has heard its first (busy) report and answered at the fast pace. */
const TICKS_BEFORE_SHARING = 3;

export const DEFAULT_RATE_LIMIT_SYNC: Omit<RateLimitSyncSettings, 'instanceId' | 'subjectPrefix'> = {
  periodMs: 25,
  recomputeDelayMs: 5,
  memberTimeoutMs: 1000,
  idlePeriodMs: DEFAULT_IDLE_PERIOD_MS,
};

/**
 * Runs a SharedRateLimiter among the live verifiers over core NATS: reports this replica's
 * counts at each tick and takes in the others'. The reports are also the membership: a
 * replica heard within `memberTimeoutMs` shares the limits.
 *
 * Ticks come every `periodMs` only while there is something to share: a window open here or
 * reported by another replica, a busy report (a replica with windows, or starting) heard
 * within the idle period, or the first ticks after start. Otherwise every `idlePeriodMs` (a
 * multiple of the period, so idle and fast replicas still report the same ticks). The first
 * use of a key wakes the sync at once; its report, marked busy, wakes the others, so every
 * member reports the fast ticks a recompute waits for.
 */
export class RateLimitSync {
  readonly limiter: SharedRateLimiter;
  private readonly lastHeard = new Map<string, number>();
  /** Reports arriving in parts, by sender. */
  private readonly pending = new Map<string, { at: number; next: number; counts: ConsumptionReport['counts'][number][] }>();
  private ticks = 0;
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private recomputeAt = 0;
  private readonly beforeRecompute: (() => void)[] = [];
  private readonly idlePeriodMs: number;
  /** Ticking every `periodMs` rather than every `idlePeriodMs`. */
  private fast = true;
  /** The timer set is the next tick's (not a recompute's): a wake may bring it forward. */
  private awaitingTick = false;
  private lastFastHeard = Number.NEGATIVE_INFINITY;
  /** The replicas whose last report said they were idle. */
  private readonly idleMembers = new Set<string>();
  /**
   * For an idle member, when it must be heard by: a busy report (this replica's, or another's)
   * woke it, and it answers at the fast period.
   */
  private readonly answerBy = new Map<string, number>();
  /** Whether the last report sent said busy: a replica slows down only after saying it is not. */
  private lastReportBusy = true;
  private readonly idleMemberTimeoutMs: number;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: RateLimitSyncSettings,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.limiter = new SharedRateLimiter(settings.instanceId);
    this.idlePeriodMs = settings.idlePeriodMs ?? DEFAULT_IDLE_PERIOD_MS;
    this.idleMemberTimeoutMs = settings.idleMemberTimeoutMs ?? 3 * this.idlePeriodMs;
    if (this.idlePeriodMs % settings.periodMs !== 0 || this.idlePeriodMs >= this.idleMemberTimeoutMs)
      throw new RangeError(
        `idlePeriodMs (${this.idlePeriodMs}) must be a multiple of periodMs (${settings.periodMs}) below idleMemberTimeoutMs (${this.idleMemberTimeoutMs})`,
      );
  }

  start(): void {
    const { subjectPrefix } = this.settings;
    this.subscriptions = [
      this.nc.subscribe(verifierConsumptionSubject(subjectPrefix), {
        callback: (error, message) => {
          if (error) return;
          let parsed;
          try {
            const body: unknown = message.json();
            // Every replica hears its own reports too, 40 a second when busy: those are not checked.
            if (isOwnReport(body, this.settings.instanceId)) return;
            parsed = consumptionReportMessageSchema.safeParse(body);
          } catch {
            parsed = undefined;
          }
          if (!parsed?.success) {
            this.logger.warn({ subject: message.subject }, 'ignoring a malformed rate-limit report');
            return;
          }
          this.receivePart(parsed.data);
        },
      }),
    ];
    this.stopped = false;
    this.fast = true;
    this.lastReportBusy = true;
    this.limiter.onWindowOpened(() => this.wake());
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  /** The replicas heard within their membership timeout, this one included. */
  members(): string[] {
    return [this.settings.instanceId, ...this.lastHeard.keys()];
  }

  /** Runs `hook` just before each recompute (to bring limits up to date). */
  onRecompute(hook: () => void): void {
    this.beforeRecompute.push(hook);
  }

  /** When a replica that has spent its share gets a new one. */
  nextRecompute(): number {
    return this.recomputeAt;
  }

  /**
   * A replica that said it was busy ticks at the fast period: it is gone `memberTimeoutMs`
   * after its last report. One that said it was idle may report only once an idle period: it
   * stays a member `idleMemberTimeoutMs`, unless a busy report has woken it since and it has
   * not answered within `memberTimeoutMs` of the first such report.
   */
  private isGone(instance: string, heard: number, now: number): boolean {
    if (!this.idleMembers.has(instance)) return now - heard > this.settings.memberTimeoutMs;
    const deadline = this.answerBy.get(instance);
    return (deadline !== undefined && now > deadline) || now - heard > this.idleMemberTimeoutMs;
  }

  /** A busy report, sent by `sender` (this replica or another), wakes every idle member but the sender: each must answer within the membership timeout. */
  private busyReportSent(sender: string): void {
    const deadline = this.clock() + this.settings.memberTimeoutMs;
    for (const member of this.idleMembers) if (member !== sender && !this.answerBy.has(member)) this.answerBy.set(member, deadline);
  }

  /** Nothing to share here, and no busy replica heard for an idle period: the slow period will do. */
  private isIdle(): boolean {
    return this.ticks >= TICKS_BEFORE_SHARING && !this.lastReportBusy && this.limiter.idle && this.clock() - this.lastFastHeard > this.idlePeriodMs;
  }

  /** Brings the next tick forward to the fast period (a use here, a busy replica heard). */
  private wake(): void {
    if (this.fast || this.stopped) return;
    this.fast = true;
    // Between a tick and its recompute, the recompute schedules the next tick itself.
    if (!this.awaitingTick) return;
    clearTimeout(this.timer);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = this.clock();
    const period = this.fast ? this.settings.periodMs : this.idlePeriodMs;
    const tick = now - (now % period) + period;
    this.recomputeAt = tick + this.settings.recomputeDelayMs;
    this.awaitingTick = true;
    this.timer = setTimeout(() => this.tick(tick), tick - now);
  }

  /** Reassembles a report sent in parts (in order: NATS keeps one publisher's order) and hands it to the limiter. */
  private receivePart(message: ConsumptionReportMessage): void {
    const { instance, part, parts, counts, busy: _busy, ...report } = message;
    if (instance === this.settings.instanceId) return;
    this.lastHeard.set(instance, this.clock());
    this.answerBy.delete(instance);
    if (message.busy === false) this.idleMembers.add(instance);
    else this.idleMembers.delete(instance);
    if (message.busy !== false && part === 0) this.busyReportSent(instance);
    if (message.busy !== false) {
      this.lastFastHeard = this.clock();
      this.wake();
    }
    const pending = this.pending.get(instance);
    if (part === 0) this.pending.set(instance, { at: report.at, next: 1, counts: [...counts] });
    else if (pending?.at === report.at && pending.next === part) {
      pending.next += 1;
      pending.counts.push(...counts);
    } else {
      // A part went missing: nothing of this report can be trusted.
      this.pending.delete(instance);
      this.limiter.markGap(instance);
      return;
    }
    if (part < parts - 1) return;
    const whole = this.pending.get(instance)!;
    this.pending.delete(instance);
    this.limiter.receive({ instance, ...report, counts: whole.counts });
  }

  /** Publishes a report, in parts when it is large; a report that cannot be sent makes the next one full. */
  private publish(report: ConsumptionReport): void {
    const chunks = consumptionReportParts(report.counts, SPLIT_MESSAGE_BYTES);
    const busy = this.ticks < TICKS_BEFORE_SHARING || !this.limiter.idle;
    try {
      chunks.forEach((counts, part) => {
        this.nc.publish(verifierConsumptionSubject(this.settings.subjectPrefix), JSON.stringify({ ...report, busy, part, parts: chunks.length, counts }));
      });
      this.lastReportBusy = busy;
      if (busy) this.busyReportSent(this.settings.instanceId);
    } catch (cause) {
      // The others may last have heard "busy": this replica stays at the fast period until it has said otherwise.
      this.lastReportBusy = true;
      this.limiter.reportFullNext();
      this.logger.error({ err: cause }, 'could not send a rate-limit report; the next one lists every window');
    }
  }

  private tick(at: number): void {
    this.awaitingTick = false;
    try {
      if (!this.nc.isClosed()) this.publish(this.limiter.report(at));
    } catch (cause) {
      this.logger.error({ err: cause }, 'rate-limit report failed');
    }
    this.ticks += 1;
    this.timer = setTimeout(() => {
      const now = this.clock();
      for (const [instance, heard] of this.lastHeard) {
        if (!this.isGone(instance, heard, now)) continue;
        // Gone: what it had admitted stays counted in its windows' figures only while it is a member.
        this.logger.info(
          { member: instance, silentMs: now - heard, idle: this.idleMembers.has(instance) },
          'a rate-limit member was not heard in time; its shares and unflushed credits are no longer counted',
        );
        this.lastHeard.delete(instance);
        this.idleMembers.delete(instance);
        this.answerBy.delete(instance);
        this.pending.delete(instance);
        this.limiter.forget(instance);
      }
      // A few ticks in, every live replica has been heard: only then does this one take a share.
      if (this.ticks >= TICKS_BEFORE_SHARING) this.limiter.setMembers([...this.lastHeard.keys()]);
      for (const hook of this.beforeRecompute) {
        try {
          hook();
        } catch (cause) {
          this.logger.error({ err: cause }, 'a rate-limit recompute hook failed');
        }
      }
      try {
        this.limiter.recompute(at);
      } catch (cause) {
        this.logger.error({ err: cause }, 'rate-limit recompute failed');
      } finally {
        // Whatever failed, the next tick comes: enforcement must not stop silently.
        this.fast = !this.isIdle();
        this.schedule();
      }
    }, this.settings.recomputeDelayMs);
  }
}

/** What an operator (and a test) reads of the sync: how many verifiers share the limits, and whether this one takes new shares. */
export function registerRateLimitSyncMetrics(registry: Registry, sync: RateLimitSync): void {
  scrapedGauge(
    registry,
    'keyledger_rate_limit_members',
    'Verifiers the limits and credits are shared among at the last recompute, this one included',
    () => sync.limiter.memberCount,
  );
  scrapedGauge(
    registry,
    'keyledger_rate_limit_sharing',
    "1 once this verifier knows every member's claims and takes new shares of each limit; 0 while it takes none and only spends what it holds",
    () => (sync.limiter.warm ? 1 : 0),
  );
}

function isOwnReport(body: unknown, instanceId: string): boolean {
  return typeof body === 'object' && body !== null && (body as { instance?: unknown }).instance === instanceId;
}

/**
 * Splits a report's entries into messages of at most MAX_CONSUMPTION_ENTRIES_PER_MESSAGE entries
 * whose array of entries takes at most `maxBytes` of UTF-8 (SPLIT_MESSAGE_BYTES: what every server
 * Keyledger runs on takes, with room for the report around them); an entry larger alone gets a part of its own.
 */
export function consumptionReportParts<T>(counts: readonly T[], maxBytes: number): T[][] {
  const parts: T[][] = [[]];
  // The brackets, then each entry with its comma.
  let bytes = 2;
  for (const entry of counts) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    const current = parts[parts.length - 1]!;
    if (current.length > 0 && (current.length >= MAX_CONSUMPTION_ENTRIES_PER_MESSAGE || bytes + size > maxBytes)) {
      parts.push([entry]);
      bytes = 2 + size;
    } else {
      current.push(entry);
      bytes += size;
    }
  }
  return parts;
}
