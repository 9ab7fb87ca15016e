import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand } from '@keyledger/api-transport';
import { apiSubject, registerOwnerPublicKeyRequestSchema, registerOwnerWebhookRequestSchema } from '@keyledger/contracts';
import type { OwnerPublicKeyView, OwnerWebhookView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/key-management';
import { AdminAuthenticator, KeyManagement, parseRequest } from '@keyledger/key-management';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** Owners over NATS request/reply: `<prefix>.v1.owners.register-public-key` and `owners.register-webhook`, for admin keys with write access. */
export function ownersNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class OwnersNatsController {
    constructor(
      @Inject(KeyManagement) private readonly keys: KeyManagement,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'owners.register-public-key'))
    registerPublicKey(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<OwnerPublicKeyView>> {
      return this.handle(body, ctx, (context) => this.keys.registerOwnerPublicKey(parseRequest(registerOwnerPublicKeyRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'owners.register-webhook'))
    registerWebhook(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<OwnerWebhookView>> {
      return this.handle(body, ctx, (context) => this.keys.registerOwnerWebhook(parseRequest(registerOwnerWebhookRequestSchema, body), context));
    }

    private handle<T>(body: unknown, ctx: NatsContext, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return OwnersNatsController;
}
