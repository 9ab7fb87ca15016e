import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectionOptions {
  readonly servers: string;
  /** Shown in the server's connection list (`nats server report connections`). */
  readonly name: string;
}

/**
 * Connects with unlimited reconnects: a service that loses NATS keeps running and reports
 * it in its health, rather than exiting and losing in-memory state.
 */
export function connectNats(options: NatsConnectionOptions): Promise<NatsConnection> {
  return connect({
    servers: options.servers.split(',').map((server) => server.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
  });
}
