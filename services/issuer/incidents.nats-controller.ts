import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import {
  apiSubject,
  getAnomalyThresholdsRequestSchema,
  getIncidentPolicyRequestSchema,
  reportAnomalyRequestSchema,
  reportLeakRequestSchema,
  setAnomalyThresholdsRequestSchema,
  setIncidentPolicyRequestSchema,
} from '@keyledger/contracts';
import type { AnomalyThresholdsView, IncidentPolicyView, IncidentReportResult } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { IncidentReports } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

/**
 * Incidents over NATS request/reply: `<prefix>.v1.keys.report-leak`, `keys.report-anomaly` and
 * `incident-policy.set|get` and `anomaly-thresholds.set|get`. A leak report may carry a key's plaintext: its body is never logged.
 */
export function incidentsNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class IncidentsNatsController {
    constructor(
      @Inject(IncidentReports) private readonly incidents: IncidentReports,
      @Inject(TenantSettingsCommands) private readonly tenants: TenantSettingsCommands,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'keys.report-leak'))
    reportLeak(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<IncidentReportResult>> {
      return this.handle(ctx, body, (context) => this.incidents.reportLeak(parseRequest(reportLeakRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'keys.report-anomaly'))
    reportAnomaly(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<IncidentReportResult>> {
      return this.handle(ctx, body, (context) => this.incidents.reportAnomaly(parseRequest(reportAnomalyRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'incident-policy.set'))
    setPolicy(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<IncidentPolicyView>> {
      return this.handle(ctx, body, (context) => this.tenants.setIncidentPolicy(parseRequest(setIncidentPolicyRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'incident-policy.get'))
    getPolicy(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<IncidentPolicyView>> {
      return this.handle(ctx, body, (context) => this.tenants.getIncidentPolicy(parseRequest(getIncidentPolicyRequestSchema, body), context.caller));
    }

    @MessagePattern(apiSubject(prefix, 'anomaly-thresholds.set'))
    setThresholds(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AnomalyThresholdsView>> {
      return this.handle(ctx, body, (context) => this.tenants.setAnomalyThresholds(parseRequest(setAnomalyThresholdsRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'anomaly-thresholds.get'))
    getThresholds(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<AnomalyThresholdsView>> {
      return this.handle(ctx, body, (context) => this.tenants.getAnomalyThresholds(parseRequest(getAnomalyThresholdsRequestSchema, body), context.caller));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return IncidentsNatsController;
}
