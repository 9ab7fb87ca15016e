import { isRunning, LocalInstallation } from '@keyledger/testing';
import type { NpmStartRun } from '@keyledger/testing';

const CREDITS = 1000;
const VERIFICATIONS = 20;

interface Issued {
  readonly keyId: string;
  readonly key: string;
}

/**
 * The real `npm start` on an installation of its own (embedded Postgres, its own nats-server),
 * stopped as a terminal stops it: SIGINT to the whole process group. What the verifier admitted
 * right before the Ctrl-C must be recorded, the usage and the balance must agree, and nothing
 * may be left running.
 */
describe('npm start', () => {
  let installation: LocalInstallation;
  let run: NpmStartRun | undefined;
  let rootKey: string;
  let issued: Issued;

  beforeAll(async () => {
    installation = await LocalInstallation.create('npm-start');
  });

  afterAll(async () => {
    await run?.interrupt('SIGTERM');
    for (const pid of installation.recordedPids()) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    await installation.remove();
  });

  /** One verification over HTTP: 1 credit when VALID (a caller that is not a trusted proxy cannot set the cost). */
  const authorize = (key: string): Promise<number> =>
    fetch(`http://127.0.0.1:${installation.port('verifier')}/v1/authorize`, { headers: { Authorization: `Bearer ${key}` } }).then((response) => response.status);

  /** N verifications, all at once, answered before the caller goes on. */
  async function verifyTimes(n: number): Promise<void> {
    const statuses = await Promise.all(Array.from({ length: n }, () => authorize(issued.key)));
    expect(statuses).toEqual(statuses.map(() => 200));
  }

  /** What the auditor's usage and the key's balance say about the key. */
  async function recorded(): Promise<{ cost: number; remaining: number }> {
    const usage = await installation.cli(['--json', 'usage', issued.keyId, '--since', '1h'], rootKey);
    expect(usage.stderr).toBe('');
    const key = await installation.cli(['--json', 'keys', 'get', issued.keyId], rootKey);
    expect(key.stderr).toBe('');
    return {
      cost: (JSON.parse(usage.stdout) as { totals: { cost: number } }).totals.cost,
      remaining: (JSON.parse(key.stdout) as { credits: { remaining: number } }).credits.remaining,
    };
  }

  /**
   * Until the auditor has stored the usage. A batch the verifier published as the auditor was
   * stopping can be handed to the auditor's last pull request, which JetStream keeps after the
   * auditor left: it comes back only after the usage consumer's ack wait (30 s), late but not lost.
   */
  async function eventuallyRecorded(expectedCost: number): Promise<{ cost: number; remaining: number }> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const now = await recorded();
      if ((now.cost === expectedCost && now.remaining === CREDITS - expectedCost) || Date.now() > deadline) return now;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  function stillRunning(): number[] {
    return installation.recordedPids().filter(isRunning);
  }

  it('records every verification admitted right before a Ctrl-C to its process group, and leaves nothing running', async () => {
    run = installation.start();
    await run.ready();
    rootKey = LocalInstallation.rootKey(run.output());
    const issue = await installation.cli(['--json', 'keys', 'issue', '--tenant', 'acme', '--owner', 'billing', '--scopes', 'orders:read', '--credits', String(CREDITS)], rootKey);
    expect(issue.stderr).toBe('');
    issued = JSON.parse(issue.stdout) as Issued;
    // Until the verifier knows the key; the call that is VALID is the first of the verifications.
    while ((await authorize(issued.key)) !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    const pids = installation.recordedPids();

    await verifyTimes(VERIFICATIONS - 1);
    // At once: the verifier flushes its consumption about every second, so some is unflushed now.
    expect([0, 'SIGINT']).toContain(await run.interrupt('SIGINT'));

    const output = run.output();
    expect(output).not.toMatch(/ECONNREFUSED|not recorded/);
    expect(output.indexOf('[keyledger] stopping servers')).toBeGreaterThan(output.lastIndexOf('"msg":"verifier stopping"'));
    expect(pids.filter(isRunning)).toEqual([]);

    run = installation.start();
    await run.ready();
    expect(await eventuallyRecorded(VERIFICATIONS)).toEqual({ cost: VERIFICATIONS, remaining: CREDITS - VERIFICATIONS });
  });

  it('after npm start was killed outright, the next one stops the services it left, takes over its servers and loses nothing', async () => {
    if (!run) throw new Error('the first test did not start npm start');
    await verifyTimes(VERIFICATIONS);
    const owner = installation.recordedPids().at(-1);
    if (owner === undefined) throw new Error('no owner recorded');
    // npm start itself (node tools/start.mjs), as `kill -9` or the OOM killer would; npm then exits.
    process.kill(owner, 'SIGKILL');
    await run.exited();
    const left = stillRunning();
    expect(left.length).toBe(8); // postmaster, nats-server and six services

    run = installation.start();
    await run.ready();
    expect(run.output()).toMatch(/stopping issuer \(pid \d+\), verifier .* left running by an npm start that was killed/);
    expect(run.output()).toContain('postgres: taking over embedded PostgreSQL');
    expect(run.output()).toContain('nats: taking over nats-server');
    expect(left.filter((pid) => isRunning(pid) && !installation.recordedPids().includes(pid))).toEqual([]);
    expect(await eventuallyRecorded(2 * VERIFICATIONS)).toEqual({ cost: 2 * VERIFICATIONS, remaining: CREDITS - 2 * VERIFICATIONS });

    const pids = installation.recordedPids();
    expect([0, 'SIGINT']).toContain(await run.interrupt('SIGINT'));
    run = undefined;
    expect(pids.filter(isRunning)).toEqual([]);
  });
});
