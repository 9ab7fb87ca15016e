import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Optional } from '@keyledger/api-transport';
import { grpcCommand, parseRequest, present } from '@keyledger/api-transport';
import { reportAnomalyRequestSchema, reportLeakRequestSchema } from '@keyledger/contracts';
import type { IncidentReportResult, KeyledgerV1 } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { IncidentReports } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

function sourceBody(source: Optional<KeyledgerV1.LeakSource__Output>): unknown {
  if (!source) return undefined;
  return {
    file: present(source.file),
    line: present(source.line),
    column: present(source.column),
    commit: present(source.commit),
    repository: present(source.repository),
    url: present(source.url),
    description: present(source.description),
  };
}

function reportMessage(result: IncidentReportResult): KeyledgerV1.IncidentReport {
  return {
    ...result,
    handled: result.handled
      ? { action: result.handled.action, reason: result.handled.reason ?? undefined, replacedBy: result.handled.replacedBy ?? undefined }
      : undefined,
    newKeyDelivery: [...(result.newKeyDelivery ?? [])],
  };
}

/**
 * Leak and anomaly reports over gRPC (`keyledger.v1.KeyService/ReportLeak`, `ReportAnomaly`), as
 * over NATS. A leak report may carry a key's plaintext: its message is never logged.
 */
@Controller()
export class IncidentsGrpcController {
  constructor(
    @Inject(IncidentReports) private readonly incidents: IncidentReports,
    @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @GrpcMethod('KeyService', 'ReportLeak')
  reportLeak(message: KeyledgerV1.ReportLeakRequest__Output, metadata: Metadata): Promise<KeyledgerV1.IncidentReport> {
    const body = { key: present(message.key), keyId: present(message.keyId), source: sourceBody(message.source) };
    return this.handle('ReportLeak', metadata, async (context) =>
      reportMessage(await this.incidents.reportLeak(parseRequest(reportLeakRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'ReportAnomaly')
  reportAnomaly(message: KeyledgerV1.ReportAnomalyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.IncidentReport> {
    const body = {
      keyId: message.keyId,
      kind: message.kind,
      severity: message.severity,
      detail: present(message.detail),
      detectedAt: present(message.detectedAt),
    };
    return this.handle('ReportAnomaly', metadata, async (context) =>
      reportMessage(await this.incidents.reportAnomaly(parseRequest(reportAnomalyRequestSchema, body), context)),
    );
  }

  private handle<T>(method: string, metadata: Metadata, run: (context: CommandContext) => Promise<T>): Promise<T> {
    return grpcCommand(this.logger, 'keyledger.v1.KeyService', method, metadata, (credentials) => this.auth.commandContext(credentials), run);
  }
}
