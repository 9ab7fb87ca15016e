import { randomBytes } from 'node:crypto';
import type { KeyUsage, TenantUsage } from '@keyledger/contracts';
import { MESSAGE_HEADERS, parseUsageSeal, usageBatchGroups, usageBatchRecordCount, usageBatchV3Schema } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, readStreamMessages, runCli, startServices, waitForExit } from '@keyledger/testing';

/**
 * Usage end to end on the built services: verifications over HTTP and NATS become KeyUsed
 * records in batches on the usage stream, the auditor stores them, and `keyledger usage`
 * reports exactly as many calls as were made, also after an auditor killed mid-stream.
 */
describe('usage', () => {
  let ctx: TestContext;
  let services: RunningServices;
  const auditors: RunningServices[] = [];
  const adminKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let verifierPort: number;

  const cli = (args: string[]): Promise<CliRun> => runCli(ctx, args, { adminKey });
  const usageOf = async (keyId: string, ...args: string[]): Promise<KeyUsage> => {
    const run = await cli(['usage', keyId, '--json', '--since', '1h', ...args]);
    if (run.code !== 0) throw new Error(`keyledger usage failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as KeyUsage;
  };
  /** Every verification made, and those that named the key under test (answered with its id). */
  const made = { all: 0, key: 0 };
  let keyUnderTest = '';
  const http = async (key: string | undefined, headers: Record<string, string> = {}): Promise<number> => {
    const response = await fetch(`http://127.0.0.1:${verifierPort}/v1/authorize`, {
      headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...headers },
    });
    made.all += 1;
    if (response.headers.get('x-keyledger-code') !== 'NOT_FOUND' && key === keyUnderTest) made.key += 1;
    return response.status;
  };
  const verify = async (body: { key: string; [field: string]: unknown }): Promise<string> => {
    const { code } = await natsKeyApi(ctx, adminKey).verify(body);
    made.all += 1;
    if (code !== 'NOT_FOUND' && body.key === keyUnderTest) made.key += 1;
    return code;
  };

  beforeAll(async () => {
    ctx = await createTestContext('usage');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: adminKey,
      // Many small batches, so that the auditor is killed between some of them.
      USAGE_BATCH_RECORDS: '20',
      USAGE_FLUSH_INTERVAL_MS: '50',
    });
    auditors.push(await startServices(ctx, ['auditor'], { CONSUMER_ACK_WAIT_MS: '2000' }));
    verifierPort = services.of('verifier')[0]!.httpPort;
    await natsKeyApi(ctx, adminKey).adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    auditors.forEach((auditor) => auditor.stop());
    await ctx.close();
  });

  it('reports as many calls as were made over HTTP and NATS, valid or not, and never stores a key', async () => {
    const api = natsKeyApi(ctx, adminKey);
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'] });
    keyUnderTest = issued.key;
    made.all = made.key = 0;
    await eventually(
      'key verifiable',
      () => http(issued.key),
      (status) => status === 200,
    );
    const unknown = formatNewKey('kl', 'live', (n) => randomBytes(n));
    for (let i = 0; i < 28; i += 1) expect(await http(issued.key, { 'X-Real-IP': '10.0.0.7' })).toBe(200);
    for (let i = 0; i < 10; i += 1) expect(await http(issued.key, { 'X-Required-Scope': 'orders:write', 'X-Real-IP': '10.0.0.8' })).toBe(403);
    for (let i = 0; i < 5; i += 1) expect(await http(unknown, { 'X-Keyledger-Tenant': 'acme', 'X-Real-IP': '192.0.2.66' })).toBe(401);
    for (let i = 0; i < 5; i += 1) expect(await http('kl_live_not-a-key', { 'X-Real-IP': '192.0.2.66' })).toBe(401);
    for (let i = 0; i < 20; i += 1) expect(await verify({ key: issued.key, scopes: ['orders:read'], ip: '10.0.0.9' })).toBe('VALID');
    for (let i = 0; i < 7; i += 1) expect(await verify({ key: issued.key, env: 'test' })).toBe('FORBIDDEN');
    for (let i = 0; i < 3; i += 1) expect(await verify({ key: unknown, tenant: 'acme' })).toBe('NOT_FOUND');
    const keyCalls = made.key;

    const usage = await eventually(
      'usage stored',
      () => usageOf(issued.keyId, '--by', 'minute'),
      (u) => u.totals.calls >= keyCalls,
      30_000,
    );
    expect(usage.totals).toEqual({ calls: keyCalls, valid: keyCalls - 17, invalid: 17, cost: 0 });
    expect(usage.tenant).toBe('acme');
    expect(usage.lastUsedAt).not.toBeNull();
    expect(usage.buckets.reduce((sum, b) => sum + (b.codes.INSUFFICIENT_PERMISSIONS ?? 0), 0)).toBe(10);
    expect(usage.buckets.reduce((sum, b) => sum + (b.codes.FORBIDDEN ?? 0), 0)).toBe(7);
    expect(usage.topSources).toEqual(
      expect.arrayContaining([
        { ip: '10.0.0.7', calls: 28, invalid: 0 },
        { ip: '10.0.0.8', calls: 10, invalid: 10 },
        { ip: '10.0.0.9', calls: 20, invalid: 0 },
      ]),
    );
    expect((await usageOf(issued.keyId, '--by', 'day')).totals.calls).toBe(keyCalls);
    const table = await cli(['usage', issued.keyId, '--by', 'hour']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`INSUFFICIENT_PERMISSIONS 10`);

    // The tenant's view: its key, and the unknown keys tried against it among the sources.
    const top = await cli(['usage', '--tenant', 'acme', '--top', '--json']);
    expect(top.code).toBe(0);
    const tenant = JSON.parse(top.stdout) as TenantUsage;
    expect(tenant.topKeys).toEqual([expect.objectContaining({ keyId: issued.keyId, calls: keyCalls })]);
    expect(tenant.topSources).toEqual(expect.arrayContaining([{ ip: '192.0.2.66', calls: 5, invalid: 5 }]));
    const topTable = await cli(['usage', '--tenant', 'acme', '--top']);
    expect(topTable.stdout).toContain(issued.keyId);
    expect(topTable.stdout).toContain('192.0.2.66');

    // Every verification is stored (none lost, none twice): a record for a known key, a count for a
    // string that named none; none holds the presented string.
    const [stored] = await eventually(
      'every verification stored',
      () =>
        ctx.ownerDb
          .query<{ all: number; leaked: number; unknown: number }[]>(
            `select (select count(*) from usage_records) + (select coalesce(sum(calls), 0) from usage_unknown_minutes) as all,
                  (select count(*) from usage_records r where r::text like '%' || $1 || '%' or r::text like '%' || $2 || '%')
                    + (select count(*) from usage_unknown_minutes u where u::text like '%' || $1 || '%' or u::text like '%' || $2 || '%') as leaked,
                  (select coalesce(sum(calls), 0) from usage_unknown_minutes where fingerprint <> '' and tenant = 'acme') as unknown`,
            [issued.key.slice(8, 30), unknown.slice(8, 30)],
          )
          .then((rows) => rows.map((row) => ({ all: Number(row.all), leaked: Number(row.leaked), unknown: Number(row.unknown) }))),
      ([row]) => (row?.all ?? 0) >= made.all,
    );
    expect(stored).toEqual({ all: made.all, leaked: 0, unknown: 8 });
    expect((await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from usage_records where key_id is null`))[0]!.n).toBe(0);

    // On the stream: version 3 batches, holding every verification, each record like another of its batch in the same group.
    const { state } = await ctx.jsm.streams.info(ctx.topology.usageStream);
    const messages = await readStreamMessages(ctx.js, ctx.topology.usageStream, state.messages);
    // Each sealed by the verifier under the installation's event key, over its batch id and body.
    const seals = messages.map((message) => {
      const seal = parseUsageSeal(message.headers?.get(MESSAGE_HEADERS.usageSeal) ?? '');
      return seal && ctx.auth.authenticator.checkUsageBatch(message.headers?.get(MESSAGE_HEADERS.msgId) ?? '', message.data, seal);
    });
    expect(new Set(seals)).toEqual(new Set(['ok']));
    const batches = messages.map((message) => usageBatchV3Schema.parse(message.json()));
    const tallied = batches.flatMap((batch) => batch.tallies ?? []).reduce((sum, tally) => sum + tally.calls, 0);
    expect(batches.reduce((sum, batch) => sum + usageBatchRecordCount(batch), 0) + tallied).toBe(made.all);
    for (const batch of batches) {
      const fields = usageBatchGroups(batch).map((group) => JSON.stringify(Object.entries(group.fields).sort()));
      expect(new Set(fields).size).toBe(fields.length);
    }
  });

  it('loses nothing and counts nothing twice when the auditor is killed mid-stream and restarted', async () => {
    const api = natsKeyApi(ctx, adminKey);
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'batch-job' });
    keyUnderTest = issued.key;
    made.key = 0;
    await eventually(
      'key verifiable',
      () => verify({ key: issued.key }),
      (code) => code === 'VALID',
    );
    const stream = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: 50 }, () => verify({ key: issued.key, ip: '10.9.9.9' })));
    };
    await stream(1500);
    await eventually(
      'some stored',
      () => usageOf(issued.keyId),
      (u) => u.totals.calls > 0,
    );
    // Kill the auditor (no shutdown, no acks) while batches still arrive and are being stored.
    const writing = stream(1500);
    const killed = auditors[0]!.all[0]!.child;
    killed.kill('SIGKILL');
    await waitForExit(killed);
    await writing;
    auditors.push(await startServices(ctx, ['auditor'], { CONSUMER_ACK_WAIT_MS: '2000' }));
    await stream(500);
    await eventually(
      'every call stored',
      () => usageOf(issued.keyId),
      (u) => u.totals.calls >= made.key,
      60_000,
    );
    // Past the ack wait: a batch stored but not acked before the kill has come again by now.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await usageOf(issued.keyId)).totals.calls).toBe(made.key);
    const [counts] = await ctx.ownerDb.query<{ records: number; distinct: number }[]>(
      `select count(*)::int as records, count(distinct (batch_id, seq))::int as distinct from usage_records where key_id = $1`,
      [issued.keyId],
    );
    expect(counts).toEqual({ records: made.key, distinct: made.key });
  });
});
