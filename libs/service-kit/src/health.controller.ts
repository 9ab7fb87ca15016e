import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { HealthRegistry } from './health.registry.js';
import { SERVICE_NAME } from './tokens.js';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthRegistry) private readonly registry: HealthRegistry,
    @Inject(SERVICE_NAME) private readonly service: string,
  ) {}

  /** The process is up and its event loop answers. */
  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok'; service: string } {
    return { status: 'ok', service: this.service };
  }

  /** Every dependency answers: 200 when ready to take work, 503 otherwise. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: { status(code: number): unknown }): Promise<Record<string, unknown>> {
    const { ready, checks } = await this.registry.readiness();
    response.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not-ready', service: this.service, checks };
  }
}
