import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { ServiceContext } from '@keyledger/service-kit';

/** The issuer service. It boots with the shared kit (config, Postgres, NATS, health). */
@Module({})
export class IssuerModule {
  static forService(_context: ServiceContext): DynamicModule {
    return { module: IssuerModule };
  }
}
