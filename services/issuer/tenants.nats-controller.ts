import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { apiSubject, registerNotificationWebhookRequestSchema, removeNotificationWebhookRequestSchema } from '@keyledger/contracts';
import type { NotificationWebhookView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

/**
 * A tenant's notification webhook over NATS request/reply: `<prefix>.v1.tenants.register-notification-webhook`
 * and `tenants.remove-notification-webhook`, for admin keys with write access to the tenant.
 */
export function tenantsNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class TenantsNatsController {
    constructor(
      @Inject(TenantSettingsCommands) private readonly tenants: TenantSettingsCommands,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'tenants.register-notification-webhook'))
    registerNotificationWebhook(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<NotificationWebhookView>> {
      return this.handle(body, ctx, (context) =>
        this.tenants.registerNotificationWebhook(parseRequest(registerNotificationWebhookRequestSchema, body), context),
      );
    }

    @MessagePattern(apiSubject(prefix, 'tenants.remove-notification-webhook'))
    removeNotificationWebhook(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<NotificationWebhookView>> {
      return this.handle(body, ctx, (context) => this.tenants.removeNotificationWebhook(parseRequest(removeNotificationWebhookRequestSchema, body), context));
    }

    private handle<T>(body: unknown, ctx: NatsContext, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return TenantsNatsController;
}
