import type { MsgHdrs } from '@nats-io/transport-node';

/** The two modes of `DurableConsumer`, and what each asks of its handler. */

/** How a message becomes an item, in both modes. */
export interface ItemCodec<T> {
  /**
   * The item a message carries. Throws when it carries none, and the message is dead-lettered
   * at once; answers undefined for a message refused as not authentic (the decoder reported
   * it), which is acknowledged and skipped: a forgery is neither applied nor kept for retries.
   * `headers` are the message's as received (a stranger's too), for a seal carried there.
   */
  decode(data: Uint8Array, subject: string, headers: MsgHdrs | undefined): T | undefined;
  /** The item's identity, for logs and (batch mode) to store an item delivered twice in one batch once. */
  id(item: T): string;
  /** When what the item records happened (ISO 8601), for the lag metric. */
  occurredAt(item: T): string | undefined;
}

/** Single-message mode: each message handled on its own, acked once `handle` resolves. */
export interface MessageHandler<T> extends ItemCodec<T> {
  /** Handles the item idempotently: true when it took effect now, false when it had before. */
  handle(item: T): Promise<boolean>;
}

/** Batch mode: the items of several messages stored together, then their messages acked. */
export interface BatchHandler<T> extends ItemCodec<T> {
  /** Stores the items (distinct ids) idempotently in one go; names those stored before. */
  store(items: readonly T[]): Promise<{ readonly duplicateIds: readonly string[] }>;
  /**
   * Optional: the items as their messages arrive (those that arrived together in one call; an
   * item delivered twice in the batch, each time), before the batch's wait is over, for work that
   * should not wait for `store` (findings). The batch's messages are acked only after `store`,
   * which is then called with every item whatever `receive` did: a handler whose `receive`
   * failed fails that `store`, so the batch is redelivered.
   */
  receive?(items: readonly T[]): Promise<void>;
  /**
   * Optional: the batch being filled is given up without `store` (the consumer stopped with
   * `abandon`: another instance takes over); its messages go back to the stream. Undo what
   * `receive` did, as after a failed `store`.
   */
  abandon?(): void;
}

export interface SingleMessageMode<T> {
  readonly kind: 'single';
  readonly handler: MessageHandler<T>;
  /** Messages buffered from the server at once. */
  readonly prefetch: number;
}

export interface BatchMode<T> {
  readonly kind: 'batch';
  readonly handler: BatchHandler<T>;
  /** Messages handed to `store` at most at once; the server holds twice as many unacknowledged. */
  readonly maxMessages: number;
  /** How long a batch may wait to fill once its first message is in; 0 takes whatever has arrived. */
  readonly maxWaitMs: number;
}

export type ConsumerMode<T> = SingleMessageMode<T> | BatchMode<T>;
