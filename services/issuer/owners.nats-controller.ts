import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import type { ReadableHeaders } from '@keyledger/event-bus';
import { NOT_JSON, inNatsServerSpan, natsReply } from '@keyledger/api-transport';
import { ApiError, apiSubject, registerOwnerPublicKeyRequestSchema } from '@keyledger/contracts';
import type { OwnerPublicKeyView } from '@keyledger/contracts';
import { AdminAuthenticator, KeyManagement, parseRequest } from '@keyledger/key-management';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** Owners over NATS request/reply: `<prefix>.v1.owners.register-public-key`, for admin keys with write access. */
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
      const headers = ctx.getHeaders() as ReadableHeaders | undefined;
      return natsReply(this.logger, () =>
        inNatsServerSpan(ctx.getSubject(), headers, () => {
          if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
          const context = this.auth.commandContext({
            authorization: headers?.get('Authorization'),
            correlationId: headers?.get('Keyledger-Correlation-Id'),
            traceparent: headers?.get('traceparent'),
          });
          return this.keys.registerOwnerPublicKey(parseRequest(registerOwnerPublicKeyRequestSchema, body), context);
        }),
      );
    }
  }

  return OwnersNatsController;
}
