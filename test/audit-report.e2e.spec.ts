import type { AuditReport, KeyView } from '@keyledger/contracts';
import type { AdminStack, NatsKeyApi, TestContext } from '@keyledger/testing';
import { eventually, runCli, startAdminStack } from '@keyledger/testing';

interface Issued {
  readonly keyId: string;
  readonly key: string;
  readonly view: KeyView;
}

/**
 * The permission audit end to end on the built services: `keyledger audit report` as a tenant's
 * admin lists that tenant's keys' findings (here those that need no age: no expiry, no IP
 * restriction, a broad admin key) as JSON, CSV and a table, and nothing of another tenant; asked
 * for another tenant over the CLI or straight over NATS, the auditor refuses. A root admin sees
 * every tenant. The findings that need days to pass are covered by the integration test.
 */
describe('audit report', () => {
  let stack: AdminStack;
  let ctx: TestContext;
  let api: NatsKeyApi;
  let rootKey: string;

  beforeAll(async () => {
    stack = await startAdminStack('auditreport');
    ({ ctx, api, rootKey } = stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it("reports a tenant's findings to its admin, refuses it another tenant, and shows a root admin every tenant", async () => {
    const expires = new Date(Date.now() + 30 * 86_400_000).toISOString();
    // Admin keys without an IP allowlist: over NATS a caller has no address, and an allowlist refuses it.
    const acmeAdmin = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:read'], expiresAt: expires });
    const broad = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:*'], expiresAt: expires });
    const open = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'billing, "eu"', scopes: ['orders:read'] });
    const globex = await api.ok<Issued>('keys.issue', { tenant: 'globex', owner: 'billing', scopes: ['orders:read'] });

    const report = async (args: string[], adminKey: string) => {
      const run = await runCli(ctx, ['audit', 'report', ...args], { adminKey });
      return { ...run, report: run.code === 0 && args.includes('json') ? (JSON.parse(run.stdout) as AuditReport) : undefined };
    };
    const acme = await eventually(
      'the auditor knows the acme keys',
      () => report(['--format', 'json'], acmeAdmin.key),
      (run) => run.report?.findings.some((finding) => finding.keyId === open.keyId) === true,
      30_000,
    );
    const findings = acme.report!.findings;
    expect(acme.report).toMatchObject({ tenant: 'acme', unusedDays: 90, staleSuspendedDays: 30 });
    expect(findings.filter((finding) => finding.keyId === open.keyId).map((finding) => finding.kind)).toEqual(['no-expiry', 'no-ip-restriction']);
    expect(findings.filter((finding) => finding.keyId === broad.keyId)).toEqual([
      expect.objectContaining({ kind: 'no-ip-restriction' }),
      expect.objectContaining({ kind: 'broad-admin', tenant: 'acme', owner: 'ops', evidence: { reasons: ['keyledger:*'], adminScopes: ['keyledger:*'] } }),
    ]);
    expect(findings.filter((finding) => finding.keyId === acmeAdmin.keyId).map((finding) => finding.kind)).toEqual(['no-ip-restriction']);
    expect(findings.every((finding) => finding.tenant === 'acme')).toBe(true);

    const csv = await report(['--format', 'csv'], acmeAdmin.key);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split('\r\n')[0]).toBe('finding,key_id,tenant,owner,summary,evidence');
    expect(csv.stdout).toContain(`no-expiry,${open.keyId},acme,"billing, ""eu""",`);
    const table = await report([], acmeAdmin.key);
    expect(table.stdout).toContain('permission audit of tenant acme');
    expect(table.stdout).toContain(broad.keyId);

    // Tenant A's admin asks for tenant B: refused, one line, nothing of B.
    const refused = await report(['--tenant', 'globex', '--format', 'json'], acmeAdmin.key);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/PERMISSION_DENIED|may not act on tenant globex/);
    expect(refused.stderr).not.toContain(globex.keyId);
    expect((await api.call('audit.report', { tenant: 'globex' }, acmeAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('audit.report', { tenant: 'globex' }, broad.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('audit.report', {}, open.key)).error?.code).toMatch(/PERMISSION_DENIED|UNAUTHENTICATED/);
    expect((await api.call('audit.report', {}, null)).error?.code).toBe('UNAUTHENTICATED');
    expect((await api.call('audit.report', { unusedDays: 0 })).error?.code).toBe('INVALID_ARGUMENT');

    const all = await report(['--format', 'json'], rootKey);
    expect(all.report!.tenant).toBeNull();
    expect(all.report!.findings.filter((finding) => finding.keyId === globex.keyId).map((finding) => finding.kind)).toEqual(['no-expiry', 'no-ip-restriction']);
    expect(all.report!.findings.some((finding) => finding.kind === 'broad-admin' && finding.tenant === 'root')).toBe(true);
  });
});
