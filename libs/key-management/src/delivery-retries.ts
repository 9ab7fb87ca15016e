import type { EventMetadata } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { OwnerWebhookTable } from '@keyledger/key-domain';
import { deliveryRetryDelayMs, deliveryStillUseful, ownerWebhookOf } from '@keyledger/key-domain';
import type { SealedKeyEnvelope, SealedKeyPublisher, WebhookOutcome } from '@keyledger/key-delivery';
import { WEBHOOK_SIGNATURE_HEADER, signWebhookPayload } from '@keyledger/key-delivery';
import type { WebhookSecrets } from '@keyledger/key-secrets';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import type { PendingDeliveries, PendingDelivery } from '@keyledger/pending-deliveries';
import type { KeyDeliveries } from './key-deliveries.js';
import { errorText, readKeyRecord, readOwnerWebhooks } from './key-deliveries.js';

/** POSTs a signed body to a webhook (`WebhookSender` in production). */
export interface WebhookPoster {
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<WebhookOutcome>;
}

export interface DeliveryRetriesDependencies {
  readonly deliveries: KeyDeliveries;
  readonly pending: PendingDeliveries;
  readonly store: PostgresEventStore;
  readonly publisher: SealedKeyPublisher;
  /** Without it, webhook rows are left for a process that has one. */
  readonly webhooks?: { readonly poster: WebhookPoster; readonly secrets: WebhookSecrets } | undefined;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** Who the delivery events of this process name as actor. */
  readonly actor?: string;
}

export interface DeliveryRetriesSettings {
  /** How often due and expired deliveries are looked for. */
  readonly intervalMs: number;
  /** Rows claimed per look, at most. */
  readonly batchSize: number;
}

/** What one pass did, key ids by outcome. */
export interface DeliveryPass {
  readonly sent: readonly string[];
  readonly failed: readonly string[];
  readonly acknowledged: readonly string[];
  readonly expired: readonly string[];
  /** Rows of key material that was never issued (an interrupted rotation completed with other material): dropped unsent. */
  readonly discarded: readonly string[];
  /** Rows of a delivery that had ended already (acknowledged or expired, the rows left behind): deleted unsent. */
  readonly ended: readonly string[];
}

type PassLog = { -readonly [K in keyof DeliveryPass]: string[] };

/** Totals since start, for metrics. */
export interface DeliveryRetryCounts {
  readonly attempts: number;
  readonly failedAttempts: number;
  /** Keys waiting for acknowledgement, as of the last pass (every replica sees the same table). */
  readonly pending: number;
}

/** How long an expired row is left to the replica that claimed it before another may. */
const EXPIRY_LEASE_MS = 60_000;

/**
 * The rotator's redelivery loop: every `intervalMs` it claims the pending deliveries that are
 * due (`FOR UPDATE SKIP LOCKED`, so replicas share them and never claim one send twice),
 * sends each on its channel and schedules the next send with a bounded exponential backoff,
 * until a client acknowledges (NATS), a webhook answers 2xx, or the delivery expires, which
 * is recorded and deletes the sealed copy. A replica that dies mid-send leaves the row to be
 * claimed again at its next attempt; a key sent twice is harmless (clients ignore a key id
 * they hold or one older, and webhook receivers are told to do the same).
 */
export class DeliveryRetries {
  private readonly clock: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly totals = { attempts: 0, failedAttempts: 0, pending: 0 };

