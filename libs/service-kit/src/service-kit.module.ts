import { Global, Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { ServiceEnv } from '@keyledger/config';
import type { Logger, Registry } from '@keyledger/observability';
import { OperationsController } from './operations.controller.js';
import { HealthRegistry } from './health.registry.js';
import type { Infrastructure } from './infrastructure.js';
import { INFRASTRUCTURE, LOGGER, METRICS, SERVICE_CONFIG, SERVICE_NAME, TELEMETRY } from './tokens.js';

/** How long the readiness check waits for NATS to answer a ping. */
const NATS_PING_TIMEOUT_MS = 1000;

/** True when `work` settles successfully within `ms`; false when it fails or takes longer. */
async function raceTimeout(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ServiceKitOptions {
  readonly service: string;
  readonly config: ServiceEnv;
  readonly logger: Logger;
  readonly infrastructure: Infrastructure;
  readonly telemetry?: { shutdown(): Promise<void> } | undefined;
  readonly metrics: Registry;
}

/**
 * What every Keyledger service shares: its config, logger, Postgres and NATS connections
 * (opened before Nest starts, so a service that cannot reach them fails at once with a
 * clear message), the health endpoints (Terminus) and /metrics.
 */
@Global()
@Module({})
export class ServiceKitModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure,
    @Inject(TELEMETRY) private readonly telemetry: { shutdown(): Promise<void> } | undefined,
  ) {}

  static forRoot(options: ServiceKitOptions): DynamicModule {
    const providers = [
      { provide: SERVICE_NAME, useValue: options.service },
      { provide: SERVICE_CONFIG, useValue: options.config },
      { provide: LOGGER, useValue: options.logger },
      { provide: INFRASTRUCTURE, useValue: options.infrastructure },
      { provide: TELEMETRY, useValue: options.telemetry },
      { provide: METRICS, useValue: options.metrics },
      HealthRegistry,
    ];
    return {
      module: ServiceKitModule,
      // No Terminus logger: a service that is not ready fails every probe, and the reasons
      // are in the response and in `keyledger status` rather than a log line every few seconds.
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [OperationsController],
      providers,
      exports: providers,
    };
  }

  onModuleInit(): void {
    const { db, nc, bus } = this.infrastructure;
    this.health.register('postgres', async () => {
      await db.query('select 1');
      return { healthy: true };
    });
    // A round trip, not the client's state: while it reconnects the client is neither closed
    // nor draining, yet nothing it publishes arrives.
    this.health.register('nats', async () => {
      if (nc.isClosed() || nc.isDraining()) return { healthy: false, details: { server: nc.getServer(), bus, error: 'connection closed' } };
      const roundTrip = await raceTimeout(nc.flush(), NATS_PING_TIMEOUT_MS);
      return roundTrip ? { healthy: true, details: { server: nc.getServer(), bus } } : { healthy: false, details: { server: nc.getServer(), bus, error: `no answer from NATS within ${NATS_PING_TIMEOUT_MS} ms` } };
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.infrastructure.close();
    await this.telemetry?.shutdown();
  }
}
