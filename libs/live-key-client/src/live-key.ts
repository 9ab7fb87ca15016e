import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KeyObject } from 'node:crypto';
import pRetry, { AbortError } from 'p-retry';
import type { ApiErrorBody, DeliveryAckResult } from '@keyledger/contracts';
import { deliveryAckSubject, deliverySubject } from '@keyledger/contracts';
import type { DeliveryPublicKey, DeliveryRefusalReason, OpenedKey } from '@keyledger/key-delivery';
import { DELIVERY_REFUSAL_REASONS, openDelivery, parseDeliveryPublicKeys, parseX25519PrivateKey } from '@keyledger/key-delivery';
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
  /**
   * The public keys deliveries are signed with (`keyledger deliveries public-key`:
   * `<version>:<base64>[,…]`). Only a delivery signed by one of them, for this tenant and owner,
   * is opened; start fails with `DeliveryKeyError` when they do not parse.
   */
  readonly deliveryPublicKeys: string;
  readonly nc: NatsConnection;
  /** The installation's subject prefix (`KEYLEDGER_SUBJECT_PREFIX`). */
  readonly subjectPrefix: string;
  /** Resume after this delivery stream sequence (what `sequence()` said before a restart). */
  readonly startAfterSequence?: number;
  /** Called after each switch, e.g. to persist the key and `sequence()`; never with anything sealed. */
  readonly onKeyChanged?: (state: LiveKeyState) => void;
  /** Called for a signed envelope that could not be opened (sealed to another of the owner's keys; it is skipped) and for an acknowledgement that failed. */
  readonly onError?: (error: unknown) => void;
  /**
   * Called for each delivery refused before it was opened (unsigned, signed by a key not given,
   * a signature that does not hold, or meant for another tenant or owner): the key held stays,
   * and nothing is acknowledged. Someone other than Keyledger publishes on the owner's subject.
   */
  readonly onRefused?: (refusal: DeliveryRefusal) => void;
  /** Called once the rotator has answered an acknowledgement (recorded now, or before). */
  readonly onAcknowledged?: (result: DeliveryAckResult) => void;
  /** How long one acknowledgement request waits for the rotator (default 5 s; tried 4 times). */
  readonly ackTimeoutMs?: number;
}

/** A delivery the client refused, and where it was in the delivery stream. Nothing in it is believed, so it names no key. */
export interface DeliveryRefusal {
  readonly reason: DeliveryRefusalReason;
  readonly sequence: number;
}

/** The rotator refused an acknowledgement (`code` from the API's error codes, e.g. UNAUTHENTICATED). */
export class DeliveryAckError extends Error {
  override readonly name = 'DeliveryAckError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The live key of a Node service: it starts with the key the service was given, receives
 * rotations sealed to the owner's public key on `<prefix>.v1.delivery.<tenant>.<owner>`, takes
 * only those signed by Keyledger's delivery signing key for this tenant and owner (anyone may
 * seal a key to a public key, and may be able to publish on the subject), and
 * switches `currentKey()` at once to the key that replaces the one it holds (the old one stays
 * valid for its grace); rotations of the owner's other keys are left to their holders.
 * It reads the delivery stream with an ordered consumer from the start (or after
 * `startAfterSequence`), so keys rotated while the service was offline arrive when it connects.
 * Every envelope of its own line of keys that carries an ack token (version 2) is acknowledged
 * on `<prefix>.v1.deliveries.ack` after the switch (and `onKeyChanged`), so the rotator stops
 * sending it; an older or repeated key is acknowledged too, since a repeat means the rotator
 * missed an earlier acknowledgement. Another key's delivery is not: its holder acknowledges it.
 */
export class LiveKey {
  private state: LiveKeyState;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private readonly acks = new Set<Promise<void>>();
  private readonly refused = Object.fromEntries(DELIVERY_REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<DeliveryRefusalReason, number>;

  private constructor(
    private readonly options: LiveKeyOptions,
    private readonly publicKeys: readonly DeliveryPublicKey[],
  ) {
    this.state = { keyId: options.keyId, key: options.key, sequence: options.startAfterSequence ?? 0 };
  }

  /** Starts following deliveries; resolves once subscribed. */
  static async start(options: LiveKeyOptions): Promise<LiveKey> {
    const live = new LiveKey({ ...options, privateKey: parseX25519PrivateKey(options.privateKey) }, parseDeliveryPublicKeys(options.deliveryPublicKeys));
    await live.subscribe();
    return live;
  }

  /** Deliveries refused since start, by reason (see `onRefused`). */
  refusals(): Readonly<Record<DeliveryRefusalReason, number>> {
    return { ...this.refused };
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
    await Promise.all(this.acks);
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
          const delivery = openDelivery(message.data, {
            tenant: this.options.tenant,
            owner: this.options.owner,
            privateKey: this.options.privateKey,
            publicKeys: this.publicKeys,
          });
          if (!delivery.ok) {
            this.state = { ...this.state, sequence: Math.max(this.state.sequence, message.seq) };
            this.refused[delivery.reason] += 1;
            this.options.onRefused?.({ reason: delivery.reason, sequence: message.seq });
            continue;
          }
          const { opened } = delivery;
          const next = applyDelivery(this.state, opened, message.seq);
          this.state = next.state;
          if (next.outcome === 'SWITCHED') this.options.onKeyChanged?.(this.state);
          if (next.outcome !== 'OTHER_KEY') this.acknowledge(opened);
        } catch (error) {
          this.state = { ...this.state, sequence: Math.max(this.state.sequence, message.seq) };
          this.options.onError?.(error);
        }
      }
    })();
  }

  /** Acknowledges in the background, so a slow rotator never holds back the next key. */
  private acknowledge(opened: OpenedKey): void {
    const { ackToken, keyId } = opened;
    if (ackToken === undefined) return; // a version 1 envelope: nothing to acknowledge
    const body = JSON.stringify({ keyId, ackToken });
    const subject = deliveryAckSubject(this.options.subjectPrefix);
    const attempt = async (): Promise<DeliveryAckResult> => {
      const reply = await this.options.nc.request(subject, body, { timeout: this.options.ackTimeoutMs ?? 5000 });
      const answer = reply.json<{ ok: true; result: DeliveryAckResult } | ({ ok: false } & ApiErrorBody)>();
      // A refusal is final; only a missing or slow rotator is worth another try.
      if (!answer.ok) throw new AbortError(new DeliveryAckError(answer.error.code, answer.error.message));
      return answer.result;
    };
    const pending = pRetry(attempt, { retries: 3, minTimeout: 200, maxTimeout: 2000 })
      .then(
        (result) => this.options.onAcknowledged?.(result),
        (error: unknown) => this.options.onError?.(error),
      )
      .finally(() => this.acks.delete(pending));
    this.acks.add(pending);
  }
}
