import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { grpcCall, grpcCommand, inGrpcServerSpan, keyViewMessage, parseRequest, present } from '@keyledger/api-transport';
import {
  auditAtRequestSchema,
  auditCheckRequestSchema,
  auditCheckpointRequestSchema,
  auditConsistencyRequestSchema,
  auditInclusionRequestSchema,
  auditReportRequestSchema,
  auditSearchRequestSchema,
  auditTrailRequestSchema,
} from '@keyledger/contracts';
import type { AuditSearchEntry, AuditTrailEntry, KeyledgerV1 } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { AuditSearch, KeyHistory } from '@keyledger/key-history';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { AuditLog } from '@keyledger/transparency-log';
import { PermissionReport } from '@keyledger/usage-reporting';

const SERVICE = 'keyledger.v1.AuditService';

const trailEntry = (entry: AuditTrailEntry): KeyledgerV1.TrailEntry => ({
  position: entry.position,
  version: entry.version,
  eventId: entry.eventId,
  type: entry.type,
  occurredAt: entry.occurredAt,
  actor: entry.actor,
  correlationId: entry.correlationId,
});

const searchEntry = (entry: AuditSearchEntry): KeyledgerV1.TrailSearchEntry => ({
  ...trailEntry(entry),
  streamId: entry.streamId,
  tenant: entry.tenant ?? undefined,
  owner: entry.owner ?? undefined,
});

/**
 * `keyledger.v1.AuditService` (audit.proto): the auditor's NATS answers about the past and its
 * transparency log as gRPC. Each message becomes the NATS request body and passes the same
 * schema; the history, search and report calls authenticate the admin key of the `authorization`
 * metadata and are scoped to its tenant by the same features as over NATS; the checkpoint and
 * proofs need no key, as over NATS and HTTP, since they reveal no event.
 */
@Controller()
export class AuditGrpcController {
  constructor(
    @Inject(KeyHistory) private readonly history: KeyHistory,
    @Inject(AuditSearch) private readonly trailSearch: AuditSearch,
    @Inject(PermissionReport) private readonly permissions: PermissionReport,
    @Inject(AuditLog) private readonly log: AuditLog,
    @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @GrpcMethod('AuditService', 'GetKeyTrail')
  keyTrail(message: KeyledgerV1.GetKeyTrailRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyTrail> {
    return this.asAdmin('GetKeyTrail', metadata, async (caller) => {
      const trail = await this.history.trail(parseRequest(auditTrailRequestSchema, { keyId: message.keyId }), caller);
      return { keyId: trail.keyId, tenant: trail.tenant, events: trail.events.map(trailEntry) };
    });
  }

  @GrpcMethod('AuditService', 'GetKeyAt')
  keyAt(message: KeyledgerV1.GetKeyAtRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyAt> {
    return this.asAdmin('GetKeyAt', metadata, async (caller) => {
      const then = await this.history.at(parseRequest(auditAtRequestSchema, { keyId: message.keyId, at: message.at }), caller);
      return { keyId: then.keyId, at: then.at, key: then.key && keyViewMessage(then.key), lastEvent: then.lastEvent && trailEntry(then.lastEvent) };
    });
  }

  @GrpcMethod('AuditService', 'CheckKeyAt')
  checkKeyAt(message: KeyledgerV1.CheckKeyAtRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyCheck> {
    const body = { keyId: message.keyId, at: message.at, scopes: message.scopes, ip: present(message.ip), env: present(message.env) };
    return this.asAdmin('CheckKeyAt', metadata, async (caller) => {
      const check = await this.history.check(parseRequest(auditCheckRequestSchema, body), caller);
      return { ...check, decidedBy: check.decidedBy && trailEntry(check.decidedBy) };
    });
  }

  @GrpcMethod('AuditService', 'SearchTrail')
  searchTrail(message: KeyledgerV1.SearchTrailRequest__Output, metadata: Metadata): Promise<KeyledgerV1.TrailPage> {
    const body = {
      tenant: present(message.tenant),
      owner: present(message.owner),
      actor: present(message.actor),
      // No types is no filter; over NATS an empty list is refused, so it is left out rather than sent.
      type: message.types.length > 0 ? message.types : undefined,
      since: present(message.since),
      until: present(message.until),
      cursor: present(message.cursor),
      limit: present(message.limit),
    };
    return this.asAdmin('SearchTrail', metadata, async (caller) => {
      const page = await this.trailSearch.search(parseRequest(auditSearchRequestSchema, body), caller);
      return { events: page.events.map(searchEntry), nextCursor: page.nextCursor };
    });
  }

  @GrpcMethod('AuditService', 'GetPermissionReport')
  permissionReport(message: KeyledgerV1.GetPermissionReportRequest__Output, metadata: Metadata): Promise<KeyledgerV1.PermissionReport> {
    const body = { tenant: present(message.tenant), unusedDays: present(message.unusedDays), staleSuspendedDays: present(message.staleSuspendedDays) };
    return this.asAdmin('GetPermissionReport', metadata, async (caller) => {
      const report = await this.permissions.report(parseRequest(auditReportRequestSchema, body), caller);
      return {
        ...report,
        tenant: report.tenant ?? undefined,
        usage: { ...report.usage },
        // Evidence differs by kind (instants, counts, scope lists): JSON, as in the NATS answer and the CSV.
        findings: report.findings.map(({ evidence, ...finding }) => ({ ...finding, evidenceJson: JSON.stringify(evidence) })),
      };
    });
  }

  @GrpcMethod('AuditService', 'GetCheckpoint')
  checkpoint(message: KeyledgerV1.GetCheckpointRequest__Output, metadata: Metadata): Promise<KeyledgerV1.Checkpoint> {
    return this.open('GetCheckpoint', metadata, () => this.log.checkpoint(parseRequest(auditCheckpointRequestSchema, { refresh: message.refresh }).refresh));
  }

  @GrpcMethod('AuditService', 'GetInclusionProof')
  inclusionProof(message: KeyledgerV1.GetInclusionProofRequest__Output, metadata: Metadata): Promise<KeyledgerV1.InclusionProof> {
    const body = { eventId: present(message.eventId), position: present(message.position), treeSize: present(message.treeSize) };
    return this.open('GetInclusionProof', metadata, async () => {
      const proof = await this.log.inclusion(parseRequest(auditInclusionRequestSchema, body));
      return { ...proof, proof: [...proof.proof] };
    });
  }

  @GrpcMethod('AuditService', 'GetConsistencyProof')
  consistencyProof(message: KeyledgerV1.GetConsistencyProofRequest__Output, metadata: Metadata): Promise<KeyledgerV1.ConsistencyProof> {
    const body = { oldSize: present(message.oldSize), newSize: present(message.newSize) };
    return this.open('GetConsistencyProof', metadata, async () => {
      const proof = await this.log.consistency(parseRequest(auditConsistencyRequestSchema, body));
      return { ...proof, proof: [...proof.proof] };
    });
  }

  private asAdmin<T>(method: string, metadata: Metadata, run: (caller: Caller) => Promise<T>): Promise<T> {
    return grpcCommand(this.logger, SERVICE, method, metadata, async (credentials) => (await this.auth.commandContext(credentials)).caller, run);
  }

  private open<T>(method: string, metadata: Metadata, run: () => Promise<T>): Promise<T> {
    return grpcCall(this.logger, () => inGrpcServerSpan(SERVICE, method, metadata, run));
  }
}
