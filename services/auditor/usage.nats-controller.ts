import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { NOT_JSON, inNatsServerSpan, natsCommand, natsReply, parseRequest } from '@keyledger/api-transport';
import { ApiError, apiSubject, keyUsageRequestSchema, lastUsedRequestSchema, rotationUsageRequestSchema, tenantUsageRequestSchema } from '@keyledger/contracts';
import type { KeyUsage, RotationUsage, SealedLastUsedAnswer, TenantUsage } from '@keyledger/contracts';
import { EventAuthenticator } from '@keyledger/event-auth';
import type { ReadableHeaders } from '@keyledger/event-bus';
import type { Caller } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { UsageQueries, sealLastUsedAnswer } from '@keyledger/usage-reporting';

/**
 * Usage queries over NATS request/reply: `<prefix>.v1.usage.key`, `usage.tenant` and
 * `usage.rotation` with an admin key; `usage.last-used`, the rotator's, without one.
 */
export function usageNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class UsageNatsController {
    constructor(
      @Inject(UsageQueries) private readonly usage: UsageQueries,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
      @Inject(EventAuthenticator) private readonly authenticator: EventAuthenticator,
    ) {}

    @MessagePattern(apiSubject(prefix, 'usage.key'))
    key(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyUsage>> {
      return this.handle(ctx, body, (caller) => this.usage.keyUsage(parseRequest(keyUsageRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'usage.tenant'))
    tenant(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<TenantUsage>> {
      return this.handle(ctx, body, (caller) => this.usage.tenantUsage(parseRequest(tenantUsageRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'usage.rotation'))
    rotation(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<RotationUsage>> {
      return this.handle(ctx, body, (caller) => this.usage.rotationUsage(parseRequest(rotationUsageRequestSchema, body), caller));
    }

    /**
     * Internal, for the rotator (which holds no admin key): key ids and a nonce in, last-use
     * instants and the usage watermark out, sealed under the event key over the request they
     * answer (the rotator believes nothing else). It reveals no key, owner or address.
     */
    @MessagePattern(apiSubject(prefix, 'usage.last-used'))
    lastUsed(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<SealedLastUsedAnswer>> {
      const headers = ctx.getHeaders() as ReadableHeaders | undefined;
      return natsReply(this.logger, () =>
        inNatsServerSpan(ctx.getSubject(), headers, async () => {
          if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
          const request = parseRequest(lastUsedRequestSchema, body);
          return sealLastUsedAnswer(this.authenticator, request, await this.usage.lastUsed(request));
        }),
      );
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (caller: Caller) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, async ({ authorization }) => (await this.auth.commandContext({ authorization })).caller, run);
    }
  }
  return UsageNatsController;
}
