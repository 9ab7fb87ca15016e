/**
 * The one way a Keyledger process connects to NATS: the services, the Nest transport and the CLI.
 * Kept free of tracing and logging imports, so a CLI call starts fast.
 */
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import type { ServiceEnv } from '@keyledger/config';
import { inboxPrefixOf } from '@keyledger/nats-auth';

export interface NatsConnectionOptions {
  readonly servers: string;
  /** Shown in the server's connection list (`nats server report connections`). */
  readonly name: string;
  /** The user's `.creds` (JWT and seed) and the user name it holds; absent: unauthenticated. */
  readonly creds?: { readonly text: string; readonly userName: string } | undefined;
  /** TLS: the CA the server's certificate must chain to, and a client certificate and key for mutual TLS. */
  readonly tls?: { readonly caFile?: string | undefined; readonly certFile?: string | undefined; readonly keyFile?: string | undefined } | undefined;
  /** How long the first connection may take (the CLI's request timeout). */
  readonly timeoutMs?: number;
}

/** The connection settings of a service's (or the migrate job's) configuration (`NATS_URL`, `NATS_CREDS`, `NATS_TLS_*`). */
export function natsConnectionSettings(
  config: Pick<ServiceEnv, 'NATS_URL' | 'NATS_CREDS' | 'NATS_TLS_CA_FILE' | 'NATS_TLS_CERT_FILE' | 'NATS_TLS_KEY_FILE'>,
  name: string,
): NatsConnectionOptions {
  const tls = config.NATS_TLS_CA_FILE ?? config.NATS_TLS_CERT_FILE;
  return {
    servers: config.NATS_URL,
    name,
    creds: config.NATS_CREDS,
    tls:
      tls === undefined
        ? undefined
        : { caFile: config.NATS_TLS_CA_FILE?.path, certFile: config.NATS_TLS_CERT_FILE?.path, keyFile: config.NATS_TLS_KEY_FILE?.path },
  };
}

/** Whether the connection presents a user: without one, anyone who reaches NATS can read and forge everything. */
export function isAuthenticatedBus(options: NatsConnectionOptions): boolean {
  return options.creds !== undefined;
}

/**
 * The client options every Keyledger connection uses, the services' own and the Nest NATS
 * transport's alike: unlimited reconnects (a service that loses NATS keeps running and reports
 * it in its health, rather than exiting and losing in-memory state), the user's credentials,
 * replies on the user's own inbox prefix (the only `_INBOX` subjects it may subscribe to), TLS.
 */
export function natsClientOptions(options: NatsConnectionOptions): ConnectionOptions {
  const creds = options.creds;
  return {
    servers: options.servers.split(',').map((server) => server.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds.text)), inboxPrefix: inboxPrefixOf(creds.userName) }),
    ...(options.tls === undefined
      ? {}
      : {
          tls: {
            ...(options.tls.caFile === undefined ? {} : { caFile: options.tls.caFile }),
            ...(options.tls.certFile === undefined ? {} : { certFile: options.tls.certFile }),
            ...(options.tls.keyFile === undefined ? {} : { keyFile: options.tls.keyFile }),
          },
        }),
  };
}

/** The one place Keyledger connects to NATS (the Nest NATS transport takes `natsClientOptions`). */
export function connectNats(options: NatsConnectionOptions): Promise<NatsConnection> {
  return connect(natsClientOptions(options));
}
