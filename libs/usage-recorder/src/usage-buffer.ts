import type { KeyUsed } from '@keyledger/contracts';
import { SPLIT_MESSAGE_BYTES } from '@keyledger/nats-connection';
import type { EncodedUsageBatch } from './usage-groups.js';
import { UsageGroups } from './usage-groups.js';
import type { UnknownKeyTallySettings } from './unknown-key-tally.js';
import { DEFAULT_UNKNOWN_KEY_TALLY_SETTINGS, UnknownKeyTally } from './unknown-key-tally.js';

/** Publishes one batch; resolves once the usage stream has stored it (or had it already). */
export type UsageBatchPublisher = (batch: EncodedUsageBatch) => Promise<void>;

export interface UsageBufferSettings {
  /** Records waiting (queued or being published) at most; a record beyond it is dropped and counted. */
  readonly capacity: number;
  /** Records per batch at most; a full batch is published at once. */
  readonly batchRecords: number;
  /** The longest a record waits: every interval, whatever is queued is published. */
  readonly flushIntervalMs: number;
  /** Largest message body; a batch that would be larger is split (NATS refuses more than its max_payload). */
  readonly maxBatchBytes: number;
  /** Delay before retrying a failed publish, doubling up to maxRetryDelayMs. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /** How records that name no key are counted rather than kept; DEFAULT_UNKNOWN_KEY_TALLY_SETTINGS when unset. */
  readonly unknownKeys?: UnknownKeyTallySettings;
}

export const DEFAULT_USAGE_BUFFER_SETTINGS: UsageBufferSettings = {
  capacity: 200_000,
  batchRecords: 2000,
  flushIntervalMs: 250,
  // What every server Keyledger runs on takes, whichever server of a cluster a retry reaches.
  maxBatchBytes: SPLIT_MESSAGE_BYTES,
  retryDelayMs: 100,
  maxRetryDelayMs: 5000,
};

export interface UsageBufferDependencies {
  readonly publish: UsageBatchPublisher;
  /** The verifier instance, written on every batch. */
  readonly instance: string;
  /** A new, unique batch id (`newPrefixedId('ub')`). */
  readonly newBatchId: () => string;
  readonly clock?: () => number;
  /** Told about each failed publish (it is retried). */
  readonly onPublishFailure?: (error: unknown, batch: EncodedUsageBatch) => void;
}

/** What the buffer has done since it started, for metrics. */
export interface UsageBufferCounts {
  readonly queued: number;
  readonly inFlight: number;
  readonly dropped: number;
  readonly published: number;
  readonly batches: number;
  readonly publishFailures: number;
}

/**
 * Holds usage records between the verify path and the usage stream. `add` is synchronous and
 * cheap: it never waits, never throws, and when the buffer holds `capacity` records (JetStream
 * slow or unreachable) it drops the record and counts it. Records are grouped as they come
 * (`UsageGroups`) into batches of up to `batchRecords`, and leave as version 2 batches, one
 * JetStream message each: at once when a batch is full, and otherwise `flushIntervalMs` after the
 * first record queued since the last interval (no timer runs while nothing is queued). One batch is published at a time, in order; a failed publish is retried with the same
 * batch id and payload, so JetStream stores it once even if the first attempt did land.
 * `close()` publishes what is left.
 */
export class UsageBuffer {
  /** Batches closed (full, spanning all they may, or their interval passed), oldest first, waiting to be published. */
  private readonly due: UsageGroups[] = [];
  /** The batch records join now. */
  private forming: UsageGroups | undefined;
  private queued = 0;
  private inFlight = 0;
  private dropped = 0;
  private published = 0;
  private batches = 0;
  private publishFailures = 0;
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closing = false;
  private readonly clock: () => number;
  /** Records that name no key, counted (a flood of random keys is a bounded number of tallies). */
  private readonly tally: UnknownKeyTally;

  constructor(
    private readonly deps: UsageBufferDependencies,
    private readonly settings: UsageBufferSettings = DEFAULT_USAGE_BUFFER_SETTINGS,
  ) {
    if (settings.batchRecords > settings.capacity) throw new RangeError('a batch cannot be larger than the buffer');
    this.clock = deps.clock ?? Date.now;
    this.tally = new UnknownKeyTally(settings.unknownKeys ?? DEFAULT_UNKNOWN_KEY_TALLY_SETTINGS);
  }

  /** Starts the interval flush: from now on a record queued is published within `flushIntervalMs`. */
  start(): void {
    this.started = true;
    if (this.forming !== undefined || this.tally.size > 0) this.armInterval();
  }

