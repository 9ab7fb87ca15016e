import 'reflect-metadata';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { Transport } from '@nestjs/microservices';
import type { MicroserviceOptions } from '@nestjs/microservices';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KeyledgerService, ServiceEnv } from '@keyledger/config';
import { ConfigError, loadServiceConfig } from '@keyledger/config';
import type { Logger, Registry } from '@keyledger/observability';
import { createLogger, createMetricsRegistry, startTelemetry } from '@keyledger/observability';
import { NatsJsonReplySerializer, NatsJsonRequestDeserializer } from '@keyledger/api-transport';
import {
  EventStreamNotReady,
  NatsMessageLimitTooSmall,
  maxPayloadOf,
  natsClientOptions,
  natsConnectionSettings,
  watchMessageLimit,
} from '@keyledger/event-bus';
import type { Infrastructure } from './infrastructure.js';
import { openInfrastructure } from './infrastructure.js';
import { HealthRegistry } from './health.registry.js';
import { ServiceKitModule } from './service-kit.module.js';
import { answerStatusRequests } from './status-responder.js';
import { PinoNestLogger } from './pino-nest-logger.js';
import { instanceName } from './instance-name.js';

export interface ServiceContext<C extends ServiceEnv = ServiceEnv> {
  readonly service: string;
  /** This process (`instanceName`), one name wherever it is named: status answers, usage batches, projection announcements and rate-limit sync. */
  readonly instance: string;
  readonly config: C;
  readonly logger: Logger;
  readonly infrastructure: Infrastructure;
  /** Flushed and stopped when the service shuts down. */
  readonly telemetry?: { shutdown(): Promise<void> } | undefined;
  /** Prometheus registry served on /metrics. */
  readonly metrics: Registry;
}

export interface BootstrapOptions<C extends ServiceEnv> {
  /** Names the process everywhere, and its database role. */
  readonly service: KeyledgerService;
  readonly defaultPort: number;
  /** The service's own module, built with what the kit opened. */
  readonly module: (context: ServiceContext<C>) => DynamicModule;
  /** Parses the environment; a service with extra settings passes its own loader. */
  readonly loadConfig?: (env: Record<string, string | undefined>) => C;
  /** Serve @MessagePattern handlers as plain-JSON NATS request/reply, in a queue group. */
  readonly natsApi?: boolean;
  /** Extra transports, e.g. gRPC. */
  readonly microservices?: (context: ServiceContext<C>) => MicroserviceOptions[];
  /** Further endpoints to list in `keyledger status`, e.g. `{ grpc: 'host:50051' }`. */
  readonly endpoints?: (context: ServiceContext<C>) => Record<string, string>;
  /** Runs after the app is listening, e.g. to print a bootstrap secret once. */
  readonly afterStart?: (app: INestApplication, context: ServiceContext<C>) => Promise<void>;
  readonly env?: Record<string, string | undefined>;
}

/**
 * Starts a service: telemetry, config (fail fast), connections, then Nest; SIGTERM stops
 * taking work, finishes what is in flight and drains NATS before the process exits 0.
 */
export async function bootstrapService<C extends ServiceEnv = ServiceEnv>(options: BootstrapOptions<C>): Promise<INestApplication> {
  const env = options.env ?? process.env;
  const telemetry = startTelemetry(options.service, env);
  let config: C;
  try {
    config = options.loadConfig ? options.loadConfig(env) : (loadServiceConfig(env) as C);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${options.service}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger({ service: options.service, level: config.LOG_LEVEL });
  const instance = instanceName(options.service, hostname(), process.pid);
  const metrics = createMetricsRegistry(options.service);
  let infrastructure: Infrastructure;
  try {
    infrastructure = await openInfrastructure(options.service, config, { instance, logger, metrics });
  } catch (error) {
    // Not a crash to trace but a step left out (the migrate job) or a server set up too small: one line saying which.
    if (error instanceof EventStreamNotReady || error instanceof NatsMessageLimitTooSmall) {
      process.stderr.write(`${options.service}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  if (infrastructure.bus === 'unauthenticated') {
    logger.warn(
      { bus: infrastructure.bus },
      'NATS_CREDS is not set: connected to NATS without a user, so anyone who can reach NATS can read verified keys and issued keys and forge events (docs/configuration.md#nats-authentication)',
    );
  }
  const context: ServiceContext<C> = {
    service: options.service,
    instance,
    config,
    logger,
    infrastructure,
    telemetry,
    metrics,
  };
  const app = await NestFactory.create({ module: class RootModule {}, imports: [ServiceKitModule.forRoot(context), options.module(context)] } as never, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  // Replies go out on the transport's own connection, which may be on another server of the
  // cluster than the service's: the smaller of the two limits holds.
  const api: { connection?: NatsConnection | undefined } = {};
  const maxReplyBytes = (): number => Math.min(maxPayloadOf(infrastructure.nc), api.connection ? maxPayloadOf(api.connection) : Number.POSITIVE_INFINITY);
  const natsApi = options.natsApi
    ? app.connectMicroservice<MicroserviceOptions>({
        transport: Transport.NATS,
        options: {
          // The same user, TLS and reconnect policy as the service's own connection.
          ...natsClientOptions(natsConnectionSettings(config, `keyledger-${options.service}-api`)),
          queue: `keyledger-${options.service}`,
          serializer: new NatsJsonReplySerializer(maxReplyBytes, (bytes, limit) =>
            logger.error({ bytes, limit }, 'a reply exceeded the NATS message size; the caller was sent an error instead'),
          ),
          deserializer: new NatsJsonRequestDeserializer(),
        },
      })
    : undefined;
  for (const microservice of options.microservices?.(context) ?? []) app.connectMicroservice<MicroserviceOptions>(microservice);
  await app.startAllMicroservices();
  // The API's subscriptions are only queued when the transport says it listens; one round trip
  // makes the server hold them before /health/ready says 200, so a caller that waited for ready
  // never meets "no responders".
  api.connection = natsApi?.unwrap<NatsConnection>();
  await api.connection?.flush();
  // Closing the app runs every shutdown hook: stop taking work, finish what is in flight,
  // drain NATS, close the pool. Exit 0 afterwards so orchestrators see a clean stop.
  let stopping = false;
  const stop = (reason: string, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, `${options.service} stopping`);
    app.close().then(
      () => process.exit(exitCode),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Node passes the signal's number after its name: not an exit code.
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // A reconnect may reach a server (another of the cluster, or one restarted) set up smaller:
  // said in one line as at start, then stopped as on SIGTERM, so what is buffered is flushed first.
  watchMessageLimit(infrastructure.nc, (error) => {
    process.stderr.write(`${options.service}: ${error.message}\n`);
    stop('NATS max_payload too small', 78); // EX_CONFIG
  });
  const port = config.HTTP_PORT ?? options.defaultPort;
  await app.listen(port, config.HTTP_HOST);
  const address = (app.getHttpServer() as Server).address();
  const httpPort = typeof address === 'object' && address ? address.port : port;
  logger.info({ port: httpPort }, `${options.service} listening`);
  const host = config.HTTP_HOST === '0.0.0.0' ? hostname() : config.HTTP_HOST;
  answerStatusRequests(
    infrastructure.nc,
    config.KEYLEDGER_SUBJECT_PREFIX,
    () => ({
      service: options.service,
      instance: context.instance,
      bus: infrastructure.bus,
      endpoints: { http: `http://${host}:${httpPort}`, ...options.endpoints?.(context) },
    }),
    app.get(HealthRegistry),
  );
  await options.afterStart?.(app, context);
  return app;
}
