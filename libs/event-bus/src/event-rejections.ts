import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import type { EventRejectionReason, EventRejectionSource, SecurityAlert } from '@keyledger/contracts';
import { MESSAGE_HEADERS, formatUsageSeal, securityAlertSubject } from '@keyledger/contracts';
import type { EventAuthenticator, EventRejection, EventRejectionSink } from '@keyledger/event-auth';
import { AlertThrottle } from '@keyledger/event-auth';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedLabelledCounter } from '@keyledger/observability';

export interface EventRejectionsDependencies {
  readonly nc: NatsConnection;
  readonly subjectPrefix: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Names the process in alerts (its instance name). */
  readonly service: string;
  /** Seals each alert (`Keyledger-Alert-Seal`), so the auditor keeps only alerts a service raised. */
  readonly authenticator: Pick<EventAuthenticator, 'sealSecurityAlert'>;
  readonly clock?: () => number;
}

export interface AlertLimits {
  /** Alerts per interval at most; the refusals beyond are counted into the next alert. */
  readonly maxAlerts: number;
  readonly intervalMs: number;
}

export const DEFAULT_ALERT_LIMITS: AlertLimits = { maxAlerts: 5, intervalMs: 60_000 };

/**
 * What a process does with every event it refuses, in one place: counts it in
 * `keyledger_events_rejected_total{reason, source}`, logs it at error level (event id, stream,
 * subject, reason; never the data), and raises a SecurityAlert on
 * `<prefix>.v1.notifications._security`, at most `maxAlerts` per interval, each counting the
 * refusals since the previous one, so a flood of forgeries cannot flood the alert subject.
 * A refused event is never applied and never retried: the caller skips it.
 */
export class EventRejections implements EventRejectionSink {
  private readonly totals = new Map<string, { labels: { reason: EventRejectionReason; source: EventRejectionSource }; total: number }>();
  private readonly throttle: AlertThrottle;
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout;
  private latest: EventRejection | undefined;

  constructor(
    private readonly deps: EventRejectionsDependencies,
    limits: AlertLimits = DEFAULT_ALERT_LIMITS,
  ) {
    this.clock = deps.clock ?? Date.now;
    this.throttle = new AlertThrottle(limits.maxAlerts, limits.intervalMs);
    scrapedLabelledCounter(
      deps.registry,
      'keyledger_events_rejected_total',
      'Events refused (never applied, published or acted on): forged, edited, unsealed, malformed or not of their schema, by reason and where met',
      ['reason', 'source'],
      () => [...this.totals.values()].map(({ labels, total }) => [labels, total] as const),
    );
    // Refusals kept quiet by the limit are reported once the interval is over, even if no more come.
    this.timer = setInterval(() => this.summarise(), limits.intervalMs);
    this.timer.unref();
  }

  reject(rejection: EventRejection): void {
    const key = `${rejection.reason}\u0000${rejection.source}`;
    const entry = this.totals.get(key) ?? { labels: { reason: rejection.reason, source: rejection.source }, total: 0 };
    entry.total += 1;
    this.totals.set(key, entry);
    this.latest = rejection;
    this.deps.logger.error(
      {
        reason: rejection.reason,
        source: rejection.source,
        eventId: rejection.eventId,
        streamId: rejection.streamId,
        streamVersion: rejection.streamVersion,
        position: rejection.position,
        subject: rejection.subject,
        detail: rejection.detail,
      },
      'refused an event that is not authentic or not valid; it is skipped',
    );
    const count = this.throttle.record(this.clock());
    if (count !== undefined) this.alert(rejection, count);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private summarise(): void {
    const count = this.throttle.flush(this.clock());
    if (count !== undefined && this.latest) this.alert(this.latest, count);
  }

  private alert(rejection: EventRejection, rejected: number): void {
    const alert: SecurityAlert = {
      kind: 'events-rejected',
      service: this.deps.service,
      at: new Date(this.clock()).toISOString(),
      source: rejection.source,
      reason: rejection.reason,
      ...(rejection.eventId === undefined ? {} : { eventId: rejection.eventId }),
      ...(rejection.streamId === undefined ? {} : { streamId: rejection.streamId }),
      ...(rejection.subject === undefined ? {} : { subject: rejection.subject }),
      ...(rejection.position === undefined ? {} : { position: rejection.position }),
      rejected,
    };
    if (this.deps.nc.isClosed()) return;
    try {
      const payload = new TextEncoder().encode(JSON.stringify(alert));
      const sealed = headers();
      sealed.set(MESSAGE_HEADERS.alertSeal, formatUsageSeal(this.deps.authenticator.sealSecurityAlert(payload)));
      this.deps.nc.publish(securityAlertSubject(this.deps.subjectPrefix), payload, { headers: sealed });
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not publish a security alert; the refusal is counted and logged');
    }
  }
}