  /** Arms the interval flush for what was just queued; an idle verifier wakes for nothing. */
  private armInterval(): void {
    if (this.timer !== undefined || !this.started || this.closing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushSoon(true);
    }, this.settings.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Queues a record, or drops and counts it when the buffer is full; a record that names no key
   * is counted in a tally instead (bounded whatever comes), published with the next batch. Never waits.
   */
  add(record: KeyUsed): void {
    if (!this.closing && record.keyId === undefined) {
      this.tally.add(record);
      if (this.timer === undefined) this.armInterval();
      return;
    }
    if (this.closing || this.queued + this.inFlight >= this.settings.capacity) {
      this.dropped += 1;
      return;
    }
    // Grouped now rather than encoded: a record like one before it in the batch (most are) costs
    // a Map lookup by its key id and a comparison of its fields, and adds only its time; a record
    // unlike any other has its fields encoded once, as a group. A batch that would span too long
    // is closed first.
    if (this.forming !== undefined && !this.forming.admits(record.at)) this.publishForming();
    const batch = (this.forming ??= new UsageGroups());
    batch.add(record);
    this.queued += 1;
    if (this.timer === undefined) this.armInterval();
    if (batch.records >= this.settings.batchRecords) this.publishForming();
  }

  counts(): UsageBufferCounts {
    return {
      queued: this.queued,
      inFlight: this.inFlight,
      dropped: this.dropped,
      published: this.published,
      batches: this.batches,
      publishFailures: this.publishFailures,
    };
  }

  /** Publishes everything queued now; resolves when it is in the stream. */
  async flush(): Promise<void> {
    this.makeDue();
    while (this.flushing) await this.flushing;
    if (this.due.length > 0) await this.run();
  }

  /**
   * Stops taking records and publishes what is queued, retrying until `timeoutMs`; what is
   * still unpublished then is counted as dropped.
   */
  async close(timeoutMs = 5000): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.closeDeadline = this.clock() + timeoutMs;
    this.closing = true;
    await this.flush();
  }

  private closeDeadline = Number.POSITIVE_INFINITY;

  /** Closes the forming batch, full or spanning all it may: it is published at once. */
  private publishForming(): void {
    this.makeDue();
    if (!this.flushScheduled && !this.flushing) {
      this.flushScheduled = true;
      // After the current request: the verify path only pays for the grouping.
      setImmediate(() => this.flushSoon(false));
    }
  }

  /** Closes the forming batch, with the tallies counted so far, and puts it behind the batches due. */
  private makeDue(): void {
    if (this.forming === undefined && this.tally.size === 0) return;
    const batch = this.forming ?? new UsageGroups();
    if (this.tally.size > 0) batch.addTallies(this.tally.drain());
    batch.seal();
    this.due.push(batch);
    this.forming = undefined;
  }

  /**
   * With `interval`, what is queued is due now. A publish in progress takes it when done; a
   * drain does not chase the records that come while it publishes, which under steady load
   * would send one small batch per publish round trip rather than a full one per interval.
   */
  private flushSoon(interval: boolean): void {
    this.flushScheduled = false;
    if (interval) this.makeDue();
    if (this.flushing || this.due.length === 0) return;
    void this.run();
  }

  private run(): Promise<void> {
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
      if (this.due.length > 0 && !this.closing) this.flushSoon(false);
    });
    return this.flushing;
  }

  /** The batches due, oldest first, one publish at a time, also those that become due meanwhile. */
  private async drain(): Promise<void> {
    for (let batch = this.due.shift(); batch !== undefined; batch = this.due.shift()) {
      this.queued -= batch.records;
      this.inFlight += batch.records;
      const header = { instance: this.deps.instance, createdAt: this.clock(), newBatchId: () => this.deps.newBatchId() };
      for (const message of batch.encode(header, this.settings.maxBatchBytes)) {
        const stored = await this.publishWithRetry(message);
        this.inFlight -= message.records;
        if (stored) {
          this.published += message.records;
          this.batches += 1;
        } else this.dropped += message.records;
      }
    }
  }

  /** True once stored; false when closing and the deadline passed first. */
  private async publishWithRetry(batch: EncodedUsageBatch): Promise<boolean> {
    let delay = this.settings.retryDelayMs;
    for (;;) {
      try {
        await this.deps.publish(batch);
        return true;
      } catch (error) {
        this.publishFailures += 1;
        this.deps.onPublishFailure?.(error, batch);
        if (this.closing && this.clock() + delay > this.closeDeadline) return false;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, this.settings.maxRetryDelayMs);
      }
    }
  }
}
