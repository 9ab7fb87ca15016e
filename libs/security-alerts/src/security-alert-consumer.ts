import type { MsgHdrs } from '@nats-io/transport-node';
import { DURABLE_CONSUMER_NAMES, securityAlertSchema, securityAlertSubject } from '@keyledger/contracts';
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

/** The one way from a message of the alert subject to an alert: JSON, then the alert's strict schema. */
export function decodeSecurityAlert(data: Uint8Array, _subject?: string, _headers?: MsgHdrs): IdentifiedAlert {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw new MalformedSecurityAlertError(`security alert is not JSON: ${(error as Error).message}`);
  }
  const parsed = securityAlertSchema.safeParse(json);
  if (!parsed.success)
    throw new MalformedSecurityAlertError(`not a SecurityAlert: ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
  return { alertId: alertIdOf(data), alert: parsed.data };
}

export interface SecurityAlertConsumerSettings extends ConsumerSettings {
  /** Alerts (messages) stored per statement at most. */
  readonly alertsPerStore: number;
}

/**
 * Makes the services' SecurityAlerts durable: a durable consumer of the notification stream,
 * filtered to `<prefix>.v1.notifications._security`, stores each alert in the alert log and
 * then acknowledges it. A crash before the acknowledgement delivers it again and the log knows
 * its id, so the log holds every alert the stream kept, once. What a message claims is checked
 * against the schema only: an alert carries no seal, so it is believed as far as NATS
 * permissions go (only Keyledger's services may publish on the subject).
 */
export class SecurityAlertConsumer extends DurableConsumer<IdentifiedAlert> {
  constructor(deps: DurableConsumerDependencies & { readonly log: Pick<SecurityAlertLog, 'store'> }, settings: SecurityAlertConsumerSettings) {
    const handler: BatchHandler<IdentifiedAlert> = {
      decode: decodeSecurityAlert,
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
