import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { anomalyAckRequestSchema, apiSubject } from '@keyledger/contracts';
import type { AnomalyAckResult } from '@keyledger/contracts';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { AnomalyAcknowledgements } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** Acknowledging anomaly findings over NATS request/reply: `<prefix>.v1.anomalies.ack`. */
export function anomaliesNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class AnomaliesNatsController {
    constructor(
      @Inject(AnomalyAcknowledgements) private readonly acknowledgements: AnomalyAcknowledgements,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'anomalies.ack'))
    ack(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AnomalyAckResult>> {
      return natsCommand(
        this.logger,
        ctx,
        body,
        (credentials) => this.auth.commandContext(credentials),
        (context) => this.acknowledgements.acknowledge(parseRequest(anomalyAckRequestSchema, body), context),
      );
    }
  }
  return AnomaliesNatsController;
}
