import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Optional } from '@keyledger/api-transport';
import { grpcCommand, parseRequest, present } from '@keyledger/api-transport';
import { reportAnomalyRequestSchema, reportLeakRequestSchema } from '@keyledger/contracts';
import type { IncidentReportResult } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { IncidentReports } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

interface LeakSourceMessage {
  file?: Optional<string>;
  line?: Optional<number>;
  column?: Optional<number>;
  commit?: Optional<string>;
  repository?: Optional<string>;
  url?: Optional<string>;
  description?: Optional<string>;
}

interface ReportLeakMessage {
  key?: Optional<string>;
  keyId?: Optional<string>;
  source?: Optional<LeakSourceMessage>;
}

interface ReportAnomalyMessage {
  keyId: string;
  kind: string;
  severity: string;
  detail?: Optional<string>;
  detectedAt?: Optional<string>;
}

function sourceBody(source: Optional<LeakSourceMessage>): unknown {
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

function reportMessage(result: IncidentReportResult): unknown {
  return {
    ...result,
    handled: result.handled
      ? { action: result.handled.action, reason: result.handled.reason ?? undefined, replacedBy: result.handled.replacedBy ?? undefined }
      : undefined,
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
  reportLeak(message: ReportLeakMessage, metadata: Metadata): Promise<unknown> {
    const body = { key: present(message.key), keyId: present(message.keyId), source: sourceBody(message.source) };
    return this.handle('ReportLeak', metadata, async (context) =>
      reportMessage(await this.incidents.reportLeak(parseRequest(reportLeakRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'ReportAnomaly')
  reportAnomaly(message: ReportAnomalyMessage, metadata: Metadata): Promise<unknown> {
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
