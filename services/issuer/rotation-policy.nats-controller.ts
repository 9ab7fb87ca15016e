import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { apiSubject, getRotationPolicyRequestSchema, setRotationPolicyRequestSchema } from '@keyledger/contracts';
import type { RotationPolicyView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

/** Rotation policies over NATS request/reply: `<prefix>.v1.rotation-policy.set|get`, for admin keys. */
export function rotationPolicyNatsController(prefix: string): new (...args: never[]) => unknown {
  const subject = (operation: string): string => apiSubject(prefix, `rotation-policy.${operation}`);

  @Controller()
  class RotationPolicyNatsController {
    constructor(
      @Inject(TenantSettingsCommands) private readonly tenants: TenantSettingsCommands,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(subject('set'))
    set(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<RotationPolicyView>> {
      return this.handle(ctx, body, (context) => this.tenants.setRotationPolicy(parseRequest(setRotationPolicyRequestSchema, body), context));
    }

    @MessagePattern(subject('get'))
    get(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<RotationPolicyView>> {
      return this.handle(ctx, body, (context) => this.tenants.getRotationPolicy(parseRequest(getRotationPolicyRequestSchema, body), context.caller));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return RotationPolicyNatsController;
}
