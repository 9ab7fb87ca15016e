import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { apiSubject, auditAtRequestSchema, auditCheckRequestSchema, auditSearchRequestSchema, auditTrailRequestSchema } from '@keyledger/contracts';
import type { AuditCheck, AuditKeyAt, AuditSearchPage, AuditTrail } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { AuditSearch, KeyHistory } from '@keyledger/key-history';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** A key's history over NATS request/reply with an admin key: `<prefix>.v1.audit.trail`, `audit.at` and `audit.check`; and `audit.search` over every stream's trail. */
export function keyHistoryNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class KeyHistoryNatsController {
    constructor(
      @Inject(KeyHistory) private readonly history: KeyHistory,
      @Inject(AuditSearch) private readonly trailSearch: AuditSearch,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'audit.trail'))
    trail(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditTrail>> {
      return this.handle(ctx, body, (caller) => this.history.trail(parseRequest(auditTrailRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'audit.at'))
    at(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditKeyAt>> {
      return this.handle(ctx, body, (caller) => this.history.at(parseRequest(auditAtRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'audit.check'))
    check(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditCheck>> {
      return this.handle(ctx, body, (caller) => this.history.check(parseRequest(auditCheckRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'audit.search'))
    search(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditSearchPage>> {
      return this.handle(ctx, body, (caller) => this.trailSearch.search(parseRequest(auditSearchRequestSchema, body), caller));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (caller: Caller) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, async ({ authorization }) => (await this.auth.commandContext({ authorization })).caller, run);
    }
  }
  return KeyHistoryNatsController;
}
