import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import { errorBody, parseRequest } from '@keyledger/api-transport';
import { API_ERRORS, auditConsistencyRequestSchema, auditInclusionRequestSchema } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { AuditLog } from '@keyledger/transparency-log';

interface HttpResponse {
  status(code: number): HttpResponse;
  type(contentType: string): HttpResponse;
  send(body: string): unknown;
  json(body: unknown): unknown;
}

/**
 * The transparency log over HTTP, for anyone who checks it: `GET /v1/audit/checkpoint` (the
 * latest signed checkpoint, as the note's text), `GET /v1/audit/inclusion?eventId=…|position=…
 * [&treeSize=…]` and `GET /v1/audit/consistency?oldSize=…&newSize=…` (JSON, as over NATS).
 * Errors are the API's error body with its HTTP status.
 */
@Controller('v1/audit')
export class AuditLogHttpController {
  constructor(
    @Inject(AuditLog) private readonly log: AuditLog,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get('checkpoint')
  async checkpoint(@Res() response: HttpResponse): Promise<void> {
    await this.answer(response, async () => {
      const { note } = await this.log.checkpoint();
      response.status(200).type('text/plain; charset=utf-8').send(note);
    });
  }

  @Get('inclusion')
  async inclusion(@Query() query: Record<string, string>, @Res() response: HttpResponse): Promise<void> {
    await this.answer(response, async () => response.status(200).json(await this.log.inclusion(parseRequest(auditInclusionRequestSchema, query))));
  }

  @Get('consistency')
  async consistency(@Query() query: Record<string, string>, @Res() response: HttpResponse): Promise<void> {
    await this.answer(response, async () => response.status(200).json(await this.log.consistency(parseRequest(auditConsistencyRequestSchema, query))));
  }

  private async answer(response: HttpResponse, run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      const body = errorBody(error, this.logger);
      response.status(API_ERRORS[body.error.code].http).json({ error: body.error });
    }
  }
}
