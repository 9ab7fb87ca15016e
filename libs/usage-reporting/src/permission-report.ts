import type { AuditReport, AuditReportRequest, EventEnvelope, KeyEvent, RotationPolicySetData } from '@keyledger/contracts';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG } from '@keyledger/event-store';
import { timeOfPrefixedId } from '@keyledger/ids';
import type { KeyRecord, RotationPolicyTable } from '@keyledger/key-domain';
import { evolveRotationPolicies, takesQuotaSlot } from '@keyledger/key-domain';
import type { AuditedKey } from '@keyledger/permission-audit';
import { auditPermissions, issuedTimeline, keyTimeline, reportUsageWindow } from '@keyledger/permission-audit';
import type { Caller } from '@keyledger/admin-auth';
import { authorizeAdmin } from '@keyledger/admin-auth';
import type { KeyIndex } from '@keyledger/key-projection';
import type { UsageLedger } from '@keyledger/usage-ledger';

const POLICY_PAGE = 500;

/**
 * The permission audit for admins (`audit.report`): the auditor's key projection for the keys,
 * the usage ledger for their use, the store for the rotation policies and for the history of
 * keys changed since their issue (when each scope was granted, when a suspension began; read
 * with every event's MAC checked). Tenant-scoped like every admin read: `keyledger:keys:read`
 * for the tenant asked, which defaults to the caller's own; every tenant at once only for an
 * admin of the root tenant.
 */
export class PermissionReport {
  constructor(
    private readonly ledger: Pick<UsageLedger, 'permissionUsage'>,
    private readonly keys: Pick<KeyIndex, 'all'>,
    private readonly store: Pick<PostgresEventStore, 'readStream' | 'readAll'>,
    private readonly settings: { readonly retentionDays: number },
    private readonly clock: () => number = Date.now,
  ) {}

  async report(request: AuditReportRequest, caller: Caller): Promise<AuditReport> {
    const { tenant: asked, unusedDays, staleSuspendedDays } = request;
    const tenant = asked ?? (caller.tenant === ROOT_TENANT ? undefined : caller.tenant);
    // Every tenant at once is the root tenant's to ask: authorizeAdmin lets only its admins act on it.
    authorizeAdmin(caller, tenant ?? ROOT_TENANT, 'read');
    const now = this.clock();
    const settings = { now, unusedDays, staleSuspendedDays, retentionDays: this.settings.retentionDays };
    const records: KeyRecord[] = [];
    for (const record of this.keys.all())
      if ((tenant === undefined || record.tenant === tenant) && takesQuotaSlot(record.status, record.expiresAt, now)) records.push(record);
    const window = reportUsageWindow(settings);
    const [audited, usage, policies] = await Promise.all([
      Promise.all(records.map((record) => this.audited(record))),
      this.ledger.permissionUsage(
        records.map((record) => record.keyId),
        window.since,
      ),
      this.rotationPolicies(),
    ]);
    return {
      generatedAt: new Date(now).toISOString(),
      tenant: tenant ?? null,
      unusedDays,
      staleSuspendedDays,
      usage: window.view,
      findings: auditPermissions(audited, (keyId) => usage.get(keyId), policies, settings),
    };
  }

  /** A key never changed since its issue needs nothing more; any other, its stream's timeline. */
  private async audited(record: KeyRecord): Promise<AuditedKey> {
    const issuedAt = timeOfPrefixedId(record.keyId);
    if (record.version === 1 && issuedAt !== undefined) return { record, issuedAt, timeline: issuedTimeline(record, issuedAt) };
    const events = await this.store.readStream(streamIdOf('key', record.keyId));
    const timed = events.map((event: EventEnvelope) => ({ event: { type: event.type, data: event.data } as KeyEvent, at: Date.parse(event.occurredAt) }));
    return { record, issuedAt: issuedAt ?? timed[0]?.at ?? 0, timeline: keyTimeline(timed) };
  }

  /** Policies live on tenant streams, read whole for each report (they are few). */
  private async rotationPolicies(): Promise<RotationPolicyTable> {
    let policies: RotationPolicyTable = new Map();
    let position = START_OF_LOG;
    for (;;) {
      const page = await this.store.readAll(position, POLICY_PAGE, 'tenant');
      for (const event of page.events) if (event.type === 'RotationPolicySet') policies = evolveRotationPolicies(policies, event.data as RotationPolicySetData);
      if (page.end) position = page.end;
      if (page.rows < POLICY_PAGE) return policies;
    }
  }
}
