import { timingSafeEqual } from 'node:crypto';
import pRetry from 'p-retry';
import type {
  AcknowledgeDeliveryRequest,
  DeliveryAckResult,
  DeliveryChannel,
  EventEnvelope,
  EventMetadata,
  KeyDeliveredData,
  KeyDeliveryAcknowledgedData,
  KeyDeliveryExpiredData,
} from '@keyledger/contracts';
import { ApiError, keyDeliveredSchema, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { ConcurrencyConflictError, NO_STREAM, retryConflicts } from '@keyledger/event-store';
import type { DeliveryRetrySchedule, OwnerWebhook } from '@keyledger/key-domain';
import { deliveryExpiresAt, deliveryRetryDelayMs } from '@keyledger/key-domain';
import type { SealedKeyEnvelope, SealedKeyPublisher } from '@keyledger/key-delivery';
import { ackTokenHash, newAckToken, sealKey } from '@keyledger/key-delivery';
import type { Logger } from '@keyledger/observability';
import type { NewPendingDelivery, PendingDeliveries, PendingDelivery } from '@keyledger/pending-deliveries';

/**
 * What became of a rotation's new key for its owner:
 * - DELIVERED: stored sealed for redelivery until acknowledged (after its KeyIssued, or before
 *   it when storing after failed), and published on NATS;
 * - PENDING: stored, but the first publish failed: the rotator sends it again;
 * - UNRECORDED: published once, but it could not be stored, so nothing sends it again;
 * - FAILED: neither stored nor published (the key's plaintext exists only in the rotation's answer);
 * - NO_PUBLIC_KEY / NOT_CONFIGURED: nothing to deliver to, or no delivery in this process.
 */
export type KeyDeliveryStatus = 'DELIVERED' | 'PENDING' | 'UNRECORDED' | 'NO_PUBLIC_KEY' | 'NOT_CONFIGURED' | 'FAILED';

export interface KeyDeliveriesDependencies {
  readonly store: PostgresEventStore;
  readonly pending: PendingDeliveries;
  readonly publisher: SealedKeyPublisher;
  readonly logger?: Logger | undefined;
  readonly clock?: () => Date;
}

export interface KeyDeliverySettings {
  readonly retry: DeliveryRetrySchedule;
  /** A delivery is kept at least this long (see `deliveryExpiresAt`). */
  readonly ttlMs: number;
}

/** A new key sealed to its owner, before its KeyIssued is appended. */
export interface PreparedDelivery {
  readonly keyId: string;
  readonly tenant: string;
  readonly owner: string;
  readonly publicKey: string;
  readonly envelope: SealedKeyEnvelope;
  readonly ackTokenHash: string;
  readonly digest: string;
  readonly channels: readonly DeliveryChannel[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** What a delivery's end found: recorded now, or ended before (acknowledged or expired). */
type Ending = 'RECORDED' | 'ACKNOWLEDGED_BEFORE' | 'EXPIRED_BEFORE';

/** Totals since start, for metrics. */
export interface KeyDeliveryCounts {
  readonly acknowledged: number;
  readonly expired: number;
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** How a delivery's stream says it ended, if it did. */
function endOf(events: readonly EventEnvelope[]): 'ACKNOWLEDGED' | 'EXPIRED' | undefined {
  if (events.some((event) => event.type === 'KeyDeliveryAcknowledged')) return 'ACKNOWLEDGED';
  if (events.some((event) => event.type === 'KeyDeliveryExpired')) return 'EXPIRED';
  return undefined;
}

function deliveredOf(events: readonly EventEnvelope[]): KeyDeliveredData | undefined {
  const first = events.find((event) => event.type === 'KeyDelivered');
  const parsed = first && keyDeliveredSchema.safeParse(first.data);
  return parsed?.success ? parsed.data : undefined;
}

/**
 * Delivery of rotated keys to their owners, until acknowledged: the key is sealed with a fresh
 * ack token (envelope v2) to the owner's public key, and the envelope (never the key) is stored
 * in `pending_deliveries`, one row per channel, before the key's KeyIssued is appended. The
 * events of `delivery-<keyId>` tell the story: KeyDelivered when it starts, then one of
 * KeyDeliveryAcknowledged or KeyDeliveryExpired, which deletes the sealed copy.
 *
 * The end is decided by the delivery stream's optimistic concurrency: an acknowledgement and an
 * expiry (or two replicas) racing append at the same version, so exactly one is recorded, and
 * a process that dies between recording and deleting leaves rows the next look deletes.
 */
export class KeyDeliveries {
  private readonly clock: () => Date;
  private readonly totals = { acknowledged: 0, expired: 0 };

  constructor(
    private readonly deps: KeyDeliveriesDependencies,
    readonly settings: KeyDeliverySettings,
  ) {
    this.clock = deps.clock ?? (() => new Date());
  }

  counts(): KeyDeliveryCounts {
    return { ...this.totals };
  }

  /**
   * Seals a key about to be issued and stores it for delivery before its KeyIssued exists (a
   * crash between the two, or an append whose answer is lost after its commit, then loses
   * nothing: the rotator delivers it once the key is issued, never delivers key material that
   * was not, and drops it at its expiry if the key never is). A failure to store is not fatal
   * here: `deliver` tries again once the key is issued.
   */
  async prepare(input: {
    keyId: string;
    /** The key the new one replaces: sealed with it, so a client holding several keys swaps the right one. */
    replaces: string;
    tenant: string;
    owner: string;
    publicKey: string;
    /** The owner's webhook, if it has one: the key goes there too. */
    webhook: OwnerWebhook | undefined;
    plaintext: string;
    digest: string;
    graceEndsAt: number;
    keyExpiresAt: number | undefined;
  }): Promise<PreparedDelivery> {
    const ackToken = newAckToken();
    const now = this.clock();
    const prepared: PreparedDelivery = {
      keyId: input.keyId,
      tenant: input.tenant,
      owner: input.owner,
      publicKey: input.publicKey,
      envelope: sealKey(input.keyId, input.plaintext, input.publicKey, { ackToken, replaces: input.replaces }),
      ackTokenHash: ackTokenHash(ackToken),
      digest: input.digest,
      channels: input.webhook ? ['nats', 'webhook'] : ['nats'],
      createdAt: now,
      expiresAt: new Date(
        deliveryExpiresAt({ startedAt: now.getTime(), graceEndsAt: input.graceEndsAt, keyExpiresAt: input.keyExpiresAt, ttlMs: this.settings.ttlMs }),
      ),
    };
    const firstRetry = new Date(now.getTime() + deliveryRetryDelayMs(1, this.settings.retry));
    try {
      await this.deps.pending.storeBeforeIssue(
        this.rows(prepared, () => ({ attempts: 0, nextAttemptAt: firstRetry })),
        streamIdOf('key', input.keyId),
      );
    } catch (error) {
      this.deps.logger?.warn({ keyId: input.keyId, err: error }, 'could not store a delivery before issuing its key; stored after');
    }
    return prepared;
  }

  /**
   * Once the key is issued: stores its rows (the NATS one as sent once, the webhook one due at
   * once, for the rotator), records KeyDelivered and publishes the envelope on NATS.
   */
  async deliver(prepared: PreparedDelivery, metadata: EventMetadata): Promise<KeyDeliveryStatus> {
    const now = this.clock();
    const retryAt = new Date(now.getTime() + deliveryRetryDelayMs(1, this.settings.retry));
    let stored = true;
    let written: number | undefined;
    try {
      written = await this.deps.pending.storeIssued(
        this.rows(prepared, (channel) => (channel === 'nats' ? { attempts: 1, nextAttemptAt: retryAt } : { attempts: 0, nextAttemptAt: now })),
      );
    } catch (error) {
      // The rows stored before the KeyIssued, if they still hold this key's material, are enough: the rotator sends them.
      stored = await this.storedBeforeIssue(prepared);
      if (stored)
        this.deps.logger?.warn({ keyId: prepared.keyId, err: error }, 'could not update a delivery once its key was issued; sent from what was stored before');
      else this.deps.logger?.warn({ keyId: prepared.keyId, err: error }, 'could not store a delivery: it is sent once and not retried');
    }
    // Nothing written: the delivery ended while the rotation was under way (the rotator sent the
    // rows stored before the KeyIssued and the owner acknowledged them, or it expired). Never a
    // throw from here: the rotation's answer holds the key.
    if (written === 0) {
      const events = await this.deps.store.readStream(streamIdOf('delivery', prepared.keyId)).catch(() => []);
      return endOf(events) === 'ACKNOWLEDGED' ? 'DELIVERED' : 'FAILED';
    }
    if (stored) {
      await this.recordStart(prepared.keyId, this.startData(prepared), metadata).catch((error: unknown) => {
        // Recorded later, with the acknowledgement or the expiry.
        this.deps.logger?.warn({ keyId: prepared.keyId, err: error }, 'could not record KeyDelivered yet');
      });
    }
    let published = true;
    try {
      await pRetry(
        () =>
          this.deps.publisher.publish(
            { tenant: prepared.tenant, owner: prepared.owner, issuedAt: prepared.createdAt.toISOString(), envelope: prepared.envelope },
            1,
          ),
        { retries: 3, minTimeout: 50, maxTimeout: 500 },
      );
    } catch (error) {
      published = false;
      if (stored) await this.deps.pending.recordFailure(prepared.keyId, 'nats', errorText(error)).catch(() => undefined);
    }
    if (stored) return published ? 'DELIVERED' : 'PENDING';
    return published ? 'UNRECORDED' : 'FAILED';
  }

  /** Whether the rows `prepare` stored before the KeyIssued are there with this key's material (false when that cannot be read either). */
  private async storedBeforeIssue(prepared: PreparedDelivery): Promise<boolean> {
    try {
      return (await this.deps.pending.rowsOf(prepared.keyId)).some((row) => row.digest === prepared.digest);
    } catch {
      return false;
    }
  }

  /**
   * A client's acknowledgement on NATS, proven by the ack token it found in the envelope. A
   * token that does not match is UNAUTHENTICATED and changes nothing; a repeated
   * acknowledgement answers ALREADY_ACKNOWLEDGED.
   */
  async acknowledge(request: AcknowledgeDeliveryRequest, metadata: EventMetadata): Promise<DeliveryAckResult> {
    const rows = await this.deps.pending.rowsOf(request.keyId);
    const started = deliveredOf(await this.deps.store.readStream(streamIdOf('delivery', request.keyId)));
    const expected = [...rows.map((row) => row.ackTokenHash), ...(started?.ackTokenHash ? [started.ackTokenHash] : [])];
    if (expected.length === 0) throw new ApiError('KEY_NOT_FOUND', `no delivery of key ${request.keyId} waits for an acknowledgement`);
    const presented = ackTokenHash(request.ackToken);
    if (!expected.some((hash) => sameHash(hash, presented))) throw new ApiError('UNAUTHENTICATED', 'the ack token is not the one delivered with this key');
    const ending = await this.end(request.keyId, { type: 'KeyDeliveryAcknowledged', channel: 'nats' }, metadata);
    return { keyId: request.keyId, status: ending === 'RECORDED' ? 'ACKNOWLEDGED' : ending === 'ACKNOWLEDGED_BEFORE' ? 'ALREADY_ACKNOWLEDGED' : 'EXPIRED' };
  }

  /** A webhook answered 2xx: the owner has the key. */
  async acknowledgeByWebhook(keyId: string, metadata: EventMetadata): Promise<void> {
    await this.end(keyId, { type: 'KeyDeliveryAcknowledged', channel: 'webhook' }, metadata);
  }

  /**
   * Nobody acknowledged in time (or the key is no longer usable): records the expiry and deletes
   * the sealed copy. False when the delivery had ended before (its rows are deleted all the same).
   */
  async expire(keyId: string, metadata: EventMetadata): Promise<boolean> {
    return (await this.end(keyId, { type: 'KeyDeliveryExpired' }, metadata)) === 'RECORDED';
  }

  /**
   * The rotator asks before each send of a stored row: false for a delivery that has ended
   * (acknowledged or expired: its ender died before deleting the rows, or they were stored again
   * meanwhile), whose rows it deletes. An open delivery not recorded yet (its first append
   * failed) is recorded with KeyDelivered, so a delivery that is sent is always recorded.
   */
  async stillOpen(row: PendingDelivery, metadata: EventMetadata): Promise<boolean> {
    const events = await this.deps.store.readStream(streamIdOf('delivery', row.keyId));
    if (endOf(events)) {
      await this.deps.pending.remove(row.keyId);
      return false;
    }
    if (events.length === 0)
      await this.recordStart(
        row.keyId,
        this.startDataOf(
          row,
          (await this.deps.pending.rowsOf(row.keyId)).map((r) => r.channel),
        ),
        metadata,
      );
    return true;
  }

  private async recordStart(keyId: string, data: KeyDeliveredData, metadata: EventMetadata): Promise<void> {
    try {
      await this.deps.store.append(streamIdOf('delivery', keyId), NO_STREAM, [{ type: 'KeyDelivered', data, metadata }]);
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error; // recorded by someone else
    }
  }

  private async end(
    keyId: string,
    ending: { type: 'KeyDeliveryAcknowledged'; channel: DeliveryChannel } | { type: 'KeyDeliveryExpired' },
    metadata: EventMetadata,
  ): Promise<Ending> {
    const streamId = streamIdOf('delivery', keyId);
    const run = async (): Promise<Ending> => {
      const rows = await this.deps.pending.rowsOf(keyId);
      const events = await this.deps.store.readStream(streamId);
      const ended = endOf(events);
      if (ended) return ended === 'ACKNOWLEDGED' ? 'ACKNOWLEDGED_BEFORE' : 'EXPIRED_BEFORE';
      const started =
        deliveredOf(events) ??
        (rows[0] &&
          this.startDataOf(
            rows[0],
            rows.map((row) => row.channel),
          ));
      if (!started) throw new ApiError('KEY_NOT_FOUND', `no delivery of key ${keyId}`);
      const common = {
        keyId,
        tenant: started.tenant,
        owner: started.owner,
        attempts: rows.reduce((sum, row) => sum + row.attempts, 0),
        at: this.clock().toISOString(),
      };
      const last =
        ending.type === 'KeyDeliveryAcknowledged'
          ? { type: ending.type, data: { ...common, channel: ending.channel } satisfies KeyDeliveryAcknowledgedData, metadata }
          : { type: ending.type, data: common satisfies KeyDeliveryExpiredData, metadata };
      await this.deps.store.append(streamId, events.length, [
        ...(events.length === 0 ? [{ type: 'KeyDelivered' as const, data: started, metadata }] : []),
        last,
      ]);
      if (ending.type === 'KeyDeliveryAcknowledged') this.totals.acknowledged += 1;
      else this.totals.expired += 1;
      return 'RECORDED';
    };
    const result = await retryConflicts(run);
    // Whoever ends it (or finds it ended) deletes the sealed copy; a crash before this leaves it for the next look.
    await this.deps.pending.remove(keyId);
    return result;
  }

  private rows(prepared: PreparedDelivery, state: (channel: DeliveryChannel) => { attempts: number; nextAttemptAt: Date }): NewPendingDelivery[] {
    const envelope = JSON.stringify(prepared.envelope);
    return prepared.channels.map((channel) => ({
      keyId: prepared.keyId,
      channel,
      tenant: prepared.tenant,
      owner: prepared.owner,
      publicKey: prepared.publicKey,
      envelope,
      ackTokenHash: prepared.ackTokenHash,
      digest: prepared.digest,
      createdAt: prepared.createdAt,
      expiresAt: prepared.expiresAt,
      ...state(channel),
    }));
  }

  private startData(prepared: PreparedDelivery): KeyDeliveredData {
    return {
      keyId: prepared.keyId,
      tenant: prepared.tenant,
      owner: prepared.owner,
      publicKey: prepared.publicKey,
      at: prepared.createdAt.toISOString(),
      ackTokenHash: prepared.ackTokenHash,
      expiresAt: prepared.expiresAt.toISOString(),
      channels: [...prepared.channels],
    };
  }

  private startDataOf(row: PendingDelivery, channels: readonly DeliveryChannel[]): KeyDeliveredData {
    return {
      keyId: row.keyId,
      tenant: row.tenant,
      owner: row.owner,
      publicKey: row.publicKey,
      at: row.createdAt.toISOString(),
      ackTokenHash: row.ackTokenHash,
      expiresAt: row.expiresAt.toISOString(),
      channels: [...new Set(channels.length > 0 ? channels : [row.channel])],
    };
  }
}

/** A failure's message, short, for the row's last error and the logs. */
export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}
