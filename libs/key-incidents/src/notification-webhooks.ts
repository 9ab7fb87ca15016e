import type { TenantNotification } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, MESSAGE_HEADERS, notificationSubject, securityAlertSubject, tenantNotificationSchema } from '@keyledger/contracts';
import type { ConsumerSettings, DurableConsumerDependencies, MessageHandler, RedeliveryPolicy } from '@keyledger/consumer-runtime';
import { DurableConsumer } from '@keyledger/consumer-runtime';
import type { EventAuthentication } from '@keyledger/event-auth';
import { refuseUnlessSealed } from '@keyledger/event-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { WebhookSender } from '@keyledger/key-delivery';
import { WEBHOOK_SIGNATURE_HEADER, signWebhookPayload } from '@keyledger/key-delivery';
import type { WebhookSecrets } from '@keyledger/key-secrets';
import type { Registry } from '@keyledger/observability';
import { scrapedLabelledCounter } from '@keyledger/observability';
import { readTenantSettings } from '@keyledger/tenant-settings';

/** The header naming the notification a POST carries (its incident id): the same on every retry, so a receiver can drop repeats. */
export const NOTIFICATION_ID_HEADER = 'Keyledger-Notification-Id';

/**
 * How a notification whose webhook failed is tried again: 10 POSTs over about 27 minutes, then it
 * is dead-lettered (the notification stream keeps it a week besides). Bounded, so a webhook gone
 * for good does not hold a message forever.
 */
export const NOTIFICATION_WEBHOOK_REDELIVERY: RedeliveryPolicy = { maxDeliveries: 10, backoffMs: [1_000, 5_000, 30_000, 60_000, 300_000] };

/** How long after a failed POST a tenant's webhook is left alone (its notifications nak'ed without a POST). */
export const FAILING_WEBHOOK_PAUSE_MS = 30_000;

/** A webhook that did not answer 2xx: the message is nak'ed and sent again by the redelivery policy. */
export class NotificationWebhookFailedError extends Error {
  constructor(tenant: string, reason: string) {
    super(`notification webhook of ${tenant} failed: ${reason}`);
    this.name = 'NotificationWebhookFailedError';
  }
}

/** A message of the notification stream: a tenant's notification with its exact bytes, or a SecurityAlert (not a tenant's, skipped). */
export type NotificationMessage =
  { readonly kind: 'tenant'; readonly notification: TenantNotification; readonly body: string } | { readonly kind: 'security-alert' };

export interface NotificationWebhookDependencies extends DurableConsumerDependencies {
  /** The tenant's stream says where its webhook is, read for each notification (a registration applies at once). */
  readonly store: Pick<PostgresEventStore, 'readStream'>;
  readonly poster: Pick<WebhookSender, 'post' | 'timeoutMs'>;
  readonly secrets: Pick<WebhookSecrets, 'all'>;
  /** Checks each notification's seal; a refusal is reported to its sink. */
  readonly auth: EventAuthentication;
  /** How long a tenant's webhook is left alone after a failed POST; FAILING_WEBHOOK_PAUSE_MS by default. */
  readonly failingWebhookPauseMs?: number;
  readonly clock?: () => Date;
}

/** What the POSTs came to since start, for metrics. */
export interface NotificationWebhookCounts {
  readonly delivered: number;
  readonly failed: number;
}

/**
 * POSTs every tenant notification (`<prefix>.v1.notifications.<tenant>`) to the tenant's
 * notification webhook, signed as owners' webhooks are, through a durable consumer of the
 * notification stream (`rotator-notification-webhooks`, shared by the rotator's replicas). A
 * message is acknowledged only once its webhook answered 2xx (or the tenant has none), so a
 * process killed mid-POST leaves it to be sent again: at least once, the notification id in a
 * header for receivers to drop repeats. One message at a time: a webhook that does not answer
 * holds the others back by the sender's timeout per attempt, no longer.
 */
export class NotificationWebhookConsumer extends DurableConsumer<NotificationMessage> {
  private delivered = 0;
  private failed = 0;
  /** Tenants whose webhook failed, and until when their notifications are not POSTed (our clock, ms). */
  private readonly failingUntil = new Map<string, number>();

