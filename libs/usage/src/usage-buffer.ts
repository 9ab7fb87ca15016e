import type { KeyUsed, UsageBatch } from '@keyledger/contracts';
import { USAGE_SCHEMA_VERSION } from '@keyledger/contracts';

/** Publishes one batch; resolves once the usage stream has stored it (or had it already). */
export type UsageBatchPublisher = (batch: EncodedUsageBatch) => Promise<void>;

/** A batch ready to publish: its id (the message's `Nats-Msg-Id`) and its JSON. */
export interface EncodedUsageBatch {
  readonly batchId: string;
  readonly records: number;
  readonly payload: string;
}

export interface UsageBufferSettings {
  /** Records waiting (queued or being published) at most; a record beyond it is dropped and counted. */
  readonly capacity: number;
  /** Records per batch at most; a full batch is published at once. */
  readonly batchRecords: number;
  /** The longest a record waits: every interval, whatever is queued is published. */
  readonly flushIntervalMs: number;
  /** Largest message body; a batch that would be larger is split (NATS refuses more than max_payload, 1 MiB by default). */
  readonly maxBatchBytes: number;
  /** Delay before retrying a failed publish, doubling up to maxRetryDelayMs. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
}

export const DEFAULT_USAGE_BUFFER_SETTINGS: UsageBufferSettings = {
  capacity: 200_000,
  batchRecords: 2000,
  flushIntervalMs: 250,
  maxBatchBytes: 512 * 1024,
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
 * slow or unreachable) it drops the record and counts it. Records leave as batches of up to
 * `batchRecords`, one JetStream message each: at once when a batch is full, and every
 * `flushIntervalMs` whatever is queued. One batch is published at a time, in order; a failed
 * publish is retried with the same batch id, so JetStream stores it once even if the first
 * attempt did land. `close()` publishes what is left.
 */
export class UsageBuffer {
  /** Each record as its JSON, encoded when added (see `add`). */
  private queue: string[] = [];
  private inFlight = 0;
  private dropped = 0;
  private published = 0;
  private batches = 0;
  private publishFailures = 0;
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly clock: () => number;

  constructor(
    private readonly deps: UsageBufferDependencies,
    private readonly settings: UsageBufferSettings = DEFAULT_USAGE_BUFFER_SETTINGS,
  ) {
    if (settings.batchRecords > settings.capacity) throw new RangeError('a batch cannot be larger than the buffer');
    this.clock = deps.clock ?? Date.now;
  }

  /** Starts the interval flush. */
  start(): void {
    this.timer ??= setInterval(() => this.flushSoon(true), this.settings.flushIntervalMs);
    this.timer.unref();
  }

  /** Queues a record, or drops and counts it when the buffer is full. Never waits. */
  add(record: KeyUsed): void {
    if (this.closing || this.queue.length + this.inFlight >= this.settings.capacity) {
      this.dropped += 1;
      return;
    }
    // Encoded now, under a microsecond a record, rather than a whole batch at once: one
    // JSON.stringify of 2,000 records holds the event loop for about a millisecond, which every
    // request in flight waits out, where joining their strings takes under half of that. A flat
    // string is also cheaper for the GC to keep than the record's objects.
    this.queue.push(JSON.stringify(record));
    if (this.queue.length >= this.settings.batchRecords && !this.flushScheduled && !this.flushing) {
      this.flushScheduled = true;
      // After the current request: the verify path only pays for the push.
      setImmediate(() => this.flushSoon(false));
    }
  }

  counts(): UsageBufferCounts {
    return {
      queued: this.queue.length,
      inFlight: this.inFlight,
      dropped: this.dropped,
      published: this.published,
      batches: this.batches,
      publishFailures: this.publishFailures,
    };
  }

  /** Publishes everything queued now; resolves when it is in the stream. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length > 0) await this.run(true);
  }

  /**
   * Stops taking records and publishes what is queued, retrying until `timeoutMs`; what is
   * still unpublished then is counted as dropped.
   */
  async close(timeoutMs = 5000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.closeDeadline = this.clock() + timeoutMs;
    this.closing = true;
    await this.flush();
  }

  private closeDeadline = Number.POSITIVE_INFINITY;

  private flushSoon(all: boolean): void {
    this.flushScheduled = false;
    if (this.flushing || this.queue.length === 0) return;
    void this.run(all);
  }

  private run(all: boolean): Promise<void> {
    this.flushing = this.drain(all).finally(() => {
      this.flushing = undefined;
      // Records that arrived during the last publish may already fill a batch.
      if (this.queue.length >= this.settings.batchRecords && !this.closing) this.flushSoon(false);
    });
    return this.flushing;
  }

  /** Full batches, and with `all` the partial last one too, one publish at a time. */
  private async drain(all: boolean): Promise<void> {
    while (this.queue.length >= this.settings.batchRecords || (all && this.queue.length > 0)) {
      const taken = this.queue.length <= this.settings.batchRecords ? this.queue : this.queue.slice(0, this.settings.batchRecords);
      this.queue = taken === this.queue ? [] : this.queue.slice(taken.length);
      this.inFlight += taken.length;
      for (const batch of this.encode(taken)) {
        const stored = await this.publishWithRetry(batch);
        this.inFlight -= batch.records;
        if (stored) {
          this.published += batch.records;
          this.batches += 1;
        } else this.dropped += batch.records;
      }
    }
  }

  /** One message per batch; halves a batch until its JSON fits maxBatchBytes. */
  private encode(records: string[]): EncodedUsageBatch[] {
    const batchId = this.deps.newBatchId();
    const header: Omit<UsageBatch, 'records'> = { schemaVersion: USAGE_SCHEMA_VERSION, batchId, instance: this.deps.instance, createdAt: this.clock() };
    const payload = `${JSON.stringify(header).slice(0, -1)},"records":[${records.join(',')}]}`;
    if (Buffer.byteLength(payload) <= this.settings.maxBatchBytes || records.length === 1) return [{ batchId, records: records.length, payload }];
    const half = Math.ceil(records.length / 2);
    return [...this.encode(records.slice(0, half)), ...this.encode(records.slice(half))];
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
