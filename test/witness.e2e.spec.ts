import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditCheckpoint, AuditConsistencyProof } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, freePort, natsKeyApi, runCli, spawnCli, startServices } from '@keyledger/testing';
import { NoteSigner, openNote, parseCheckpoint, parseVerifierKey } from '@keyledger/transparency-log';

/**
 * Witnesses on the built services: the auditor asks a real `keyledger witness serve` (another
 * process, its own key and state file) to cosign each checkpoint (c2sp.org/tlog-witness), and
 * serves checkpoints with the cosignature, which a client checks with the witness's key. The
 * witness cosigns a later checkpoint only with a consistency proof from the last one it cosigned;
 * a witness that has seen a larger tree than the log's (a log rolled back, or shown another
 * view) refuses, and the auditor keeps serving what it had. A cosignature edited in the database
 * is not served.
 */
describe('witness cosignatures', () => {
  let ctx: TestContext;
  let services: RunningServices | undefined;
  let witness: ChildProcess | undefined;
  let witnessLog = '';
  let dir: string;
  const adminKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const witnessKey = NoteSigner.generate('witness.example/w1').privateKey;
  const witnessVkey = NoteSigner.fromPrivateKey(witnessKey).cosignerVerifierKey();
  let statePath: string;
  let port: number;

  async function startWitness(): Promise<void> {
    witness = spawnCli(['witness', 'serve', '--port', String(port), '--state', statePath, '--log-key', ctx.auditVerifierKey], {
      KEYLEDGER_WITNESS_SIGNING_KEY: witnessKey,
    });
    witness.stderr?.on('data', (chunk: Buffer) => (witnessLog += chunk.toString()));
    await eventually(
      'the witness listening',
      () => Promise.resolve(witnessLog),
      (log) => log.includes('listening on'),
      20_000,
    );
  }

  async function stopWitness(): Promise<void> {
    if (!witness || witness.exitCode !== null) return;
    const exited = new Promise((resolve) => witness!.once('exit', resolve));
    witness.kill('SIGTERM');
    await exited;
  }

  const checkpoint = async (): Promise<AuditCheckpoint> => {
    const run = await runCli(ctx, ['--json', 'audit', 'checkpoint']);
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as AuditCheckpoint;
  };
  /** The latest checkpoint once it carries the witness's cosignature, checked with the witness's key alone. */
  const cosigned = (size?: number) =>
    eventually(
      `a checkpoint${size ? ` of more than ${size} leaves` : ''} cosigned by the witness`,
      async () => {
        const latest = await checkpoint();
        try {
          const opened = openNote(latest.note, [parseVerifierKey(witnessVkey)]);
          return { latest, verified: opened.verified };
        } catch {
          return { latest, verified: [] };
        }
      },
      ({ latest, verified }) => verified.length === 1 && (size === undefined || latest.treeSize > size),
      30_000,
    );

  beforeAll(async () => {
    ctx = await createTestContext('witness');
    dir = mkdtempSync(join(tmpdir(), 'keyledger-witness-'));
    statePath = join(dir, 'state.json');
    port = await freePort();
    await startWitness();
    services = await startServices(ctx, ['relay', 'issuer', 'auditor'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: adminKey,
      AUDIT_CHECKPOINT_INTERVAL_MS: '500',
      AUDIT_TREE_INTERVAL_MS: '200',
      AUDIT_WITNESSES: `${witnessVkey} http://127.0.0.1:${port}/`,
    });
    await natsKeyApi(ctx, adminKey).adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await stopWitness();
    await ctx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets each new checkpoint cosigned by the witness, with a consistency proof from the last one it cosigned', async () => {
    const api = natsKeyApi(ctx, adminKey);
    await api.ok('keys.issue', { tenant: 'acme', owner: 'billing' });
    // The checkpoint that covers the key just issued: one cosigned before it was a leaf would be
    // followed by another, and the witness's state would move on past it.
    const [row] = await ctx.ownerDb.query<{ head: number }[]>(`select max(position)::int as head from events`);
    const first = await cosigned(row!.head - 1);
    // The log's own signature still verifies, and the witness's state is that checkpoint.
    const origin = parseVerifierKey(ctx.auditVerifierKey).name;
    expect(openNote(first.latest.note, [parseVerifierKey(ctx.auditVerifierKey)]).verified).toHaveLength(1);
    expect((JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, { size: number }>)[origin]?.size).toBe(first.latest.treeSize);

    await api.ok('keys.issue', { tenant: 'acme', owner: 'billing' });
    const second = await cosigned(first.latest.treeSize);
    expect(witnessLog).toContain(`old ${first.latest.treeSize}: 200 cosigned size ${second.latest.treeSize}`);
    // A consistency proof between the two, each checkpoint cosigned.
    const proof = await api.ok<AuditConsistencyProof>('audit.consistency', { oldSize: first.latest.treeSize, newSize: second.latest.treeSize }, null);
    for (const note of [proof.oldCheckpoint!, proof.newCheckpoint!]) expect(openNote(note, [parseVerifierKey(witnessVkey)]).verified).toHaveLength(1);
  });

  it('does not serve a cosignature edited in the database, and asks the witness again for one that verifies', async () => {
    const { latest } = await cosigned();
    const [row] = await ctx.ownerDb.query<{ line: string }[]>(`select line from tlog_cosignatures where tree_size = $1`, [latest.treeSize]);
    const forged = row!.line.replace(/ (\S{10})/, (_match, start: string) => ` ${start.startsWith('A') ? 'B' : 'A'}${start.slice(1)}`);
    witnessLog = '';
    await ctx.ownerDb.query(`update tlog_cosignatures set line = $2 where tree_size = $1`, [latest.treeSize, forged]);
    const served = await checkpoint();
    expect(served.treeSize).toBe(latest.treeSize);
    expect(served.note).not.toContain(forged.trim());
    // The edited row does not count as held: the witness is asked again and its answer replaces it.
    await eventually(
      'the witness asked again',
      () => Promise.resolve(witnessLog),
      (log) => log.includes(`old ${latest.treeSize}: 200`),
      30_000,
    );
    const repaired = await cosigned();
    expect(repaired.latest.treeSize).toBe(latest.treeSize);
    expect(repaired.latest.note).not.toContain(forged.trim());
  });

  it('says in one line when its port is taken', async () => {
    const taken = await runCli(ctx, ['witness', 'serve', '--port', String(port), '--state', join(dir, 'other.json'), '--log-key', ctx.auditVerifierKey], {
      env: { KEYLEDGER_WITNESS_SIGNING_KEY: witnessKey },
    });
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/^error: [^\n]*\n$/);
  });

  it('is refused by a witness that has seen a larger tree, and keeps serving the log’s own signature', async () => {
    const before = await checkpoint();
    await stopWitness();
    // The witness remembers a tree larger than anything this log signed: a view the log never showed it.
    const origin = parseCheckpoint(openNote(before.note, [parseVerifierKey(ctx.auditVerifierKey)]).text).origin;
    writeFileSync(statePath, JSON.stringify({ [origin]: { size: before.treeSize + 1000, rootHash: randomBytes(32).toString('base64') } }));
    witnessLog = '';
    await startWitness();
    await natsKeyApi(ctx, adminKey).ok('keys.issue', { tenant: 'acme', owner: 'billing' });
    await eventually(
      'the witness refused the new checkpoint',
      () => Promise.resolve(witnessLog),
      (log) => / 409 /.test(log) || / 422 /.test(log),
      30_000,
    );
    const latest = await eventually('a newer checkpoint', checkpoint, (candidate) => candidate.treeSize > before.treeSize, 30_000);
    expect(openNote(latest.note, [parseVerifierKey(ctx.auditVerifierKey)]).verified).toHaveLength(1);
    expect(() => openNote(latest.note, [parseVerifierKey(witnessVkey)])).toThrow(/no trusted key/);
  });
});
