import type { GlobalPosition } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { ConcurrencyConflictError, NO_STREAM, compareGlobalPositions } from '@keyledger/event-store';
import { newEventId } from '@keyledger/ids';
import type { Admission, CreditState, KeyRecord, LimitsState } from '@keyledger/key-domain';
import { balanceOfPeriod, creditPeriodEnd, creditPeriodStart } from '@keyledger/key-domain';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import type { KeyIndex } from './key-index.js';
import type { RateLimitSync } from './rate-limit-sync.js';
import type { VerifierFence } from './verifier-fence.js';
import type { ProcessTick } from '@keyledger/timers';
import { everyTick } from '@keyledger/timers';

export interface KeyLimitsSettings {
  /** This verifier, as it reports to the others and announces its position. */
  readonly instanceId: string;
  /** How often admitted credits are appended to the store. */
  readonly flushEveryMs: number;
}

export const DEFAULT_CREDITS_FLUSH_MS = 1000;
/**
 * Entries per CreditsConsumed event. An entry takes at most about 60 bytes of JSON (a key id,
 * a period's start in ms, up to a billion credits), so 4,000 stay under the store's
 * MAX_EVENT_BYTES (256 KiB); the schema's 10,000 would not, and an event the store refuses would
 * be retried for good with every credit after it unrecorded.
 */
export const CREDITS_ENTRIES_PER_EVENT = 4000;

export interface KeyLimitsDependencies {
  readonly sync: RateLimitSync;
  readonly index: KeyIndex;
  readonly store: Pick<PostgresEventStore, 'append'>;
  /** Announcements of the position each verifier has applied. */
  readonly fence: Pick<VerifierFence, 'liveVerifiers'>;
  /** The position this verifier's own projection has applied. */
  readonly applied: () => GlobalPosition;
  readonly logger: Logger;
}

interface Consumed {
  readonly keyId: string;
  readonly start: number;
  readonly end: number;
  amount: number;
}

interface Flush {
  readonly eventIds: readonly string[];
  readonly entries: readonly Consumed[];
}

/**
 * A verifier's rate limits and quotas. Rate limits and credits are both windows of the
 * SharedRateLimiter; a quota's window is its period, its limit the balance the events give.
 * Admitted credits are appended about every second as one CreditsConsumed event to this
 * verifier's own stream `credits-<instance>` (no other writer, so the expected version is
 * tracked here; a stream left by an earlier process of the same name is continued), and keep
 * being counted by the limiter until every live verifier has announced a position at or past
 * that event, that is until every balance includes them.
 */
export class KeyLimits implements LimitsState {
  private readonly pending = new Map<string, Consumed>();
  /** Appended, waiting for every verifier to apply them; credits by `<key id> <period start>`. */
  private readonly awaiting: { position: GlobalPosition; entries: readonly Consumed[]; byWindow: ReadonlyMap<string, number> }[] = [];
  /** An append that failed, retried with the same event ids so a lost answer does not count twice. */
  private unconfirmed: Flush | undefined;
  private version = NO_STREAM;
  private timer: ProcessTick | undefined;
  private flushing: Promise<void> | undefined;
  private readonly streamId: string;
  private recorded = 0;
  private flushFailures = 0;
  /** The quota of the last assessment, for `take`: kept in place, a verification allocates nothing for it. */
  private readonly assessed = { quota: false, keyId: '', start: 0, end: 0, id: '', cost: 0 };

  constructor(
    private readonly deps: KeyLimitsDependencies,
    private readonly settings: KeyLimitsSettings,
  ) {
    this.streamId = streamIdOf('credits', settings.instanceId);
  }

