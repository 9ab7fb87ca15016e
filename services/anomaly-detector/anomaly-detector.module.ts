import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { ServiceContext } from '@keyledger/service-kit';

/** The anomaly-detector service: it boots with the shared kit (config, Postgres, NATS, health) and detects nothing yet. */
@Module({})
export class AnomalyDetectorModule {
  static forService(_context: ServiceContext): DynamicModule {
    return { module: AnomalyDetectorModule };
  }
}
