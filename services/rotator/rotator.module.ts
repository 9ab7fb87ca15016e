import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { ServiceContext } from '@keyledger/service-kit';

/** The rotator service. It boots with the shared kit (config, Postgres, NATS, health). */
@Module({})
export class RotatorModule {
  static forService(_context: ServiceContext): DynamicModule {
    return { module: RotatorModule };
  }
}
