import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { NOT_JSON, inNatsServerSpan, natsReply, parseRequest } from '@keyledger/api-transport';
import { ApiError, apiSubject, auditCheckpointRequestSchema, auditConsistencyRequestSchema, auditInclusionRequestSchema } from '@keyledger/contracts';
import type { AuditCheckpoint, AuditConsistencyProof, AuditInclusionProof } from '@keyledger/contracts';
import type { ReadableHeaders } from '@keyledger/event-bus';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { AuditLog } from '@keyledger/transparency-log';

/**
 * The transparency log over NATS request/reply: `<prefix>.v1.audit.checkpoint`,
 * `audit.inclusion` and `audit.consistency`. No admin key: the answers are hashes and signed
 * checkpoints, which anyone may check and which reveal no event; who may ask is the NATS
 * permission table's call (the auditor answers, admin clients ask).
 */
export function auditLogNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class AuditLogNatsController {
    constructor(
      @Inject(AuditLog) private readonly log: AuditLog,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'audit.checkpoint'))
    checkpoint(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditCheckpoint>> {
      return this.handle(ctx, body, (request) => this.log.checkpoint(parseRequest(auditCheckpointRequestSchema, request).refresh));
    }

    @MessagePattern(apiSubject(prefix, 'audit.inclusion'))
    inclusion(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditInclusionProof>> {
      return this.handle(ctx, body, (request) => this.log.inclusion(parseRequest(auditInclusionRequestSchema, request)));
    }

    @MessagePattern(apiSubject(prefix, 'audit.consistency'))
    consistency(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditConsistencyProof>> {
      return this.handle(ctx, body, (request) => this.log.consistency(parseRequest(auditConsistencyRequestSchema, request)));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (request: unknown) => Promise<T>): Promise<NatsReply<T>> {
      return natsReply(this.logger, () =>
        inNatsServerSpan(ctx.getSubject(), ctx.getHeaders() as ReadableHeaders | undefined, () => {
          if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
          // An empty request is `{}`: the checkpoint needs nothing.
          return run(body ?? {});
        }),
      );
    }
  }
  return AuditLogNatsController;
}
