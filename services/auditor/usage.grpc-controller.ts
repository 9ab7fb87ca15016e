import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { grpcCommand, parseRequest, present } from '@keyledger/api-transport';
import { keyUsageRequestSchema, rotationUsageRequestSchema, tenantUsageRequestSchema } from '@keyledger/contracts';
import type { KeyledgerV1, KeyUsage, KeyUsageSummary, RotationUsage, SourceUsage, TenantUsage, UsageTotals } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { UsageQueries } from '@keyledger/usage-reporting';

const totals = ({ calls, valid, invalid, cost }: UsageTotals): KeyledgerV1.UsageTotals => ({ calls, valid, invalid, cost });
const source = ({ ip, calls, invalid }: SourceUsage): KeyledgerV1.SourceUsage => ({ ip, calls, invalid });
const summary = (key: KeyUsageSummary): KeyledgerV1.KeyUsageSummary => ({ keyId: key.keyId, totals: totals(key), lastUsedAt: key.lastUsedAt ?? undefined });

/** `keyledger.v1.UsageService`: the NATS usage queries as gRPC, with the admin key in the `authorization` metadata. */
@Controller()
export class UsageGrpcController {
  constructor(
    @Inject(UsageQueries) private readonly usage: UsageQueries,
    @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @GrpcMethod('UsageService', 'GetKeyUsage')
  keyUsage(message: KeyledgerV1.KeyUsageRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyUsage> {
    const body = { keyId: message.keyId, since: present(message.since), until: present(message.until), by: present(message.by) };
    return this.handle('GetKeyUsage', metadata, async (caller) => {
      const usage: KeyUsage = await this.usage.keyUsage(parseRequest(keyUsageRequestSchema, body), caller);
      return {
        ...usage,
        tenant: usage.tenant ?? undefined,
        lastUsedAt: usage.lastUsedAt ?? undefined,
        totals: totals(usage.totals),
        buckets: usage.buckets.map((bucket) => ({ start: bucket.start, totals: totals(bucket), codes: { ...bucket.codes } })),
        topSources: usage.topSources.map(source),
      };
    });
  }

  @GrpcMethod('UsageService', 'GetTenantUsage')
  tenantUsage(message: KeyledgerV1.TenantUsageRequest__Output, metadata: Metadata): Promise<KeyledgerV1.TenantUsage> {
    const body = { tenant: message.tenant, since: present(message.since), until: present(message.until), limit: present(message.limit) };
    return this.handle('GetTenantUsage', metadata, async (caller) => {
      const usage: TenantUsage = await this.usage.tenantUsage(parseRequest(tenantUsageRequestSchema, body), caller);
      return { ...usage, totals: totals(usage.totals), topKeys: usage.topKeys.map(summary), topSources: usage.topSources.map(source) };
    });
  }

  @GrpcMethod('UsageService', 'GetRotationUsage')
  rotationUsage(message: KeyledgerV1.RotationUsageRequest__Output, metadata: Metadata): Promise<KeyledgerV1.RotationUsage> {
    return this.handle('GetRotationUsage', metadata, async (caller) => {
      const usage: RotationUsage = await this.usage.rotationUsage(parseRequest(rotationUsageRequestSchema, { keyId: message.keyId }), caller);
      return {
        keyId: usage.keyId,
        replacedBy: usage.replacedBy,
        tenant: usage.tenant,
        owner: usage.owner,
        rotatedAt: usage.rotatedAt ?? undefined,
        graceEndsAt: usage.graceEndsAt,
        emergency: usage.emergency,
        quietPeriodMs: usage.quietPeriodMs ?? undefined,
        graceEnded: usage.graceEnded
          ? { at: usage.graceEnded.at, reason: usage.graceEnded.reason, lastUsedAt: usage.graceEnded.lastUsedAt ?? undefined }
          : undefined,
        status: usage.status,
        expiresAt: usage.expiresAt ?? undefined,
        lastUsedAt: usage.lastUsedAt ?? undefined,
        callsSinceRotation: usage.sinceRotation.calls,
        invalidSinceRotation: usage.sinceRotation.invalid,
        sources: usage.sinceRotation.sources.map((s) => ({ ip: s.ip, calls: s.calls, invalid: s.invalid, lastSeenAt: s.lastSeenAt ?? undefined })),
        ingestedUntil: usage.ingestedUntil ?? undefined,
      };
    });
  }

  private handle<T>(method: string, metadata: Metadata, run: (caller: Caller) => Promise<T>): Promise<T> {
    return grpcCommand(
      this.logger,
      'keyledger.v1.UsageService',
      method,
      metadata,
      async (credentials) => (await this.auth.commandContext(credentials)).caller,
      run,
    );
  }
}
