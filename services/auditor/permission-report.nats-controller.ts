import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { apiSubject, auditReportRequestSchema } from '@keyledger/contracts';
import type { AuditReport } from '@keyledger/contracts';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { PermissionReport } from '@keyledger/usage-reporting';

/** The permission audit over NATS request/reply with an admin key: `<prefix>.v1.audit.report`. */
export function permissionReportNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class PermissionReportNatsController {
    constructor(
      @Inject(PermissionReport) private readonly permissions: PermissionReport,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'audit.report'))
    report(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AuditReport>> {
      return natsCommand(
        this.logger,
        ctx,
        body,
        async ({ authorization }) => (await this.auth.commandContext({ authorization })).caller,
        (caller) => this.permissions.report(parseRequest(auditReportRequestSchema, body), caller),
      );
    }
  }
  return PermissionReportNatsController;
}
