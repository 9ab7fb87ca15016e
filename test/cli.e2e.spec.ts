import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, runCli, startServices } from '@keyledger/testing';
import { verifierAppliedSubject } from '@keyledger/contracts';
import { encodeAnnouncement } from '@keyledger/key-projection';

const SERVICES = ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector'];

describe('the keyledger CLI', () => {
  let ctx: TestContext;
  const adminKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;

  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(ctx, args, { adminKey, env });

  beforeAll(async () => {
    ctx = await createTestContext('cli');
    services = await startServices(ctx, SERVICES, { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: adminKey, REVOCATION_FENCE_TIMEOUT_MS: '1500' });
    await eventually(
      'every service ready',
      () => cli(['status']),
      (run) => run.code === 0,
      60_000,
    );
    await eventually(
      'admin key accepted',
      () => cli(['keys', 'list', '--tenant', 'acme']),
      (run) => run.code === 0,
    );
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
  });

  it('reports every service ready with its endpoints', async () => {
    const run = await cli(['status', '--json']);
    expect(run.code).toBe(0);
    const status = JSON.parse(run.stdout) as { ready: boolean; services: { service: string; ready: boolean; instances: { endpoints: { http: string } }[] }[] };
    expect(status.ready).toBe(true);
    expect(status.services.map((s) => s.service).sort()).toEqual([...SERVICES].sort());
    for (const service of status.services) expect(service.instances[0]?.endpoints.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('says loudly that the services connect to NATS without a user: at start, in health and in status', async () => {
    const json = JSON.parse((await cli(['status', '--json'])).stdout) as { bus: string; services: { instances: { bus: string }[] }[] };
    expect(json.bus).toBe('unauthenticated');
    expect(json.services.flatMap((service) => service.instances.map((instance) => instance.bus))).toEqual(SERVICES.map(() => 'unauthenticated'));
    expect((await cli(['status'])).stdout).toMatch(/^WARNING bus: unauthenticated — /);
    const health = (await (await fetch(`http://127.0.0.1:${services.all[0]!.httpPort}/health/ready`)).json()) as { details: { nats: { bus: string } } };
    expect(health.details.nats.bus).toBe('unauthenticated');
    expect(services.logs()).toContain('NATS_CREDS is not set: connected to NATS without a user');
  });

  it('issues, verifies, changes, suspends, resumes and revokes a key', async () => {
    const issued = await cli([
      'keys',
      'issue',
      '--tenant',
      'acme',
      '--owner',
      'billing',
      '--scopes',
      'orders:*',
      '--allow-ip',
      '10.0.0.0/8',
      '--expires-in',
      '30d',
      '--meta',
      'team=payments',
      '--json',
    ]);
    expect(issued.code).toBe(0);
    const { keyId, key, expiresAt, metadata } = JSON.parse(issued.stdout) as {
      keyId: string;
      key: string;
      expiresAt: string;
      metadata: Record<string, string>;
    };
    expect(key).toMatch(/^kl_live_/);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(metadata).toEqual({ team: 'payments' });

    const verify = (...extra: string[]): Promise<CliRun> => cli(['keys', 'verify', key, '--json', ...extra]);
    const valid = await eventually(
      'key verifiable',
      () => verify('--scope', 'orders:read', '--ip', '10.1.1.1'),
      (run) => run.code === 0,
    );
    expect(JSON.parse(valid.stdout)).toMatchObject({
      valid: true,
      code: 'VALID',
      keyId,
      tenant: 'acme',
      owner: 'billing',
      scopes: ['orders:*'],
      env: 'live',
      meta: { team: 'payments' },
    });
    const denied = await verify('--scope', 'users:read', '--ip', '10.1.1.1');
    expect([denied.code, (JSON.parse(denied.stdout) as { code: string }).code]).toEqual([1, 'INSUFFICIENT_PERMISSIONS']);
    // `-` reads the key from standard input, out of shell history and the process list.
    const fromStdin = await runCli(ctx, ['keys', 'verify', '-', '--scope', 'orders:read', '--ip', '10.1.1.1', '--json'], { input: `${key}\n` });
    expect([fromStdin.code, JSON.parse(fromStdin.stdout)]).toEqual([0, expect.objectContaining({ code: 'VALID', keyId })]);

    expect((await cli(['keys', 'list', '--tenant', 'acme'])).stdout).toContain(keyId);
    expect(JSON.parse((await cli(['keys', 'update', keyId, '--scopes', 'users:read', '--no-expiry', '--json'])).stdout)).toMatchObject({
      scopes: ['users:read'],
      expiresAt: null,
    });
    expect(JSON.parse((await cli(['keys', 'get', keyId, '--json'])).stdout)).toMatchObject({ keyId, scopes: ['users:read'] });

    expect((await cli(['keys', 'suspend', keyId, '--reason', 'audit'])).code).toBe(0);
    await eventually(
      'suspension seen',
      () => verify('--ip', '10.1.1.1'),
      (run) => run.stdout.includes('"DISABLED"'),
    );
    expect((await cli(['keys', 'resume', keyId])).code).toBe(0);
    await eventually(
      'resumption seen',
      () => verify('--ip', '10.1.1.1'),
      (run) => run.code === 0,
    );
    const revoked = await cli(['keys', 'revoke', keyId, '--reason', 'rotated', '--json']);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ view: { status: 'revoked' }, fence: { complete: true } });
    expect(JSON.parse((await verify('--ip', '10.1.1.1')).stdout)).toMatchObject({ valid: false, code: 'REVOKED' });
  });

  it('prints readable tables for people', async () => {
    const issued = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'reports', '--scopes', 'reports:read', '--meta', 'team=data']);
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/key id[\s\S]*tenant[\s\S]*acme[\s\S]*key \(shown once\): kl_live_/);
    expect(issued.stdout).toContain('team=data');
    // Not a terminal: no colour escapes in a pipe or a file.
    expect(issued.stdout).not.toContain('\u001b[');
    const { key } = { key: /key \(shown once\): (\S+)/.exec(issued.stdout)![1]! };
    const verified = await eventually(
      'key verifiable',
      () => cli(['keys', 'verify', key, '--scope', 'reports:read']),
      (run) => run.code === 0,
    );
    expect(verified.stdout).toMatch(/result\s*│\s*VALID/);
    expect(verified.stdout).toMatch(/scopes\s*│\s*reports:read/);
    expect(verified.stdout).toMatch(/metadata\s*│\s*team=data/);
    expect(verified.stdout).not.toMatch(/\[|\{|null/);
  });

  it('fails with the error code and exit 4 for refused commands, 1 for keys that do not verify', async () => {
    const noAdmin = await cli(['keys', 'list', '--tenant', 'acme'], { KEYLEDGER_ADMIN_KEY: '' });
    expect([noAdmin.code, noAdmin.stderr.trim()]).toEqual([4, 'error: UNAUTHENTICATED: an admin key is required (Authorization: Bearer <key>)']);
    const badScope = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'x', '--scopes', 'Bad Scope']);
    expect([badScope.code, badScope.stderr]).toEqual([4, expect.stringContaining('INVALID_ARGUMENT') as string]);
    const malformed = await cli(['keys', 'verify', 'not-a-key', '--json']);
    expect([malformed.code, (JSON.parse(malformed.stdout) as { code: string }).code]).toEqual([1, 'MALFORMED']);
  });

  it('says what failed in one line, with a distinct exit code, never a stack trace or the whole help', async () => {
    const keyId = (JSON.parse((await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'guarded', '--scopes', 'a:b', '--json'])).stdout) as { keyId: string })
      .keyId;
    expect((await cli(['keys', 'suspend', keyId])).code).toBe(0);
    const offline = { NATS_URL: 'nats://127.0.0.1:1' };
    const cases: [string[], Record<string, string>, number, string][] = [
      [['status'], offline, 3, 'error: cannot reach NATS at nats://127.0.0.1:1: connection refused; is `npm start` running? Otherwise set NATS_URL (or --nats) to your NATS server'],
      [['status'], { NATS_URL: 'banana' }, 3, 'error: cannot reach NATS at banana: unknown host "banana"; check NATS_URL (or --nats)'],
      [
        ['keys', 'get', keyId, '--subject-prefix', 'nobody-here'],
        {},
        3,
        'error: no issuer answers nobody-here.v1.keys.get: is it running? (`keyledger status` lists what runs; check --subject-prefix)',
      ],
      [
        ['audit', 'search', '--subject-prefix', 'nobody-here'],
        {},
        3,
        'error: no auditor answers nobody-here.v1.audit.search: is it running? (`keyledger status` lists what runs; check --subject-prefix)',
      ],
      [['scan', '/nonexistent'], offline, 2, 'error: cannot use /nonexistent: no such file or directory'],
      [['keys', 'list', '--tenant', 'acme', '--bogus'], {}, 2, "error: unknown option '--bogus'\n(add --help for this command's options)"],
      [['keys', 'frob'], {}, 2, "error: unknown command 'frob'\n(add --help for this command's options)"],
      [['keys', 'list', '--tenant', 'acme', '--timeout', 'soon'], {}, 2, "error: option '--timeout <ms>' argument 'soon' is invalid. expected a number of milliseconds, such as 10000\n(add --help for this command's options)"],
      [['keys', 'list', '--tenant', 'acme', '--creds', '/nonexistent.creds'], {}, 2, expect.stringMatching(/^error: cannot read the NATS credentials/)],
      [['keys', 'suspend', keyId], {}, 4, `error: INVALID_TRANSITION: cannot suspend key ${keyId}: it is already suspended`],
      [['keys', 'issue', '--tenant', 'acme', '--owner', 'x', '--name', 'n'.repeat(300), '--no-scopes'], {}, 4, expect.stringMatching(/^error: INVALID_ARGUMENT: invalid request: name: must be at most \d+ characters$/)],
      [['keys', 'issue', '--tenant', 'acme', '--owner', 'x', '--scopes', ''], {}, 2, 'error: a key needs its scopes: --scopes orders:read,… (or --no-scopes for a key that passes only verifications requiring none)'],
      [['keys', 'issue', '--tenant', 'acme', '--owner', 'x'], {}, 2, 'error: a key needs its scopes: --scopes orders:read,… (or --no-scopes for a key that passes only verifications requiring none)'],
      [['rotation-policy', 'set', '--tenant', 'acme', '--max-age', '1s'], {}, 2, expect.stringMatching(/^error: --max-age 1s would rotate every key of acme that often, .* the least the CLI accepts is 1h \(add --force if you mean it\)$/)],
    ];
    for (const [args, env, code, message] of cases) {
      const run = await cli(args, env);
      expect({ args, code: run.code, stderr: run.stderr.trim() }).toEqual({ args, code, stderr: message });
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }
    const huge = await runCli(ctx, ['keys', 'verify', '-', '--json'], { input: `kl_live_${'x'.repeat(2_000_000)}` });
    expect([huge.code, (JSON.parse(huge.stdout) as { code: string }).code]).toEqual([1, 'MALFORMED']);
    const debug = await cli(['scan', '/nonexistent'], { ...offline, KEYLEDGER_DEBUG: '1' });
    expect(debug.stderr).toMatch(/^\s+at /m);
  });

  it('lists keys by owner and status, and says which are in their grace', async () => {
    const issue = async (owner: string): Promise<string> =>
      (JSON.parse((await cli(['keys', 'issue', '--tenant', 'listing', '--owner', owner, '--scopes', 'a:b', '--json'])).stdout) as { keyId: string }).keyId;
    const [first, second, third] = [await issue('alpha'), await issue('alpha'), await issue('beta')];
    expect((await cli(['keys', 'suspend', second])).code).toBe(0);
    const rotated = JSON.parse((await cli(['keys', 'rotate', third, '--grace', '1h', '--json'])).stdout) as { view: { keyId: string } };
    const ids = async (...filters: string[]): Promise<string[]> =>
      (JSON.parse((await cli(['keys', 'list', '--tenant', 'listing', ...filters, '--json'])).stdout) as { keyId: string }[]).map((key) => key.keyId);
    expect(await ids('--owner', 'alpha')).toEqual([first, second]);
    expect(await ids('--status', 'suspended')).toEqual([second]);
    expect(await ids('--owner', 'beta', '--status', 'active')).toEqual([third, rotated.view.keyId]);
    expect((await cli(['keys', 'list', '--tenant', 'listing', '--owner', 'beta'])).stdout).toMatch(/active, replaced: in grace until \d{4}-/);
    expect((await cli(['keys', 'list', '--tenant', 'listing', '--status', 'lost'])).code).toBe(2);
  });

  it('sets rate limits on a key, shows them, and answers RATE_LIMITED once they are spent', async () => {
    const bad = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'x', '--rate-limit', '2/1x']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('expected LIMIT/WINDOW') as string]);
    const issued = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'limited', '--no-scopes', '--rate-limit', '2/1h', '--rate-limit', '100/1d', '--json']);
    const { key, keyId } = JSON.parse(issued.stdout) as { key: string; keyId: string };
    const shown = await cli(['keys', 'get', keyId, '--json']);
    expect((JSON.parse(shown.stdout) as { rateLimits: unknown }).rateLimits).toEqual([
      { limit: 2, windowMs: 3_600_000 },
      { limit: 100, windowMs: 86_400_000 },
    ]);
    expect((await cli(['keys', 'get', keyId])).stdout).toContain('2/1h 100/1d');
    await eventually(
      'key verifiable',
      () => cli(['keys', 'verify', key]).then((run) => run.code),
      (code) => code === 0,
    );
    const codes: string[] = [];
    for (let i = 0; i < 2; i += 1) codes.push((JSON.parse((await cli(['keys', 'verify', key, '--json'])).stdout) as { code: string }).code);
    expect(codes).toEqual(['VALID', 'RATE_LIMITED']);
    const lifted = await cli(['keys', 'update', keyId, '--no-rate-limit', '--json']);
    expect((JSON.parse(lifted.stdout) as { rateLimits: unknown[] }).rateLimits).toEqual([]);
  });

  it('sets a quota with a refill, charges verifications their cost, tops it up and removes it', async () => {
    const bad = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'x', '--refill', '10/weekly']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('expected AMOUNT/daily') as string]);
    const issued = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'metered', '--no-scopes', '--credits', '5', '--refill', '1000/monthly@15', '--json']);
    const { key, keyId } = JSON.parse(issued.stdout) as { key: string; keyId: string };
    expect((await cli(['keys', 'get', keyId])).stdout).toContain('5 remaining, refill 1000/monthly@15');
    await eventually(
      'key verifiable',
      () => cli(['keys', 'verify', key, '--cost', '0']).then((run) => run.code),
      (code) => code === 0,
    );
    const verify = async (cost: string) =>
      JSON.parse((await cli(['keys', 'verify', key, '--cost', cost, '--json'])).stdout) as { code: string; remaining?: number };
    expect(await verify('3')).toMatchObject({ code: 'VALID', remaining: 2 });
    expect(await verify('3')).toMatchObject({ code: 'USAGE_EXCEEDED', remaining: 2 });
    const toppedUp = await cli(['keys', 'topup', keyId, '10', '--json']);
    expect(toppedUp.code).toBe(0);
    await eventually(
      'top-up applied',
      () => verify('3'),
      (result) => result.code === 'VALID',
    );
    const removed = await cli(['keys', 'update', keyId, '--no-credits', '--json']);
    expect((JSON.parse(removed.stdout) as { credits: unknown }).credits).toBeNull();
    const set = await cli(['keys', 'update', keyId, '--credits', '7', '--json']);
    expect((JSON.parse(set.stdout) as { credits: unknown }).credits).toEqual({ remaining: 7, refill: null });
    expect((await cli(['keys', 'topup', keyId, 'x'])).code).toBe(2);
  });

  it('scans a git repository for keys, offline: exit 1 with file, line, commit and hint, never the key', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'keyledger-cli-scan-'));
    try {
      const git = (...args: string[]): string =>
        execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args])
          .toString()
          .trim();
      git('init', '-q');
      writeFileSync(join(repo, 'clean.txt'), 'nothing here\n');
      git('add', '.');
      git('commit', '-qm', 'clean');
      const clean = await cli(['scan', repo, '--json'], { NATS_URL: 'nats://127.0.0.1:1' });
      expect([clean.code, JSON.parse(clean.stdout)]).toEqual([0, []]);
      const leaked = formatNewKey('kl', 'live', (n) => randomBytes(n));
      writeFileSync(join(repo, 'app.env'), `TOKEN=${leaked}\n`);
      git('add', '.');
      git('commit', '-qm', 'leak');
      const found = await cli(['scan', repo, '--json'], { NATS_URL: 'nats://127.0.0.1:1' });
      expect(found.code).toBe(1);
      expect(found.stdout).not.toContain(leaked);
      expect(JSON.parse(found.stdout)).toEqual([
        { file: 'app.env', line: 1, column: 7, hint: `kl_live_…${leaked.slice(-4)}` },
        { file: 'app.env', line: 1, column: 7, hint: `kl_live_…${leaked.slice(-4)}`, commit: git('rev-parse', 'HEAD') },
      ]);
      const table = await cli(['scan', repo], { NATS_URL: 'nats://127.0.0.1:1' });
      expect([table.code, table.stdout]).toEqual([1, expect.stringContaining('2 keys found') as string]);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('generates a well-formed key offline', async () => {
    const run = await cli(['keys', 'generate', '--prefix', 'acme', '--env', 'test', '--json'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { key: string }).key).toMatch(/^acme_test_[0-9A-Za-z]{38}$/);
  });

  // Last: a verifier that announces itself but never applies anything holds every fence until it times out.
  it('exits 5 naming the verifier when a revocation or an emergency rotation is not confirmed by every live verifier', async () => {
    const issue = async (): Promise<string> => {
      const run = await cli(['keys', 'issue', '--tenant', 'acme', '--owner', 'fenced', '--scopes', 'orders:read', '--json']);
      return (JSON.parse(run.stdout) as { keyId: string }).keyId;
    };
    const revoked = await issue();
    const rotated = await issue();
    const announce = () =>
      ctx.nc.publish(
        verifierAppliedSubject(ctx.topology.subjectPrefix),
        encodeAnnouncement(ctx.auth.authenticator, 'stuck-verifier', { transactionId: '1', position: '1' }, new Date()),
      );
    announce();
    const announcing = setInterval(announce, 200);
    try {
      const revoke = await cli(['keys', 'revoke', revoked, '--reason', 'fence drill']);
      expect(revoke.code).toBe(5);
      expect(revoke.stderr).toMatch(/VERIFIERS_UNCONFIRMED: key key_\w+ is revoked, but verifier\(s\) stuck-verifier did not confirm it/);

      const rotate = await cli(['keys', 'rotate', rotated, '--emergency']);
      expect(rotate.code).toBe(5);
      // The new key is still shown (once), and the old key's state is said plainly.
      expect(rotate.stdout).toMatch(/key \(shown once\): kl_live_/);
      expect(rotate.stderr).toMatch(/VERIFIERS_UNCONFIRMED: the old key key_\w+ is revoked, but verifier\(s\) stuck-verifier did not confirm it/);
    } finally {
      clearInterval(announcing);
    }
    // Both changes were stored all the same.
    for (const keyId of [revoked, rotated]) expect(JSON.parse((await cli(['keys', 'get', keyId, '--json'])).stdout)).toMatchObject({ status: 'revoked' });
  });
});
