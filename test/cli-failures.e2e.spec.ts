import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_STREAM } from '@keyledger/event-store';
import type { CliRun, TestContext } from '@keyledger/testing';
import { createTestContext, runCli, testEvent } from '@keyledger/testing';

const MIGRATE = fileURLToPath(new URL('../dist/services/migrate/main.js', import.meta.url));

/** One line on standard error, no stack trace, and the exit code. */
function expectOneLineFailure(run: CliRun, code: number, says: RegExp): void {
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr).toMatch(says);
  expect(run.code).toBe(code);
}

/**
 * The `keyledger` command and the migration job given broken files or a broken store, as an
 * operator would meet them: each says in one line what is wrong and what to do, with an exit
 * code of its own, and leaves nothing half done.
 */
describe('the CLI and migrate on broken inputs', () => {
  let ctx: TestContext;
  let work: string;
  let authDir: string;
  const cli = (...args: string[]): Promise<CliRun> => runCli(ctx, args);
  const clients = (...args: string[]): Promise<CliRun> => cli('clients', '--auth-dir', authDir, ...args);
  const listed = async (): Promise<{ name: string; revokedAt?: string }[]> =>
    JSON.parse((await cli('--json', 'clients', '--auth-dir', authDir, 'list')).stdout) as { name: string; revokedAt?: string }[];

  /** A copy of the auth directory whose operator file holds a corrupted nkey seed. */
  async function corruptOperator(): Promise<string> {
    const dir = await mkdtemp(join(work, 'corrupt-'));
    for (const file of ['operator.json', 'system.creds']) await writeFile(join(dir, file), await readFile(join(authDir, file)));
    const state = JSON.parse(await readFile(join(dir, 'operator.json'), 'utf8')) as { seeds: { account: string } };
    // One character changed: the seed's checksum no longer holds.
    state.seeds.account = state.seeds.account.slice(0, 10) + (state.seeds.account[10] === 'A' ? 'B' : 'A') + state.seeds.account.slice(11);
    await writeFile(join(dir, 'operator.json'), JSON.stringify(state));
    return dir;
  }

  beforeAll(async () => {
    ctx = await createTestContext('clifailures');
    work = await mkdtemp(join(tmpdir(), 'keyledger-cli-failures-'));
    authDir = join(work, 'nats-auth');
    expect((await cli('nats-auth', '--auth-dir', authDir, 'init')).code).toBe(0);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
    await ctx?.close();
  });

  it('refuses an operator file with a corrupt nkey seed in one line, exit 3, for clients and nats-auth alike', async () => {
    const corrupt = await corruptOperator();
    const says = /operator\.json holds nkey seeds that do not decode \(seeds\.account\): restore the directory from its backup/;
    expectOneLineFailure(await cli('clients', '--auth-dir', corrupt, 'add', 'billing', '--allow', 'verify'), 3, says);
    expectOneLineFailure(await cli('clients', '--auth-dir', corrupt, 'list'), 3, says);
    expectOneLineFailure(await cli('nats-auth', '--auth-dir', corrupt, 'init'), 3, says);
    expectOneLineFailure(await cli('nats-auth', '--auth-dir', corrupt, 'kubernetes', '--out', join(work, 'k8s')), 3, says);
    expect(existsSync(join(work, 'k8s'))).toBe(false);
  });

  it('refuses a .creds file whose seed does not decode in one line, exit 3, before connecting', async () => {
    const creds = await readFile(join(authDir, 'verifier.creds'), 'utf8');
    const broken = join(work, 'broken.creds');
    await writeFile(
      broken,
      creds.replace(/^(SU)(.)/m, (_, head: string, next: string) => `${head}${next === 'A' ? 'B' : 'A'}`),
    );
    expectOneLineFailure(
      await cli('--creds', broken, 'keys', 'list', '--tenant', 'acme'),
      3,
      /broken\.creds is not a usable NATS user credentials file \(its nkey seed does not decode\): give the \.creds file/,
    );
    await writeFile(broken, 'not a creds file');
    expectOneLineFailure(
      await cli('--creds', broken, 'keys', 'verify', 'kl_live_x'),
      3,
      /broken\.creds is not a usable NATS user credentials file \(no user JWT and seed\)/,
    );
  });

  it('refuses to revoke with a corrupt system.creds, exit 3, revoking nothing', async () => {
    expect((await clients('add', 'doomed', '--allow', 'verify')).code).toBe(0);
    const systemCreds = join(authDir, 'system.creds');
    const good = await readFile(systemCreds, 'utf8');
    await writeFile(
      systemCreds,
      good.replace(/^(SU)(.)/m, (_, head: string, next: string) => `${head}${next === 'A' ? 'B' : 'A'}`),
    );
    try {
      expectOneLineFailure(
        await clients('revoke', 'doomed'),
        3,
        /system\.creds is not a usable NATS user credentials file: run keyledger nats-auth --auth-dir .* init/,
      );
      expect((await listed()).find((client) => client.name === 'doomed')?.revokedAt).toBeUndefined();
    } finally {
      await writeFile(systemCreds, good);
    }
  });

  it('writes the creds file of clients add --out before registering the client: an unwritable path registers nothing', async () => {
    const unwritable = join(work, 'no-such-folder', 'billing.creds');
    expectOneLineFailure(
      await clients('add', 'billing', '--allow', 'verify', '--out', unwritable),
      2,
      /cannot write the credentials to .*billing\.creds \(ENOENT\); client billing was not registered/,
    );
    expect((await listed()).map((client) => client.name)).not.toContain('billing');
    // An existing file is never overwritten, and refuses the same way.
    const taken = join(work, 'taken.creds');
    await writeFile(taken, 'mine');
    expectOneLineFailure(await clients('add', 'billing', '--allow', 'verify', '--out', taken), 2, /\(EEXIST\); client billing was not registered/);
    expect(await readFile(taken, 'utf8')).toBe('mine');
    // The name is free: the same command to a writable path registers it, with its file.
    const out = join(work, 'billing.creds');
    expect(await clients('add', 'billing', '--allow', 'verify', '--out', out)).toMatchObject({ code: 0 });
    expect(await readFile(out, 'utf8')).toContain('-----BEGIN USER NKEY SEED-----');
    expect((await listed()).map((client) => client.name)).toContain('billing');
  });

  it('migrate --seal-unauthenticated-events on a store whose chain is broken: one line, exit 3, nothing sealed', async () => {
    await ctx.store.append('key-broken', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
    await ctx.ownerDb.transaction(async (manager) => {
      await manager.query(`set local session_replication_role = replica`);
      await manager.query(`update events set data = jsonb_set(data, '{metadata,n}', '"20"') where stream_id = 'key-broken' and stream_version = 1`);
    });
    const run = await new Promise<CliRun>((resolve) => {
      execFile(
        process.execPath,
        [MIGRATE, '--seal-unauthenticated-events'],
        { env: { PATH: process.env['PATH'] ?? '', ...ctx.serviceEnv, DATABASE_MIGRATION_URL: ctx.databaseUrl } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expectOneLineFailure(
      run,
      3,
      /^migrate: refusing to seal: 1 event\(s\) break their stream's hash chain .*nothing was sealed\. Find the rows with verifyEventChains/,
    );
  });
});
