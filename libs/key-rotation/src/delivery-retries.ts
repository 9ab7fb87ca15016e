import type { DeliveryChannel, EventMetadata } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { loadKey } from '@keyledger/key-commands';
import type { OwnerWebhookTable } from '@keyledger/key-domain';
import { deliveryRetryDelayMs, deliveryStillUseful, ownerWebhookOf } from '@keyledger/key-domain';
import type { DeliveryFields, SealedKeyEnvelope, SealedKeyPublisher, WebhookOutcome } from '@keyledger/key-delivery';
import { WEBHOOK_SIGNATURE_HEADER, signWebhookPayload } from '@keyledger/key-delivery';
import type { WebhookSecrets } from '@keyledger/key-secrets';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import type { PendingDeliveries, PendingDelivery } from '@keyledger/pending-deliveries';
import { PeriodicTask } from '@keyledger/service-kit';
import { readTenantSettings } from '@keyledger/tenant-settings';
import type { KeyDeliveries } from './key-deliveries.js';
import { errorText } from './key-deliveries.js';

/** POSTs a signed body to a webhook (`WebhookSender` in production). */
export interface WebhookPoster {
  /** Longest a POST may take: a send is leased for this long (and a margin). */
  readonly timeoutMs: number;
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
  /** Rows claimed per look and channel, at most. */
  readonly batchSize: number;
  /** Sends in flight at once per channel, at most. */
  readonly concurrency: number;
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

const emptyPass = (): PassLog => ({ sent: [], failed: [], acknowledged: [], expired: [], discarded: [], ended: [] });

/** Totals since start, for metrics. */
export interface DeliveryRetryCounts {
  readonly attempts: number;
  readonly failedAttempts: number;
  /** Keys waiting for acknowledgement, as of the last pass (every replica sees the same table). */
  readonly pending: number;
}

/** How long an expired row is left to the replica that claimed it before another may. */
const EXPIRY_LEASE_MS = 60_000;
/** Longest a redelivery's NATS publish waits for JetStream's answer. */
const NATS_SEND_TIMEOUT_MS = 5000;
/** Beyond a send's own timeout, for the reads and writes around it. */
const LEASE_MARGIN_MS = 5000;

/** What a stored row delivers: the same fields, so the same signed body, at every send and on every channel. */
function deliveryOf(row: PendingDelivery): DeliveryFields {
  return { tenant: row.tenant, owner: row.owner, issuedAt: row.createdAt.toISOString(), envelope: JSON.parse(row.envelope) as SealedKeyEnvelope };
}

/** Runs `work` on every item, at most `limit` at a time, in order of the items. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The rotator's redelivery loop, one per channel (NATS, webhook), so a webhook that is slow to
 * answer never holds up NATS: every `intervalMs` a channel's loop claims the pending deliveries
 * that are due (`FOR UPDATE SKIP LOCKED`, so replicas share them and never claim one send
 * twice) and sends them, `concurrency` at a time, each on its channel; the next send follows
 * with a bounded exponential backoff, until a client acknowledges (NATS), a webhook answers 2xx,
 * or the delivery expires, which is recorded and deletes the sealed copy.
 *
 * A claim is a lease, long enough for the row's turn among the sends; just before its send the
 * row is leased again for as long as that send may take (its timeout and a margin), and only if
 * nobody claimed it meanwhile, so two replicas never send one row at once. A replica that dies
 * mid-send leaves the row to be claimed again when its lease ends; a key sent twice is harmless
 * (clients ignore a key id they hold or one older, and webhook receivers are told to do the same).
 */
export class DeliveryRetries {
  private readonly clock: () => Date;
  /** One loop per channel. */
  private readonly loops: readonly PeriodicTask[];
  private stopped = false;
  private readonly totals = { attempts: 0, failedAttempts: 0, pending: 0 };

  constructor(
    private readonly deps: DeliveryRetriesDependencies,
    private readonly settings: DeliveryRetriesSettings,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    this.loops = this.channels().map(
      (channel) =>
        new PeriodicTask(
          () => this.runChannel(channel, emptyPass()),
          settings.intervalMs,
          (error) => deps.logger.warn({ err: error, channel }, 'delivery pass failed; retried at the next pass'),
        ),
    );
  }

