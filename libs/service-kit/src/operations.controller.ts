import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { HealthRegistry } from './health.registry.js';
import type { Registry } from '@keyledger/observability';
import { METRICS, SERVICE_NAME } from './tokens.js';

@Controller()
export class OperationsController {
  constructor(
    @Inject(HealthRegistry) private readonly registry: HealthRegistry,
    @Inject(SERVICE_NAME) private readonly service: string,
    @Inject(METRICS) private readonly metrics: Registry,
  ) {}

  /** Prometheus exposition of this process's metrics. */
  @Get('metrics')
  async prometheus(@Res({ passthrough: true }) response: { setHeader(name: string, value: string): unknown }): Promise<string> {
    response.setHeader('Content-Type', this.metrics.contentType);
    return this.metrics.metrics();
  }

  /** The process is up and its event loop answers. */
  @Get('health/live')
  @HttpCode(200)
  live(): { status: 'ok'; service: string } {
    return { status: 'ok', service: this.service };
  }

  /** Every dependency answers: 200 when ready to take work, 503 otherwise. */
  @Get('health/ready')
  async ready(@Res({ passthrough: true }) response: { status(code: number): unknown }): Promise<Record<string, unknown>> {
    const { ready, checks } = await this.registry.readiness();
    response.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not-ready', service: this.service, checks };
  }
}
