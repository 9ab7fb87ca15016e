import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KeyObject } from 'node:crypto';
import { deliverySubject } from '@keyledger/contracts';
import { openSealedKey, parseX25519PrivateKey } from '@keyledger/key-delivery';
import type { LiveKeyState } from './live-key-state.js';
import { applyDelivery } from './live-key-state.js';

export interface LiveKeyOptions {
  /** The key the service holds now (its plaintext). */
  readonly key: string;
  /** Its id, when known: deliveries of older keys are then ignored. */
  readonly keyId?: string;
  readonly tenant: string;
  readonly owner: string;
  /** The owner's X25519 private key: raw base64, PEM or a KeyObject. */
  readonly privateKey: string | KeyObject;
  readonly nc: NatsConnection;
  /** The installation's subject prefix (`KEYLEDGER_SUBJECT_PREFIX`). */
  readonly subjectPrefix: string;
  /** Resume after this delivery stream sequence (what `sequence()` said before a restart). */
  readonly startAfterSequence?: number;
  /** Called after each switch, e.g. to persist the key and `sequence()`; never with anything sealed. */
  readonly onKeyChanged?: (state: LiveKeyState) => void;
  /** Called for an envelope that could not be opened (tampered, or sealed to another key); it is skipped. */
  readonly onError?: (error: unknown) => void;
}

/**
 * The live key of a Node service: it starts with the key the service was given, receives
 * rotations sealed to the owner's public key on `<prefix>.v1.delivery.<tenant>.<owner>`, and
 * switches `currentKey()` at once to each newer key (the old one stays valid for its grace).
 * It reads the delivery stream with an ordered consumer from the start (or after
 * `startAfterSequence`), so keys rotated while the service was offline arrive when it connects.
 */
export class LiveKey {
  private state: LiveKeyState;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;

  private constructor(private readonly options: LiveKeyOptions) {
    this.state = { keyId: options.keyId, key: options.key, sequence: options.startAfterSequence ?? 0 };
  }

  /** Starts following deliveries; resolves once subscribed. */
  static async start(options: LiveKeyOptions): Promise<LiveKey> {
    const live = new LiveKey({ ...options, privateKey: parseX25519PrivateKey(options.privateKey) });
    await live.subscribe();
    return live;
  }

  /** The key to send now. */
  currentKey(): string {
    return this.state.key;
  }

  /** The id of the key to send now, when known. */
  currentKeyId(): string | undefined {
    return this.state.keyId;
  }

  /** The delivery stream sequence processed so far, to resume from after a restart. */
  sequence(): number {
    return this.state.sequence;
  }

  /** Stops following deliveries; the current key stays as it is. */
  async stop(): Promise<void> {
    this.messages?.stop();
    await this.running;
  }

  private async subscribe(): Promise<void> {
    const subject = deliverySubject(this.options.subjectPrefix, this.options.tenant, this.options.owner);
    const stream = await (await jetstreamManager(this.options.nc)).streams.find(subject);
    const consumer = await jetstream(this.options.nc).consumers.get(stream, {
      filter_subjects: subject,
      ...(this.state.sequence > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.state.sequence + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    const messages = await consumer.consume();
    this.messages = messages;
    this.running = (async () => {
      for await (const message of messages) {
        try {
          const next = applyDelivery(this.state, openSealedKey(message.json(), this.options.privateKey), message.seq);
          this.state = next.state;
          if (next.outcome === 'SWITCHED') this.options.onKeyChanged?.(this.state);
        } catch (error) {
          this.state = { ...this.state, sequence: Math.max(this.state.sequence, message.seq) };
          this.options.onError?.(error);
        }
      }
    })();
  }
}
