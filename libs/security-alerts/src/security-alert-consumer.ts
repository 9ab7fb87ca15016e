import type { MsgHdrs } from '@nats-io/transport-node';
import { DURABLE_CONSUMER_NAMES, MESSAGE_HEADERS, parseUsageSeal, securityAlertSchema, securityAlertSubject } from '@keyledger/contracts';
import type { EventAuthentication, SealRefusal } from '@keyledger/event-auth';
import { refuseUnlessSealed } from '@keyledger/event-auth';
import type { BatchHandler, ConsumerSettings, DurableConsumerDependencies } from '@keyledger/consumer-runtime';
import { DurableConsumer } from '@keyledger/consumer-runtime';
import type { IdentifiedAlert, SecurityAlertLog } from './security-alert-log.js';
import { alertIdOf } from './security-alert-log.js';

/** A message on the alert subject that is not a SecurityAlert: dead-lettered at once, to be looked at. */
export class MalformedSecurityAlertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedSecurityAlertError';
  }
}

/**
 * The one way from a message of the alert subject to an alert: its seal (`Keyledger-Alert-Seal`,
 * over the key version and the body's exact bytes) under the event keys, then JSON, then the
 * alert's strict schema. A message without a valid seal (NATS permissions let every service
 * publish there, and a NATS user without event keys might) is reported to the rejection sink
 * (counted, logged, alerted with a seal of the auditor's own) and answered undefined: the
 * consumer acknowledges and skips it, so a stranger cannot fill the dead letters. A sealed
 * message that is no alert (a service's bug) throws MalformedSecurityAlertError: dead-lettered.
 */
export class SecurityAlertReader {
  constructor(private readonly auth: EventAuthentication) {}

  read(data: Uint8Array, subject: string, headers: MsgHdrs | undefined): IdentifiedAlert | undefined {
    const header = headers?.get(MESSAGE_HEADERS.alertSeal) ?? '';
    const refusal = refuseUnlessSealed(header, (seal) => this.auth.authenticator.checkSecurityAlert(data, seal), 'a security alert', 'body');
    if (refusal) return this.refuse(subject, refusal);
    // Sealed: the header parses.
    const seal = parseUsageSeal(header)!;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(data));
    } catch (error) {
      throw new MalformedSecurityAlertError(`security alert is not JSON: ${(error as Error).message}`);
    }
    const parsed = securityAlertSchema.safeParse(json);
    if (!parsed.success)
      throw new MalformedSecurityAlertError(`not a SecurityAlert: ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
    return { alertId: alertIdOf(data), alert: parsed.data, body: data, seal };
  }

  private refuse(subject: string, { reason, detail }: SealRefusal): undefined {
    this.auth.rejections.reject({ source: 'bus', reason, subject, detail });
    return undefined;
  }
}

export interface SecurityAlertConsumerSettings extends ConsumerSettings {
  /** Alerts (messages) stored per statement at most. */
  readonly alertsPerStore: number;
}

/**
 * Makes the services' SecurityAlerts durable: a durable consumer of the notification stream,
 * filtered to `<prefix>.v1.notifications._security`, stores each alert in the alert log and
 * then acknowledges it. A crash before the acknowledgement delivers it again and the log knows
 * its id, so the log holds every sealed alert the stream kept, once (SecurityAlertReader).
 */
export class SecurityAlertConsumer extends DurableConsumer<IdentifiedAlert> {
  constructor(
    deps: DurableConsumerDependencies & { readonly log: Pick<SecurityAlertLog, 'store'>; readonly auth: EventAuthentication },
    settings: SecurityAlertConsumerSettings,
  ) {
    const reader = new SecurityAlertReader(deps.auth);
    const handler: BatchHandler<IdentifiedAlert> = {
      decode: (data, subject, headers) => reader.read(data, subject, headers),
      id: (item) => item.alertId,
      occurredAt: (item) => item.alert.at,
      store: (items) => deps.log.store(items),
    };
    super(
      deps,
      {
        name: DURABLE_CONSUMER_NAMES.auditorSecurityAlerts,
        stream: deps.topology.notificationStream,
        filterSubject: securityAlertSubject(deps.topology.subjectPrefix),
      },
      { kind: 'batch', handler, maxMessages: settings.alertsPerStore, maxWaitMs: 0 },
      settings,
    );
  }
}
