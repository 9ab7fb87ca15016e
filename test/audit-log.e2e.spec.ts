import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditInclusionProof, KeyView } from '@keyledger/contracts';
import { auditCheckpointsSubject } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, startServices } from '@keyledger/testing';
import type { NoteVerifierKey } from '@keyledger/transparency-log';
import { eventLeafHash, openNote, parseCheckpoint, parseVerifierKey, verifyInclusion } from '@keyledger/transparency-log';

/**
 * The transparency log end to end on the built services: keys issued and revoked become leaves,
 * the auditor publishes a signed checkpoint on NATS and serves it over HTTP, an inclusion proof
 * of an event verifies against it with nothing but the public key; then a database superuser
 * edits a stored event with the triggers off, and `keyledger audit verify` names its position
 * and says the signed checkpoint no longer matches the store. An exported bundle verifies
 * offline with the public key alone, and is refused once edited.
 */
describe('audit log', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let auditorHttp: string;
  let vkey: NoteVerifierKey;
  const adminKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  beforeAll(async () => {
    ctx = await createTestContext('auditlog');
    vkey = parseVerifierKey(ctx.auditVerifierKey);
    services = await startServices(ctx, ['relay', 'issuer', 'auditor'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: adminKey,
      AUDIT_CHECKPOINT_INTERVAL_MS: '1000',
      AUDIT_TREE_INTERVAL_MS: '200',
    });
    auditorHttp = `http://127.0.0.1:${services.of('auditor')[0]!.httpPort}`;
    await natsKeyApi(ctx, adminKey).adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx?.close();
  });

  it('publishes signed checkpoints of the events, serves them over HTTP, proves an event in one, exports a bundle checked offline, and audit verify finds a row a superuser altered', async () => {
    const api = natsKeyApi(ctx, adminKey);
    const published: string[] = [];
    const subscription = ctx.nc.subscribe(auditCheckpointsSubject(ctx.topology.subjectPrefix), { callback: (_error, message) => void published.push(message.string()) });

    const issued = await api.ok<{ keyId: string; view: KeyView }>('keys.issue', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] });
    await api.ok('keys.revoke', { keyId: issued.keyId, reason: 'audit e2e' });
    const events = await ctx.store.readStream(`key-${issued.keyId}`);
    const revoked = events.find((event) => event.type === 'KeyRevoked')!;
    // The store reads up to the oldest transaction still running (in any test sharing the database), as the
    // auditor's tree does: the count is of a prefix that holds the revocation only once that is below it.
    const total = async (): Promise<number> => {
      const { events: all } = await ctx.store.readAll({ transactionId: '0', position: '0' }, 10_000);
      return all.some((event) => event.eventId === revoked.eventId) ? all.length : Number.NaN;
    };

    // A checkpoint covering every event appears on the subject, signed by the auditor's key.
    const note = await eventually(
      'a published checkpoint covering every event',
      async () => {
        const size = await total();
        return published.find((candidate) => parseCheckpoint(openNote(candidate, [vkey]).text).size === size);
      },
      (found) => found !== undefined,
      30_000,
    );
    subscription.unsubscribe();
    const checkpoint = parseCheckpoint(openNote(note!, [vkey]).text);
    expect(checkpoint.origin).toBe(vkey.name);

    // The same checkpoint (or a later one) over HTTP, as plain text.
    const http = await fetch(`${auditorHttp}/v1/audit/checkpoint`);
    expect(http.status).toBe(200);
    expect(http.headers.get('content-type')).toMatch(/^text\/plain/);
    const served = parseCheckpoint(openNote(await http.text(), [vkey]).text);
    expect(served.size).toBeGreaterThanOrEqual(checkpoint.size);

    // An inclusion proof of the revocation, checked as an outsider does: the event it holds, the proof, the signed checkpoint.
    const proof = await api.ok<AuditInclusionProof>('audit.inclusion', { eventId: revoked.eventId }, null);
    const signed = parseCheckpoint(openNote(proof.checkpoint, [vkey]).text);
    const hashes = proof.proof.map((hash) => Buffer.from(hash, 'base64'));
    expect(verifyInclusion(proof.leafIndex, signed.size, eventLeafHash(revoked), hashes, signed.rootHash)).toBe(true);
    expect(verifyInclusion(proof.leafIndex, signed.size, eventLeafHash({ ...revoked, data: { ...(revoked.data as object), reason: 'something else' } }), hashes, signed.rootHash)).toBe(
      false,
    );
    const byHttp = (await (await fetch(`${auditorHttp}/v1/audit/inclusion?position=${revoked.position}&treeSize=${signed.size}`)).json()) as AuditInclusionProof;
    expect(byHttp.proof).toEqual(proof.proof);
    const unknown = await api.call('audit.inclusion', { eventId: '0190a3f0-0000-7000-8000-000000000001' }, null);
    expect(unknown).toMatchObject({ ok: false, error: { code: 'NOT_IN_LOG' } });
    const bad = await api.call('audit.inclusion', { eventId: revoked.eventId, position: revoked.position }, null);
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });

    const verifyArgs = ['audit', 'verify', '--json', '--key', ctx.auditVerifierKey];
    const verifyEnv = { DATABASE_URL: ctx.databaseUrl, DATABASE_SCHEMA: ctx.schema, KEYLEDGER_EVENT_KEYS: ctx.serviceEnv['KEYLEDGER_EVENT_KEYS']! };
    const clean = await runCli(ctx, verifyArgs, { env: verifyEnv });
    expect({ code: clean.code, stderr: clean.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, problems: [], latestCheckpoint: { matches: true } });

    // The audit trail and the key index rebuilt from the store agree with the live ones (the trail may run behind, which is no difference).
    const replayEnv = { ...verifyEnv, KEYLEDGER_HASH_PEPPERS: ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']! };
    for (const projection of ['audit-trail', 'key-index']) {
      const replay = await runCli(ctx, ['--json', 'replay', projection], { env: replayEnv });
      expect({ projection, code: replay.code, stderr: replay.stderr }).toEqual({ projection, code: 0, stderr: '' });
      expect(JSON.parse(replay.stdout)).toMatchObject({ projection, refused: 0, differenceCount: 0 });
    }
    // An auditor's trail row rewritten in the database is named by the replay.
    await eventually('the revocation in the trail', () => ctx.ownerDb.query<unknown[]>(`select 1 from audit_trail where event_id = $1`, [revoked.eventId]), (rows) => rows.length === 1);
    await ctx.ownerDb.query(`update audit_trail set actor = 'admin-key:key_mallory' where event_id = $1`, [revoked.eventId]);
    const trailEdited = await runCli(ctx, ['replay', 'audit-trail'], { env: replayEnv });
    expect(trailEdited.code).toBe(1);
    expect(trailEdited.stdout).toContain('1 difference(s)');
    expect(trailEdited.stdout).toContain(revoked.eventId);

    // An offline bundle from the first event on: checked with the public key alone, and refused once edited.
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-bundle-'));
    try {
      const file = join(dir, 'bundle.json');
      const exported = await runCli(ctx, ['audit', 'export', '--since', events[0]!.position, '--out', file], { env: verifyEnv });
      expect({ code: exported.code, stderr: exported.stderr }).toMatchObject({ code: 0, stderr: expect.stringMatching(/^wrote \d+ event\(s\)/) });
      const offline = await runCli(ctx, ['audit', 'verify', '--bundle', file, '--key', ctx.auditVerifierKey]);
      expect({ code: offline.code, out: offline.stdout }).toMatchObject({ code: 0, out: expect.stringMatching(/^audit verify --bundle: OK/) });
      const bundle = JSON.parse(readFileSync(file, 'utf8')) as { events: { position: string; event: { data: { reason?: string } } }[] };
      bundle.events.find((entry) => entry.position === revoked.position)!.event.data.reason = 'rotated as planned';
      writeFileSync(file, JSON.stringify(bundle));
      const refused = await runCli(ctx, ['audit', 'verify', '--bundle', file, '--key', ctx.auditVerifierKey]);
      expect({ code: refused.code, out: refused.stdout }).toMatchObject({ code: 1, out: expect.stringContaining(`position ${revoked.position} (leaf ${proof.leafIndex}): not in the signed checkpoint`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // A database superuser rewrites the revocation's reason, as the schema owner with every trigger off.
    await ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(`update events set data = jsonb_set(data, '{reason}', '"rotated as planned"') where position = $1`, [revoked.position]);
    });
    const tampered = await runCli(ctx, verifyArgs, { env: verifyEnv });
    expect(tampered.code).toBe(1);
    const report = JSON.parse(tampered.stdout) as { ok: boolean; firstBadPosition: string; latestCheckpoint: { matches: boolean }; problems: { kind: string; position?: string }[] };
    expect(report).toMatchObject({ ok: false, firstBadPosition: revoked.position, latestCheckpoint: { matches: false } });
    expect(report.problems).toEqual(expect.arrayContaining([{ kind: 'event-altered', leafIndex: proof.leafIndex, position: revoked.position }]));
    const readable = await runCli(ctx, verifyArgs.filter((arg) => arg !== '--json'), { env: verifyEnv });
    expect(readable.stdout).toMatch(new RegExp(`first bad position[^\\n]*\\b${revoked.position}\\b`));

    // The signed checkpoint no longer verifies against the store: the altered event's leaf does not lead to its root.
    const rows = await ctx.ownerDb.query<{ data: unknown }[]>(`select data from events where position = $1`, [revoked.position]);
    const edited = { ...revoked, data: rows[0]!.data };
    expect(verifyInclusion(proof.leafIndex, signed.size, eventLeafHash(edited), hashes, signed.rootHash)).toBe(false);
  });
});