  /**
   * What a valid key's rate limits (one use each) and quota (`cost` credits) say to one more
   * verification; takes nothing until `take`.
   */
  assess(record: KeyRecord, now: number, cost: number): Admission {
    const { limiter } = this.deps.sync;
    const credits = record.credits;
    const assessed = this.assessed;
    assessed.quota = credits !== undefined;
    if (!credits) return limiter.assess(record.keyId, record.rateLimits, now, this.deps.sync.nextRecompute());
    const start = creditPeriodStart(credits.refill, now);
    const end = creditPeriodEnd(credits.refill, start);
    const id = `${record.keyId} ${start}`;
    assessed.keyId = record.keyId;
    assessed.start = start;
    assessed.end = end;
    assessed.id = id;
    assessed.cost = cost;
    return limiter.assess(record.keyId, record.rateLimits, now, this.deps.sync.nextRecompute(), {
      start,
      end,
      limit: this.limitOf(credits, start, id),
      cost,
    });
  }

  /** Takes the use last assessed, if it was allowed: from the shared allowances, and its credits into the next flush. */
  take(): void {
    if (!this.deps.sync.limiter.take()) return;
    const { quota, keyId, start, end, id, cost } = this.assessed;
    if (!quota || cost === 0) return;
    const entry = this.pending.get(id);
    if (entry) entry.amount += cost;
    else this.pending.set(id, { keyId, start, end, amount: cost });
  }

  /** What remains of a key's quota as far as this verifier knows, without charging anything. */
  remaining(record: KeyRecord, now: number): number | undefined {
    const credits = record.credits;
    if (!credits) return undefined;
    const start = creditPeriodStart(credits.refill, now);
    const end = creditPeriodEnd(credits.refill, start);
    return this.deps.sync.limiter.quotaRemaining(record.keyId, { start, end, limit: this.limitOf(credits, start, `${record.keyId} ${start}`) });
  }

  start(): void {
    // A window heard of from another verifier opens here with a share of the key's limit.
    this.deps.sync.limiter.resolveLimitsWith((keyId, windowMs, start, credits) => {
      const record = this.deps.index.get(keyId);
      if (!record) return undefined;
      if (!credits) return record.rateLimits.find((limit) => limit.windowMs === windowMs)?.limit;
      return record.credits ? this.limitOf(record.credits, start, `${keyId} ${start}`) : undefined;
    });
    this.deps.sync.onRecompute(() => {
      this.release();
      this.deps.sync.limiter.refreshQuotaLimits((keyId, start) => {
        const credits = this.deps.index.get(keyId)?.credits;
        return credits ? this.limitOf(credits, start, `${keyId} ${start}`) : 0;
      });
    });
    this.timer = everyTick(this.settings.flushEveryMs, () => void this.flush());
  }

  /**
   * The limit of a quota window: the balance the events give, plus what this verifier flushed
   * and its own projection has applied but it still counts (until every verifier has applied
   * it). Without that, its own flushes would be counted twice here; others' flushes are, for
   * the moment between this verifier applying them and their senders no longer counting them.
   */
  private limitOf(credits: CreditState, start: number, id: string): number {
    let limit = balanceOfPeriod(credits, start);
    if (this.awaiting.length === 0) return limit;
    const applied = this.deps.applied();
    for (const flush of this.awaiting) if (compareGlobalPositions(flush.position, applied) <= 0) limit += flush.byWindow.get(id) ?? 0;
    return limit;
  }

