import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import type { ServiceEnv } from '@keyledger/config';
import { ConfigError, loadServiceConfig } from '@keyledger/config';
import type { Logger } from '@keyledger/observability';
import { createLogger, startTelemetry } from '@keyledger/observability';
import type { Infrastructure } from './infrastructure.js';
import { openInfrastructure } from './infrastructure.js';
import { ServiceKitModule } from './service-kit.module.js';

export interface ServiceContext {
  readonly service: string;
  readonly config: ServiceEnv;
  readonly logger: Logger;
  readonly infrastructure: Infrastructure;
  /** Flushed and stopped when the service shuts down. */
  readonly telemetry?: { shutdown(): Promise<void> } | undefined;
}

export interface BootstrapOptions {
  readonly service: string;
  readonly defaultPort: number;
  /** The service's own module, built with what the kit opened. */
  readonly module: (context: ServiceContext) => DynamicModule;
  readonly env?: Record<string, string | undefined>;
}

/**
 * Starts a service: telemetry, config (fail fast), connections, then Nest with shutdown
 * hooks so SIGTERM stops taking work, finishes what is in flight and drains NATS.
 */
export async function bootstrapService(options: BootstrapOptions): Promise<INestApplication> {
  const env = options.env ?? process.env;
  const telemetry = startTelemetry(options.service, env);
  let config: ServiceEnv;
  try {
    config = loadServiceConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${options.service}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger({ service: options.service, level: config.LOG_LEVEL });
  const infrastructure = await openInfrastructure(options.service, config);
  const context: ServiceContext = { service: options.service, config, logger, infrastructure, telemetry };
  const app = await NestFactory.create({ module: class RootModule {}, imports: [ServiceKitModule.forRoot(context), options.module(context)] } as never, {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  // Closing the app runs every shutdown hook: stop taking work, finish what is in flight,
  // drain NATS, close the pool. Exit 0 afterwards so orchestrators see a clean stop.
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, `${options.service} stopping`);
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const port = config.HTTP_PORT ?? options.defaultPort;
  await app.listen(port, config.HTTP_HOST);
  logger.info({ port }, `${options.service} listening`);
  return app;
}
