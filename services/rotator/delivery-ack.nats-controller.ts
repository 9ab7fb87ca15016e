import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import type { ReadableHeaders } from '@keyledger/event-bus';
import { NOT_JSON, inNatsServerSpan, natsReply, parseRequest } from '@keyledger/api-transport';
import { ApiError, acknowledgeDeliveryRequestSchema, deliveryAckSubject } from '@keyledger/contracts';
import type { DeliveryAckResult } from '@keyledger/contracts';
import { KeyDeliveries } from '@keyledger/key-rotation';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/**
 * Acknowledgements of delivered keys over NATS request/reply: `<prefix>.v1.deliveries.ack`.
 * No admin key: the ack token sealed beside the key is the proof, and it can end only its own
 * delivery.
 */
export function deliveryAckNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class DeliveryAckNatsController {
    constructor(
      @Inject(KeyDeliveries) private readonly deliveries: KeyDeliveries,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(deliveryAckSubject(prefix))
    acknowledge(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<DeliveryAckResult>> {
      const headers = ctx.getHeaders() as ReadableHeaders | undefined;
      return natsReply(this.logger, () =>
        inNatsServerSpan(ctx.getSubject(), headers, () => {
          if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
          const request = parseRequest(acknowledgeDeliveryRequestSchema, body);
          const correlationId = headers?.get('Keyledger-Correlation-Id') || `ack-${request.keyId}`;
          return this.deliveries.acknowledge(request, { actor: 'system:rotator', correlationId, causationId: correlationId });
        }),
      );
    }
  }

  return DeliveryAckNatsController;
}