  constructor(
    private readonly deps: DeliveryRetriesDependencies,
    private readonly settings: DeliveryRetriesSettings,
  ) {
    this.clock = deps.clock ?? (() => new Date());
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  counts(): DeliveryRetryCounts {
    return { ...this.totals };
  }

  /** One pass: expire what is past its expiry, then send what is due. */
  async runOnce(): Promise<DeliveryPass> {
    const pass: PassLog = { sent: [], failed: [], acknowledged: [], expired: [], discarded: [], ended: [] };
    const now = this.clock();
    const metadata = this.metadata();
    const expiredKeys = new Set(
      (await this.deps.pending.claimExpired(now, this.settings.batchSize, new Date(now.getTime() + EXPIRY_LEASE_MS))).map((row) => row.keyId),
    );
    for (const keyId of expiredKeys) {
      if (this.stopped) break;
      await this.settle(keyId, metadata, pass);
    }
    const due = await this.deps.pending.claimDue(
      now,
      this.settings.batchSize,
      (row) => new Date(now.getTime() + deliveryRetryDelayMs(row.attempts, this.deps.deliveries.settings.retry)),
    );
    const webhooks = new Map<string, Promise<OwnerWebhookTable>>();
    for (const row of due) {
      if (this.stopped) break;
      try {
        await this.send(row, metadata, webhooks, pass);
      } catch (error) {
        pass.failed.push(row.keyId);
        this.totals.failedAttempts += 1;
        this.deps.logger.warn({ keyId: row.keyId, channel: row.channel, err: error }, 'delivery attempt failed; retried at its next attempt');
      }
    }
    this.totals.pending = await this.deps.pending.countKeys();
    return pass;
  }

  /** An expired delivery: recorded as expired, or dropped if its key material was never issued. */
  private async settle(keyId: string, metadata: EventMetadata, pass: PassLog): Promise<void> {
    try {
      const [row] = await this.deps.pending.rowsOf(keyId);
      if (!row) return;
      const record = await readKeyRecord(this.deps.store, keyId);
      if (!record || record.digest.digest !== row.digest) {
        await this.deps.pending.remove(keyId, row.digest);
        pass.discarded.push(keyId);
        return;
      }
      if (!(await this.deps.deliveries.expire(keyId, metadata))) {
        pass.ended.push(keyId);
        return;
      }
      pass.expired.push(keyId);
      this.deps.logger.warn({ keyId, tenant: row.tenant, owner: row.owner }, 'a delivered key was never acknowledged; its sealed copy is deleted');
    } catch (error) {
      this.deps.logger.warn({ keyId, err: error }, 'could not expire a delivery; tried again later');
    }
  }

  private async send(row: PendingDelivery, metadata: EventMetadata, webhooks: Map<string, Promise<OwnerWebhookTable>>, pass: PassLog): Promise<void> {
    const configured = this.deps.webhooks;
    // Left for a replica that sends webhooks (it was claimed, so it waits until its next attempt).
    if (row.channel === 'webhook' && !configured) return;
    const record = await readKeyRecord(this.deps.store, row.keyId);
    // Only ever the material that was issued: not yet issued (a rotation in flight, or one that
    // died before its KeyIssued) waits; other material (a rotation completed afresh) is dropped.
    if (!record) return;
    if (record.digest.digest !== row.digest) {
      await this.deps.pending.remove(row.keyId, row.digest);
      pass.discarded.push(row.keyId);
      return;
    }
    if (!(await this.deps.deliveries.stillOpen(row, metadata))) {
      pass.ended.push(row.keyId);
      return;
    }
    if (!deliveryStillUseful(record, this.clock().getTime())) {
      ((await this.deps.deliveries.expire(row.keyId, metadata)) ? pass.expired : pass.ended).push(row.keyId);
      return;
    }
    this.totals.attempts += 1;
    if (row.channel === 'nats') {
      try {
        await this.deps.publisher.publish(row.tenant, row.owner, JSON.parse(row.envelope) as SealedKeyEnvelope, row.attempts);
        pass.sent.push(row.keyId);
      } catch (error) {
        await this.failed(row, errorText(error), pass);
      }
      return;
    }
    const outcome = await this.postWebhook(row, configured!, webhooks);
    if (outcome.ok) {
      pass.sent.push(row.keyId);
      await this.deps.deliveries.acknowledgeByWebhook(row.keyId, metadata);
      pass.acknowledged.push(row.keyId);
    } else await this.failed(row, outcome.error, pass);
  }

  /** Signs the envelope with every secret of the owner's latest webhook and POSTs it there. */
  private async postWebhook(
    row: PendingDelivery,
    configured: NonNullable<DeliveryRetriesDependencies['webhooks']>,
    webhooks: Map<string, Promise<OwnerWebhookTable>>,
  ): Promise<WebhookOutcome> {
    let table = webhooks.get(row.tenant);
    if (!table) webhooks.set(row.tenant, (table = readOwnerWebhooks(this.deps.store, row.tenant)));
    const webhook = ownerWebhookOf(await table, row.owner);
    if (!webhook) return { ok: false, error: 'the owner has no webhook registered' };
    const timestamp = Math.floor(this.clock().getTime() / 1000);
    return configured.poster.post(webhook.url, row.envelope, {
      [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(row.envelope, configured.secrets.all(row.tenant, row.owner, webhook.secretId), timestamp),
      'Keyledger-Key-Id': row.keyId,
      'Keyledger-Tenant': row.tenant,
      'Keyledger-Owner': encodeURIComponent(row.owner),
      'Keyledger-Delivery-Attempt': String(row.attempts),
    });
  }

  private async failed(row: PendingDelivery, error: string, pass: PassLog): Promise<void> {
    pass.failed.push(row.keyId);
    this.totals.failedAttempts += 1;
    await this.deps.pending.recordFailure(row.keyId, row.channel, error);
    this.deps.logger.info({ keyId: row.keyId, channel: row.channel, attempt: row.attempts, error }, 'delivery attempt failed; sent again later');
  }

  private metadata(): EventMetadata {
    return { actor: this.deps.actor ?? 'system:rotator', correlationId: 'key-delivery', causationId: 'key-delivery' };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'delivery pass failed; retried at the next pass'))
        .finally(() => this.schedule(this.settings.intervalMs));
    }, delayMs);
  }
}

/** The delivery metrics of a rotator, read from its totals at scrape time. */
export function registerDeliveryMetrics(registry: Registry, deliveries: Pick<KeyDeliveries, 'counts'>, retries: Pick<DeliveryRetries, 'counts'>): void {
  scrapedCounter(
    registry,
    'keyledger_delivery_attempts_total',
    'Sends of pending deliveries this rotator made (NATS publishes and webhook POSTs)',
    () => retries.counts().attempts,
  );
  scrapedCounter(
    registry,
    'keyledger_delivery_failed_attempts_total',
    'Sends that failed (NATS refused, webhook error or non-2xx); each is retried with backoff',
    () => retries.counts().failedAttempts,
  );
  scrapedCounter(
    registry,
    'keyledger_delivery_acknowledged_total',
    'Deliveries this rotator recorded as acknowledged (NATS acks and webhook 2xx)',
    () => deliveries.counts().acknowledged,
  );
  scrapedCounter(
    registry,
    'keyledger_delivery_expired_total',
    'Deliveries nobody acknowledged before their expiry; their sealed copy was deleted',
    () => deliveries.counts().expired,
  );
  scrapedGauge(registry, 'keyledger_delivery_pending', 'Keys waiting for their owner to acknowledge them, as of the last pass', () => retries.counts().pending);
}