  start(): void {
    this.stopped = false;
    for (const loop of this.loops) loop.start(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops.map((loop) => loop.stop()));
  }

  counts(): DeliveryRetryCounts {
    return { ...this.totals };
  }

  /** One pass of every channel, side by side: expire what is past its expiry, and send what is due. */
  async runOnce(): Promise<DeliveryPass> {
    const pass = emptyPass();
    await Promise.all(this.channels().map((channel) => this.runChannel(channel, pass)));
    return pass;
  }

  /** The channels this process sends on: webhooks only with a poster. */
  private channels(): DeliveryChannel[] {
    return this.deps.webhooks ? ['nats', 'webhook'] : ['nats'];
  }

  /** One pass of one channel's loop; the NATS loop also expires deliveries and counts those waiting. */
  private async runChannel(channel: DeliveryChannel, pass: PassLog): Promise<void> {
    // Nothing waiting at the last count, the usual case: count again (one query) before claiming
    // (two transactions). One stored after the count waits for the next pass, as one stored after a claim did.
    if (this.totals.pending === 0) {
      const waiting = await this.deps.pending.countKeys();
      if (channel === 'nats') this.totals.pending = waiting;
      if (waiting === 0) return;
    }
    const metadata = this.metadata();
    if (channel === 'nats') await this.expireDue(metadata, pass);
    await this.sendDue(channel, metadata, pass);
    if (channel === 'nats') this.totals.pending = await this.deps.pending.countKeys();
  }

  private async expireDue(metadata: EventMetadata, pass: PassLog): Promise<void> {
    const now = this.clock();
    const expiredKeys = new Set(
      (await this.deps.pending.claimExpired(now, this.settings.batchSize, new Date(now.getTime() + EXPIRY_LEASE_MS))).map((row) => row.keyId),
    );
    for (const keyId of expiredKeys) {
      if (this.stopped) break;
      await this.settle(keyId, metadata, pass);
    }
  }

  private async sendDue(channel: DeliveryChannel, metadata: EventMetadata, pass: PassLog): Promise<void> {
    const now = this.clock();
    const leaseMs = this.leaseMs(channel);
    const { batchSize, concurrency } = this.settings;
    // A row's turn comes once the sends before it ended, `concurrency` at a time, each within its lease.
    const due = await this.deps.pending.claimDue(
      now,
      batchSize,
      (_row, index) => new Date(now.getTime() + (Math.floor(index / concurrency) + 1) * leaseMs),
      channel,
    );
    const webhooks = new Map<string, Promise<OwnerWebhookTable>>();
    await inParallel(due, concurrency, async (row) => {
      if (this.stopped) return;
      try {
        await this.send(row, leaseMs, metadata, webhooks, pass);
      } catch (error) {
        pass.failed.push(row.keyId);
        this.totals.failedAttempts += 1;
        this.deps.logger.warn({ keyId: row.keyId, channel: row.channel, err: error }, 'delivery attempt failed; retried at its next attempt');
      }
    });
  }

  /** How long one send on a channel may hold its row: its timeout and a margin. */
  private leaseMs(channel: DeliveryChannel): number {
    return (channel === 'webhook' ? (this.deps.webhooks?.poster.timeoutMs ?? 0) : NATS_SEND_TIMEOUT_MS) + LEASE_MARGIN_MS;
  }

  /** When the send after this one (the row's `attempts`-th) is due, counted from now. */
  private nextAttemptAt(row: PendingDelivery): Date {
    return new Date(this.clock().getTime() + deliveryRetryDelayMs(row.attempts, this.deps.deliveries.settings.retry));
  }