  /** Stops flushing on a timer and appends what is left (retrying for up to `timeoutMs`). */
  async stop(timeoutMs = 5000): Promise<void> {
    this.timer?.stop();
    const deadline = Date.now() + timeoutMs;
    do {
      await this.flush();
      if (!this.unconfirmed && this.pending.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    this.deps.logger.error({ unflushed: this.pending.size + (this.unconfirmed?.entries.length ?? 0) }, 'stopping with credits consumption not recorded');
  }

  /** Appends what was admitted since the last flush; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    if (!this.unconfirmed) {
      if (this.pending.size === 0) return;
      const entries = [...this.pending.values()];
      this.pending.clear();
      const eventIds = Array.from({ length: Math.ceil(entries.length / CREDITS_ENTRIES_PER_EVENT) }, () => newEventId());
      this.unconfirmed = { eventIds, entries };
    }
    const { eventIds, entries } = this.unconfirmed;
    const metadata = { actor: 'system:verifier', correlationId: this.settings.instanceId, causationId: this.settings.instanceId };
    const events = eventIds.map((eventId, n) => ({
      eventId,
      type: 'CreditsConsumed' as const,
      data: {
        entries: entries.slice(n * CREDITS_ENTRIES_PER_EVENT, (n + 1) * CREDITS_ENTRIES_PER_EVENT).map(({ keyId, start, amount }) => [keyId, start, amount]),
      },
      metadata,
    }));
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await this.deps.store.append(this.streamId, this.version, events);
        this.version = result.nextExpectedVersion;
        const byWindow = new Map(entries.map(({ keyId, start, amount }) => [`${keyId} ${start}`, amount]));
        this.awaiting.push({ position: result.events[result.events.length - 1]!, entries, byWindow });
        this.unconfirmed = undefined;
        this.recorded += sumOf(entries);
        return;
      } catch (error) {
        // The stream already has events: an earlier process had this instance name (a restarted
        // container keeps its host name and pid, so only the random tail differs, and it can
        // repeat). Continue its stream; the same event ids keep a retry from counting twice.
        if (attempt === 1 && error instanceof ConcurrencyConflictError) {
          this.deps.logger.warn({ streamId: this.streamId, version: error.actualVersion }, 'credits stream already has events; appending after them');
          this.version = error.actualVersion;
          continue;
        }
        this.flushFailures += 1;
        this.deps.logger.warn({ err: error, entries: entries.length }, 'could not record credits consumption; retrying');
        return;
      }
    }
  }

  /** Credits by state, and failed appends, for metrics. */
  counts(): { unrecorded: number; unreleased: number; recorded: number; flushFailures: number } {
    return {
      unrecorded: sumOf(this.pending.values()) + sumOf(this.unconfirmed?.entries ?? []),
      unreleased: this.awaiting.reduce((total, flush) => total + sumOf(flush.entries), 0),
      recorded: this.recorded,
      flushFailures: this.flushFailures,
    };
  }

  /** Stops counting flushed credits every member has applied (each member announces its position). */
  private release(): void {
    if (this.awaiting.length === 0) return;
    const applied = new Map(this.deps.fence.liveVerifiers().map(({ instance, position }) => [instance, position]));
    const members = this.deps.sync.members();
    while (this.awaiting.length > 0) {
      const { position, entries } = this.awaiting[0]!;
      const everywhere = members.every((member) => {
        const at = applied.get(member);
        return at !== undefined && compareGlobalPositions(at, position) >= 0;
      });
      if (!everywhere) return;
      for (const { keyId, start, end, amount } of entries) this.deps.sync.limiter.release(keyId, start, end, amount);
      this.awaiting.shift();
    }
  }
}

function sumOf(entries: Iterable<Consumed>): number {
  let total = 0;
  for (const { amount } of entries) total += amount;
  return total;
}

/** A verifier's credits on their way to the store, read at scrape time. */
export function registerKeyLimitsMetrics(registry: Registry, limits: Pick<KeyLimits, 'counts'>): void {
  scrapedCounter(
    registry,
    'keyledger_credits_recorded_total',
    'Credits admitted by this verifier and appended to the store (CreditsConsumed)',
    () => limits.counts().recorded,
  );
  scrapedCounter(
    registry,
    'keyledger_credits_flush_failures_total',
    'Failed appends of consumed credits (each is retried with the same event ids)',
    () => limits.counts().flushFailures,
  );
  scrapedGauge(
    registry,
    'keyledger_credits_unrecorded',
    'Credits admitted by this verifier and not yet in the store: lost if it dies now',
    () => limits.counts().unrecorded,
  );
  scrapedGauge(
    registry,
    'keyledger_credits_unreleased',
    'Credits in the store that this verifier still counts until every verifier has applied them',
    () => limits.counts().unreleased,
  );
}
