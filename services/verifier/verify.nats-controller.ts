import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { NOT_JSON } from '@keyledger/api-transport';
import { apiSubject, verifyKeyRequestSchema } from '@keyledger/contracts';
import type { VerifyResult } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { VerifyService } from './verify.service.js';

const MALFORMED: VerifyResult = { valid: false, code: 'MALFORMED' };

/**
 * `<prefix>.v1.keys.verify`: the verify result as a plain JSON reply. Any bad request,
 * of any size or encoding, is answered MALFORMED, never with an error.
 */
export function verifyNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class VerifyNatsController {
    constructor(
      @Inject(VerifyService) private readonly verification: VerifyService,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'keys.verify'))
    verify(@Payload() body: unknown): VerifyResult {
      if (body === NOT_JSON) return MALFORMED;
      const request = verifyKeyRequestSchema.safeParse(body);
      if (!request.success) return MALFORMED;
      const { key, tenant, scopes, ip, env, cost } = request.data;
      const result = this.verification.verify(key, { tenant, scopes, ip, environment: env }, 'nats', cost);
      // `key` is on the logger's redaction list; this line proves it stays out of logs.
      if (this.logger.isLevelEnabled('trace')) this.logger.trace({ request: request.data, code: result.code }, 'verify');
      return result;
    }
  }
  return VerifyNatsController;
}