  /** An expired delivery: recorded as expired, or dropped if its key material was never issued. */
  private async settle(keyId: string, metadata: EventMetadata, pass: PassLog): Promise<void> {
    try {
      const [row] = await this.deps.pending.rowsOf(keyId);
      if (!row) return;
      const record = (await loadKey(this.deps.store, keyId)).record;
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

  private async send(
    claimed: PendingDelivery,
    leaseMs: number,
    metadata: EventMetadata,
    webhooks: Map<string, Promise<OwnerWebhookTable>>,
    pass: PassLog,
  ): Promise<void> {
    const record = (await loadKey(this.deps.store, claimed.keyId)).record;
    // Only ever the material that was issued: not yet issued (a rotation in flight, or one that
    // died before its KeyIssued) waits; other material (a rotation completed afresh) is dropped.
    if (!record) {
      await this.deps.pending.finishAttempt(claimed, this.nextAttemptAt(claimed));
      return;
    }
    if (record.digest.digest !== claimed.digest) {
      await this.deps.pending.remove(claimed.keyId, claimed.digest);
      pass.discarded.push(claimed.keyId);
      return;
    }
    if (!(await this.deps.deliveries.stillOpen(claimed, metadata))) {
      pass.ended.push(claimed.keyId);
      return;
    }
    if (!deliveryStillUseful(record, this.clock().getTime())) {
      ((await this.deps.deliveries.expire(claimed.keyId, metadata)) ? pass.expired : pass.ended).push(claimed.keyId);
      return;
    }
    const row = await this.deps.pending.startAttempt(claimed, new Date(this.clock().getTime() + leaseMs));
    // Claimed again by another replica after this one's lease ended, or acknowledged meanwhile: not sent here.
    if (!row) return;
    this.totals.attempts += 1;
    if (row.channel === 'nats') {
      try {
        await this.deps.publisher.publish(deliveryOf(row), row.attempts, NATS_SEND_TIMEOUT_MS);
      } catch (error) {
        await this.failed(row, errorText(error), pass);
        return;
      }
      pass.sent.push(row.keyId);
      await this.deps.pending.finishAttempt(row, this.nextAttemptAt(row));
      return;
    }
    const outcome = await this.postWebhook(row, this.deps.webhooks!, webhooks);
    if (outcome.ok) {
      pass.sent.push(row.keyId);
      await this.deps.deliveries.acknowledgeByWebhook(row.keyId, metadata);
      pass.acknowledged.push(row.keyId);
    } else await this.failed(row, outcome.error, pass);
  }

  /**
   * POSTs the signed delivery (as published on NATS) to the owner's latest webhook, with an HMAC
   * of it under every secret of that webhook: the receiver can check where it came from with the
   * delivery public keys, and that its webhook was meant, with the secret.
   */
  private async postWebhook(
    row: PendingDelivery,
    configured: NonNullable<DeliveryRetriesDependencies['webhooks']>,
    webhooks: Map<string, Promise<OwnerWebhookTable>>,
  ): Promise<WebhookOutcome> {
    let table = webhooks.get(row.tenant);
    if (!table) webhooks.set(row.tenant, (table = readTenantSettings(this.deps.store, row.tenant).then((settings) => settings.ownerWebhooks)));
    const webhook = ownerWebhookOf(await table, row.owner);
    if (!webhook) return { ok: false, error: 'the owner has no webhook registered' };
    const timestamp = Math.floor(this.clock().getTime() / 1000);
    const body = this.deps.publisher.signer.body(deliveryOf(row));
    return configured.poster.post(webhook.url, body, {
      [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(body, configured.secrets.all(row.tenant, row.owner, webhook.secretId), timestamp),
      'Keyledger-Key-Id': row.keyId,
      'Keyledger-Tenant': row.tenant,
      'Keyledger-Owner': encodeURIComponent(row.owner),
      'Keyledger-Delivery-Attempt': String(row.attempts),
    });
  }

  private async failed(row: PendingDelivery, error: string, pass: PassLog): Promise<void> {
    pass.failed.push(row.keyId);
    this.totals.failedAttempts += 1;
    await this.deps.pending.finishAttempt(row, this.nextAttemptAt(row), error);
    this.deps.logger.info({ keyId: row.keyId, channel: row.channel, attempt: row.attempts, error }, 'delivery attempt failed; sent again later');
  }

  private metadata(): EventMetadata {
    return { actor: this.deps.actor ?? 'system:rotator', correlationId: 'key-delivery', causationId: 'key-delivery' };
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
