import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { anomalyExplainRequestSchema, anomalyListRequestSchema, apiSubject } from '@keyledger/contracts';
import type { AnomalyExplanation, AnomalyFindingsPage, SourceAnomalyExplanation } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { AnomalyFindings } from '@keyledger/key-history';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** Anomaly findings over NATS request/reply with an admin key: `<prefix>.v1.anomalies.list` and `anomalies.explain`. */
export function anomaliesNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class AnomaliesNatsController {
    constructor(
      @Inject(AnomalyFindings) private readonly findings: AnomalyFindings,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'anomalies.list'))
    list(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AnomalyFindingsPage>> {
      return this.handle(ctx, body, (caller) => this.findings.list(parseRequest(anomalyListRequestSchema, body), caller));
    }

    @MessagePattern(apiSubject(prefix, 'anomalies.explain'))
    explain(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AnomalyExplanation | SourceAnomalyExplanation>> {
      return this.handle(ctx, body, (caller) => this.findings.explain(parseRequest(anomalyExplainRequestSchema, body), caller));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (caller: Caller) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, async ({ authorization }) => (await this.auth.commandContext({ authorization })).caller, run);
    }
  }
  return AnomaliesNatsController;
}
