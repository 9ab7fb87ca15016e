import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { apiSubject } from '@keyledger/contracts';
import type { HealthRegistry } from './health.registry.js';

/** What a running instance says about itself on `<prefix>.v1.status`. */
export interface InstanceStatus {
  readonly service: string;
  readonly instance: string;
  readonly ready: boolean;
  /** `unauthenticated` when the instance connects to NATS without a user. */
  readonly bus: 'authenticated' | 'unauthenticated';
  readonly endpoints: Readonly<Record<string, string>>;
}

/**
 * Every instance of every service answers `<prefix>.v1.status` (no queue group: all of
 * them), so `keyledger status` can list what runs and where without a registry.
 */
export function answerStatusRequests(nc: NatsConnection, prefix: string, describe: () => Omit<InstanceStatus, 'ready'>, health: HealthRegistry): Subscription {
  return nc.subscribe(apiSubject(prefix, 'status'), {
    callback: (error, message) => {
      if (error) return;
      void health.readiness().then(({ ready }) => message.respond(JSON.stringify({ ...describe(), ready } satisfies InstanceStatus)));
    },
  });
}
