import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { apiSubject, registerOwnerPublicKeyRequestSchema, registerOwnerWebhookRequestSchema } from '@keyledger/contracts';
import type { OwnerPublicKeyView, OwnerWebhookView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

/** Owners over NATS request/reply: `<prefix>.v1.owners.register-public-key` and `owners.register-webhook`, for admin keys with write access. */
export function ownersNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class OwnersNatsController {
    constructor(
      @Inject(TenantSettingsCommands) private readonly tenants: TenantSettingsCommands,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'owners.register-public-key'))
    registerPublicKey(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<OwnerPublicKeyView>> {
      return this.handle(body, ctx, (context) => this.tenants.registerOwnerPublicKey(parseRequest(registerOwnerPublicKeyRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'owners.register-webhook'))
    registerWebhook(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<OwnerWebhookView>> {
      return this.handle(body, ctx, (context) => this.tenants.registerOwnerWebhook(parseRequest(registerOwnerWebhookRequestSchema, body), context));
    }

    private handle<T>(body: unknown, ctx: NatsContext, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return OwnersNatsController;
}
