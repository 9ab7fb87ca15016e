import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@keyledger/observability';

/** One consumption of a JetStream consumer: its messages, and what ends once they are closed and handled. */
export interface Consumption {
  readonly messages: ConsumerMessages;
  /** Settles when the loop over `messages` is done (after `messages.close()`). */
  readonly handled: Promise<unknown>;
}

/** How soon a failed reopening is tried again. */
export const CONSUMPTION_RETRY_MS = 250;

/**
 * Keeps a JetStream consumption flowing across NATS faults: on every reconnect, on two missed
 * idle heartbeats, or when its owner sees it stalled (`reopen`), it closes the consumption and
 * opens a new one with `open`, trying again every `retryMs` until JetStream answers. `open`
 * decides where the new one starts (an ordered consumer from the last sequence applied, a
 * durable from its ack floor).
 *
 * Why not leave it to the client: nats.js 3 re-pulls after a reconnect only once a consumer info
 * succeeds; when that first request fails (JetStream not answering yet when the server is back)
 * it waits a jittered 15-45 s before asking again, ignores further reconnects meanwhile, and its
 * heartbeat monitor is off since the disconnect: the consumer sits silent (issue 18: 36-45 s).
 */
export class ConsumptionKeeper {
  private current: Consumption | undefined;
  private stopped = false;
  private cycling: Promise<void> | undefined;
  /** Why the next reopening is due; set while one is requested and not yet begun. */
  private requested: string | undefined;
  /** Cuts short the attempt (or pause) in progress: a newer fault makes it moot. */
  private interrupt: (() => void) | undefined;
  /** The connection's status iterator (a QueuedIterator, which can be stopped, though typed as an AsyncIterable). */
  private statuses: { stop?: () => void } | undefined;
  private reopenedCount = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly name: string,
    private readonly logger: Logger,
    private readonly open: () => Promise<Consumption>,
    private readonly retryMs = CONSUMPTION_RETRY_MS,
  ) {}

  /** Opens the first consumption (its failure is the caller's) and starts watching the connection. */
  async start(): Promise<void> {
    this.use(await this.open());
    void this.watchConnection();
  }

  /** How many times the consumption was reopened since start. */
  get reopened(): number {
    return this.reopenedCount;
  }

  /**
   * Closes the consumption and opens a new one. A call while one is being opened starts over:
   * an attempt begun before the latest fault may hang on a request the server never saw (until
   * its timeout) or succeed on a connection that is gone.
   */
  reopen(reason: string): void {
    if (this.stopped) return;
    this.requested = reason;
    if (this.cycling) {
      this.interrupt?.();
      return;
    }
    this.cycling = this.cycle().finally(() => {
      this.cycling = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.statuses?.stop?.();
    this.interrupt?.();
    await this.cycling;
    await this.closeCurrent();
  }

  private async cycle(): Promise<void> {
    while (this.requested !== undefined && !this.stopped) {
      const reason = this.requested;
      this.requested = undefined;
      this.logger.warn({ consumer: this.name, reason }, 'reopening a JetStream consumer');
      await this.closeCurrent();
      await this.openAgain();
    }
  }

  /** Tries until one opens, the keeper stops, or a newer request cuts it short (the caller's loop then starts over). */
  private async openAgain(): Promise<void> {
    for (let attempt = 1; !this.stopped && this.requested === undefined; attempt += 1) {
      const opening = this.open();
      const outcome = await this.unlessInterrupted(
        opening.then(
          (consumption) => ({ consumption }),
          (error: unknown) => ({ error }),
        ),
      );
      if (outcome === undefined || this.stopped) {
        // Moot: if it opens after all, it is closed unused.
        void opening.then(
          (consumption) => consumption.messages.close(),
          () => undefined,
        );
        return;
      }
      if ('consumption' in outcome) {
        this.use(outcome.consumption);
        this.reopenedCount += 1;
        this.logger.info({ consumer: this.name, attempts: attempt }, 'JetStream consumer reopened');
        return;
      }
      // Every attempt fails alike while JetStream is away: say so now and then, not four times a second.
      if (attempt === 1 || attempt % 40 === 0)
        this.logger.warn({ err: outcome.error, consumer: this.name, attempts: attempt }, 'cannot reopen a JetStream consumer yet; retrying');
      await this.unlessInterrupted(sleep(this.retryMs));
    }
  }

  /** What `work` resolves to, or undefined as soon as `interrupt` is called. */
  private async unlessInterrupted<T>(work: Promise<T>): Promise<T | undefined> {
    const interrupted = new Promise<undefined>((resolve) => {
      this.interrupt = () => resolve(undefined);
    });
    try {
      return await Promise.race([work, interrupted]);
    } finally {
      this.interrupt = undefined;
    }
  }

  private use(consumption: Consumption): void {
    this.current = consumption;
    void this.watchHeartbeats(consumption.messages);
    // A consumption that ends by itself (the client gave up on it) is started again; one closed here is not current any more.
    void consumption.handled
      .catch((error: unknown) => this.logger.warn({ err: error, consumer: this.name }, 'a JetStream consumption failed'))
      .finally(() => {
        if (this.current === consumption) this.reopen('the consumption ended');
      });
  }

  private async closeCurrent(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (!current) return;
    await current.messages.close();
    await current.handled.catch(() => undefined);
  }

  private async watchConnection(): Promise<void> {
    const statuses = this.nc.status();
    this.statuses = statuses as { stop?: () => void };
    for await (const status of statuses) {
      if (this.stopped) return;
      if (status.type === 'reconnect') this.reopen('NATS reconnected');
    }
  }

  /** The server stopped sending this consumption anything, not even heartbeats: whatever the cause, start again. */
  private async watchHeartbeats(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (this.stopped || this.current?.messages !== messages) return;
      if (status.type === 'heartbeats_missed' && status.count >= 2) this.reopen('missed idle heartbeats');
    }
  }
}
