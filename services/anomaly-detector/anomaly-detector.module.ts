import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { ServiceContext } from '@keyledger/service-kit';

/** The anomaly-detector service. It boots with the shared kit (config, Postgres, NATS, health). */
@Module({})
export class AnomalyDetectorModule {
  static forService(_context: ServiceContext): DynamicModule {
    return { module: AnomalyDetectorModule };
  }
}
