import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AuditKeyAt, AuditReport, AuditTrail, KeyledgerV1 } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { GrpcApi, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, grpcFailure, natsKeyApi, reflectedServices, startServices } from '@keyledger/testing';
import { eventLeafHash, openNote, parseCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from '@keyledger/transparency-log';

type AuditApi = GrpcApi<KeyledgerV1.AuditServiceDefinition>;

/** The gRPC status and Keyledger error code of a call that must fail. */
async function refusal(call: Promise<unknown>): Promise<[grpc.status, string | undefined]> {
  const error = await grpcFailure(call);
  return [error.code, error.metadata.get('keyledger-error-code')[0] as string | undefined];
}

/**
 * `keyledger.v1.AuditService` end to end on the built relay, issuer and auditor: a key issued,
 * suspended and revoked over gRPC; its trail in order with actors (as over NATS), its state and
 * verdict before and at the revocation with the deciding event, a filtered search a page at a
 * time, the permission report's findings (as over NATS), and an inclusion and a consistency proof
 * that verify against signed checkpoints with nothing but the log's public key. Another tenant's
 * admin is refused exactly as over NATS, a call without an admin key is UNAUTHENTICATED, a bad
 * argument INVALID_ARGUMENT; reflection lists the new service beside UsageService.
 */
describe('the auditor over gRPC', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let nats: NatsKeyApi;
  let keys: GrpcApi<KeyledgerV1.KeyServiceDefinition>;
  let audit: AuditApi;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const address = (name: string): string => `127.0.0.1:${services.of(name)[0]!.grpcPort}`;

  function admin(key: string | null = rootKey): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (key) metadata.set('authorization', `Bearer ${key}`);
    return metadata;
  }

  beforeAll(async () => {
    ctx = await createTestContext('auditgrpc');
    services = await startServices(ctx, ['relay', 'issuer', 'auditor'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      AUDIT_CHECKPOINT_INTERVAL_MS: '1000',
      AUDIT_TREE_INTERVAL_MS: '200',
    });
    nats = natsKeyApi(ctx, rootKey);
    await nats.adminKeyAccepted();
    keys = grpcClient(address('issuer'), 'KeyService');
    audit = grpcClient(address('auditor'), 'AuditService');
  });

  afterAll(async () => {
    keys?.close();
    audit?.close();
    services?.stop();
    await ctx?.close();
  });

  it("answers a key's history, searches, reports and proofs as over NATS, and refuses another tenant's admin alike", async () => {
    const vkey = parseVerifierKey(ctx.auditVerifierKey);
    const before = await audit.call('GetCheckpoint', { refresh: true });

    const acmeAdmin = await keys.call('IssueKey', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:*'] }, admin());
    const globexAdmin = await keys.call('IssueKey', { tenant: 'globex', owner: 'ops', scopes: ['keyledger:keys:read'] }, admin());
    const rootKeys = (await keys.call('ListKeys', { tenant: 'root' }, admin())).keys;
    expect(rootKeys).toHaveLength(1);
    const root = `admin-key:${rootKeys[0]!.keyId}`;
    const acme = `admin-key:${acmeAdmin.keyId}`;
    await eventually(
      'the issuer accepts the acme admin',
      () => keys.call('ListKeys', { tenant: 'acme' }, admin(acmeAdmin.key)).then(Boolean, () => false),
      Boolean,
      30_000,
    );

    const { keyId } = await keys.call('IssueKey', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] }, admin());
    await keys.call('SuspendKey', { keyId, reason: 'investigating' }, admin(acmeAdmin.key));
    await keys.call('RevokeKey', { keyId, reason: 'retired', waitForVerifiers: false }, admin(acmeAdmin.key));

    // The trail, in order with its actors, and the same answer as over NATS.
    const trail = await eventually(
      'the auditor accepts the acme admin',
      () => audit.call('GetKeyTrail', { keyId }, admin(acmeAdmin.key)).catch(() => undefined),
      (answer) => answer !== undefined,
      30_000,
    );
    expect(trail!.events.map((event) => [event.version, event.type, event.actor])).toEqual([
      [1, 'KeyIssued', root],
      [2, 'KeySuspended', acme],
      [3, 'KeyRevoked', acme],
    ]);
    const positions = trail!.events.map((event) => BigInt(event.position));
    expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : 1)));
    expect(trail).toEqual(await nats.ok<AuditTrail>('audit.trail', { keyId }, acmeAdmin.key));
    const [issued, suspended, revoked] = trail!.events as [KeyledgerV1.TrailEntry__Output, KeyledgerV1.TrailEntry__Output, KeyledgerV1.TrailEntry__Output];
    const justBefore = (entry: KeyledgerV1.TrailEntry__Output): string => new Date(Date.parse(entry.occurredAt) - 1).toISOString();

    // The verdict before the suspension, while suspended, and at the revocation, each with the event that decided it.
    const check = (at: string) => audit.call('CheckKeyAt', { keyId, at, scopes: ['orders:read'] }, admin(acmeAdmin.key));
    expect(await check(justBefore(suspended))).toMatchObject({ valid: true, code: 'VALID', decidedBy: { eventId: issued.eventId } });
    expect(await check(justBefore(revoked))).toMatchObject({ valid: false, code: 'DISABLED', decidedBy: { eventId: suspended.eventId, actor: acme } });
    const atRevocation = await check(revoked.occurredAt);
    expect(atRevocation).toMatchObject({ valid: false, code: 'REVOKED', decidedBy: { eventId: revoked.eventId, type: 'KeyRevoked', actor: acme } });
    expect(atRevocation.reason).toContain(`by event ${revoked.eventId}`);

    // The key as it was while suspended (the shared KeyView message), and before it existed.
    const whileSuspended = await audit.call('GetKeyAt', { keyId, at: suspended.occurredAt }, admin(acmeAdmin.key));
    const overNats = await nats.ok<AuditKeyAt>('audit.at', { keyId, at: suspended.occurredAt }, acmeAdmin.key);
    expect(whileSuspended).toMatchObject({
      keyId,
      key: { keyId, tenant: 'acme', owner: 'billing', status: 'suspended', scopes: ['orders:read'], version: 2, hint: overNats.key!.hint },
      lastEvent: { eventId: suspended.eventId },
    });
    expect(await audit.call('GetKeyAt', { keyId, at: '2001-01-01T00:00:00Z' }, admin(acmeAdmin.key))).toMatchObject({ key: null, lastEvent: null });

    // A filtered search, one event a page, followed to its end.
    const search = async (request: KeyledgerV1.SearchTrailRequest, key = acmeAdmin.key): Promise<KeyledgerV1.TrailSearchEntry__Output[][]> => {
      const pages: KeyledgerV1.TrailSearchEntry__Output[][] = [];
      for (let cursor: string | undefined; pages.length < 20;) {
        const page = await audit.call('SearchTrail', { ...request, cursor }, admin(key));
        pages.push(page.events);
        cursor = page.nextCursor || undefined;
        if (!cursor) break;
      }
      return pages;
    };
    const pages = await eventually(
      'the trail holds the revocation',
      () => search({ owner: 'billing', actor: acme, limit: 1 }),
      (found) => found.flat().some((event) => event.eventId === revoked.eventId),
      30_000,
    );
    expect(pages.every((page) => page.length <= 1)).toBe(true);
    expect(pages.flat().map((event) => [event.streamId, event.type, event.tenant, event.owner, event.actor])).toEqual([
      [`key-${keyId}`, 'KeySuspended', 'acme', 'billing', acme],
      [`key-${keyId}`, 'KeyRevoked', 'acme', 'billing', acme],
    ]);
    expect((await search({ types: ['KeyRevoked'] })).flat().map((event) => event.eventId)).toEqual([revoked.eventId]);
    // Globex's admin sees none of acme's events.
    expect((await search({}, globexAdmin.key)).flat().filter((event) => event.tenant !== 'globex')).toEqual([]);

    // The permission report: the acme admin key has no expiry and no IP restriction; the same findings as over NATS.
    const report = await eventually(
      'the auditor reports the acme admin key',
      () => audit.call('GetPermissionReport', {}, admin(acmeAdmin.key)),
      (answer) => answer.findings.some((finding) => finding.keyId === acmeAdmin.keyId),
      30_000,
    );
    expect(report).toMatchObject({ tenant: 'acme', unusedDays: 90, staleSuspendedDays: 30 });
    expect(report.findings.filter((finding) => finding.keyId === acmeAdmin.keyId).map((finding) => finding.kind)).toEqual(['no-expiry', 'no-ip-restriction']);
    const natsReport = await nats.ok<AuditReport>('audit.report', {}, acmeAdmin.key);
    expect(report.findings.map(({ evidenceJson, ...finding }) => ({ ...finding, evidence: JSON.parse(evidenceJson) as unknown }))).toEqual(natsReport.findings);

    // Tenant B's admin is refused as over NATS: the same code, as its gRPC status.
    const suspendedAt = suspended.occurredAt;
    // The key's tenant is hidden (as keys.get hides it); a search or report of another tenant is denied.
    const crossTenant: [keyof KeyledgerV1.AuditServiceDefinition, object, string, string, grpc.status][] = [
      ['GetKeyTrail', { keyId }, 'audit.trail', 'KEY_NOT_FOUND', grpc.status.NOT_FOUND],
      ['GetKeyAt', { keyId, at: suspendedAt }, 'audit.at', 'KEY_NOT_FOUND', grpc.status.NOT_FOUND],
      ['CheckKeyAt', { keyId, at: suspendedAt }, 'audit.check', 'KEY_NOT_FOUND', grpc.status.NOT_FOUND],
      ['SearchTrail', { tenant: 'acme' }, 'audit.search', 'PERMISSION_DENIED', grpc.status.PERMISSION_DENIED],
      ['GetPermissionReport', { tenant: 'acme' }, 'audit.report', 'PERMISSION_DENIED', grpc.status.PERMISSION_DENIED],
    ];
    for (const [method, request, subject, code, status] of crossTenant) {
      expect([subject, (await nats.call(subject, request, globexAdmin.key)).error?.code]).toEqual([subject, code]);
      expect([method, await refusal(audit.call(method as 'GetKeyTrail', request as KeyledgerV1.GetKeyTrailRequest, admin(globexAdmin.key)))]).toEqual([
        method,
        [status, code],
      ]);
    }

    // No admin key, or a bad argument.
    for (const [method, request] of crossTenant) {
      expect([method, await refusal(audit.call(method as 'GetKeyTrail', request as KeyledgerV1.GetKeyTrailRequest, admin(null)))]).toEqual([
        method,
        [grpc.status.UNAUTHENTICATED, 'UNAUTHENTICATED'],
      ]);
    }
    const invalid: [grpc.status, string] = [grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'];
    expect(await refusal(audit.call('CheckKeyAt', { keyId, at: 'yesterday' }, admin(acmeAdmin.key)))).toEqual(invalid);
    expect(await refusal(audit.call('GetKeyTrail', { keyId: 'not a key id' }, admin(acmeAdmin.key)))).toEqual(invalid);
    expect(await refusal(audit.call('SearchTrail', { types: ['KeyExploded'] }, admin(acmeAdmin.key)))).toEqual(invalid);
    expect(await refusal(audit.call('GetPermissionReport', { unusedDays: 0 }, admin(acmeAdmin.key)))).toEqual(invalid);
    expect(await refusal(audit.call('GetInclusionProof', {}))).toEqual(invalid);
    expect(await refusal(audit.call('GetConsistencyProof', { oldSize: 2 }))).toEqual(invalid);

    // An inclusion proof of the revocation, without an admin key, checked as an outsider does.
    const event = (await ctx.store.readStream(`key-${keyId}`)).find((stored) => stored.eventId === revoked.eventId)!;
    const proof = await audit.call('GetInclusionProof', { eventId: revoked.eventId });
    const signed = parseCheckpoint(openNote(proof.checkpoint, [vkey]).text);
    const hashes = proof.proof.map((hash) => Buffer.from(hash, 'base64'));
    expect([proof.position, Number(proof.treeSize)]).toEqual([revoked.position, signed.size]);
    expect(verifyInclusion(Number(proof.leafIndex), signed.size, eventLeafHash(event), hashes, signed.rootHash)).toBe(true);
    const altered = { ...event, data: { ...(event.data as object), reason: 'something else' } };
    expect(verifyInclusion(Number(proof.leafIndex), signed.size, eventLeafHash(altered), hashes, signed.rootHash)).toBe(false);
    expect(await refusal(audit.call('GetInclusionProof', { eventId: '0190a3f0-0000-7000-8000-000000000001' }))).toEqual([grpc.status.NOT_FOUND, 'NOT_IN_LOG']);

    // The log before these events is a prefix of the log after them.
    const after = await audit.call('GetCheckpoint', { refresh: true });
    const [oldSize, newSize] = [Number(before.treeSize), Number(after.treeSize)];
    expect(newSize).toBeGreaterThan(oldSize);
    const consistency = await audit.call('GetConsistencyProof', { oldSize, newSize });
    const [oldTree, newTree] = [consistency.oldCheckpoint!, consistency.newCheckpoint!].map((note) => parseCheckpoint(openNote(note, [vkey]).text));
    expect([oldTree!.size, newTree!.size]).toEqual([oldSize, newSize]);
    const consistencyHashes = consistency.proof.map((hash) => Buffer.from(hash, 'base64'));
    expect(verifyConsistency(oldSize, newSize, oldTree!.rootHash, newTree!.rootHash, consistencyHashes)).toBe(true);
    expect(verifyConsistency(oldSize, newSize, newTree!.rootHash, newTree!.rootHash, consistencyHashes)).toBe(false);
  });

  it('serves AuditService beside UsageService on one server, both listed by reflection', async () => {
    for (const version of ['v1', 'v1alpha'] as const) {
      const listed = await reflectedServices(address('auditor'), version);
      expect(listed.filter((name) => name.startsWith('keyledger.')).sort()).toEqual(['keyledger.v1.AuditService', 'keyledger.v1.UsageService']);
    }
    const usage = grpcClient(address('auditor'), 'UsageService');
    try {
      expect(await usage.call('GetTenantUsage', { tenant: 'acme' }, admin())).toMatchObject({ tenant: 'acme' });
    } finally {
      usage.close();
    }
  });
});