  constructor(deps: NotificationWebhookDependencies, settings: ConsumerSettings) {
    const prefix = deps.topology.subjectPrefix;
    const alerts = securityAlertSubject(prefix);
    const clock = deps.clock ?? (() => new Date());
    const handler: MessageHandler<NotificationMessage> = {
      decode: (data, subject, headers) => {
        // The same stream carries SecurityAlerts (NATS 2.9 filters on one subject): they are nobody's notification.
        if (subject === alerts) return { kind: 'security-alert' };
        // Sealed under the event keys by the service that published it: one a NATS user made up
        // is never POSTed under the tenant's signature. Refused, it is acknowledged and skipped.
        const seal = headers?.get(MESSAGE_HEADERS.notificationSeal) ?? '';
        const refusal = refuseUnlessSealed(seal, (parsed) => deps.auth.authenticator.checkNotification(data, parsed), 'a tenant notification', 'body');
        if (refusal) {
          deps.auth.rejections.reject({ source: 'bus', reason: refusal.reason, subject, detail: refusal.detail });
          return undefined;
        }
        const body = new TextDecoder().decode(data);
        const notification = tenantNotificationSchema.parse(JSON.parse(body));
        // A notification reaches the webhook of the tenant whose subject it was published on, and names that tenant.
        if (notificationSubject(prefix, notification.tenant) !== subject) throw new Error(`a notification of ${notification.tenant} on ${subject}`);
        return { kind: 'tenant', notification, body };
      },
      id: (item) => (item.kind === 'tenant' ? item.notification.incidentId : 'security-alert'),
      occurredAt: (item) => (item.kind === 'tenant' ? item.notification.at : undefined),
      handle: async (item) => {
        // Nothing to send (an alert, a tenant without a webhook): acknowledged, counted by the runtime as a duplicate.
        if (item.kind !== 'tenant') return false;
        const { tenant, incidentId } = item.notification;
        const webhook = (await readTenantSettings(deps.store, tenant)).notificationWebhook;
        if (!webhook) return false;
        // One consumer serves every tenant: after a failure, the tenant's next notifications wait
        // their turn of the redelivery policy without a POST, so a webhook that hangs costs the
        // others one timeout per pause, not one per notification.
        const now = clock().getTime();
        if ((this.failingUntil.get(tenant) ?? 0) > now) throw new NotificationWebhookFailedError(tenant, 'its webhook failed a moment ago; tried again later');
        const outcome = await deps.poster.post(webhook.url, item.body, {
          [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(item.body, deps.secrets.all(tenant, null, webhook.secretId), Math.floor(clock().getTime() / 1000)),
          [NOTIFICATION_ID_HEADER]: incidentId,
          'Keyledger-Tenant': tenant,
        });
        if (!outcome.ok) {
          this.failed += 1;
          this.failingUntil.set(tenant, clock().getTime() + (deps.failingWebhookPauseMs ?? FAILING_WEBHOOK_PAUSE_MS));
          throw new NotificationWebhookFailedError(tenant, outcome.error);
        }
        this.failingUntil.delete(tenant);
        this.delivered += 1;
        return true;
      },
    };
    super(
      deps,
      {
        name: DURABLE_CONSUMER_NAMES.rotatorNotificationWebhooks,
        stream: deps.topology.notificationStream,
        filterSubject: deps.topology.notificationSubjects,
        // From its first start on: the notifications before it went to no webhook (none could be
        // registered), and those of the release before carry no seal, so each would be refused.
        startAt: 'new',
      },
      // One at a time: a message waiting in a prefetch buffer behind slow POSTs would outlive its ack wait and come twice.
      { kind: 'single', handler, prefetch: 1 },
      // JetStream must not redeliver a message whose POST is still within its timeout.
      { ...settings, ackWaitMs: Math.max(settings.ackWaitMs, 2 * deps.poster.timeoutMs) },
    );
  }

  /** POSTs answered 2xx, and those that failed (each retried), since start. */
  webhookCounts(): NotificationWebhookCounts {
    return { delivered: this.delivered, failed: this.failed };
  }
}

/** `keyledger_notification_webhook_posts_total{outcome}`: the rotator's POSTs to tenants' notification webhooks (lag and retries are the consumer's metrics). */
export function registerNotificationWebhookMetrics(registry: Registry, consumer: Pick<NotificationWebhookConsumer, 'webhookCounts'>): void {
  scrapedLabelledCounter(
    registry,
    'keyledger_notification_webhook_posts_total',
    "POSTs of tenants' notifications to their webhooks, by outcome",
    ['outcome'],
    () => {
      const { delivered, failed } = consumer.webhookCounts();
      return [
        [{ outcome: 'delivered' }, delivered],
        [{ outcome: 'failed' }, failed],
      ] as const;
    },
  );
}
