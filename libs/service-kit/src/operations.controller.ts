import { Controller, Get, Inject, Res } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { HealthCheckResult } from '@nestjs/terminus';
import { HealthRegistry } from './health.registry.js';
import type { Registry } from '@keyledger/observability';
import { METRICS, SERVICE_NAME } from './tokens.js';

@Controller()
export class OperationsController {
  constructor(
    @Inject(HealthRegistry) private readonly registry: HealthRegistry,
    @Inject(SERVICE_NAME) private readonly service: string,
    @Inject(METRICS) private readonly metrics: Registry,
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
  ) {}

  /** Prometheus exposition of this process's metrics. */
  @Get('metrics')
  async prometheus(@Res({ passthrough: true }) response: { setHeader(name: string, value: string): unknown }): Promise<string> {
    response.setHeader('Content-Type', this.metrics.contentType);
    return this.metrics.metrics();
  }

  /** The process is up and its event loop answers: `{ status: 'ok', details: { <service>: { status: 'up' } } }`. */
  @Get('health/live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check(this.service).up()]);
  }

  /**
   * Every registered check: 200 with status `ok` (or `degraded` when only a report-only check
   * fails) when ready to take work; 503 with status `error` otherwise, and `shutting_down`
   * once the service stops.
   */
  @Get('health/ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check(this.registry.indicators(this.indicators));
  }
}
