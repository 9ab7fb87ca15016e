import type { DataSource } from 'typeorm';
import type { KeyledgerService } from '@keyledger/config';
import { SERVICE_DATABASE_ROLES } from '@keyledger/config';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, createTestContext, testEvent, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { NO_STREAM, PostgresEventStore } from '@keyledger/event-store';
import { DATABASE_GRANTS, KEYLEDGER_TABLES, migrateKeyledger } from './index.js';

const SERVICES = Object.keys(SERVICE_DATABASE_ROLES) as KeyledgerService[];
const PRIVILEGES = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'] as const;
const COLUMNS = 'event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash';
const METADATA = '{"actor":"a","correlationId":"c","causationId":"c"}';
const CREDITS = { type: 'CreditsConsumed', data: { entries: [['key_0000000000000000000000vf00', 0, 1]] }, metadata: testMetadata() } as const;

/** The privileges `role` holds on `table` (directly or through membership), as Postgres says. */
async function privilegesOn(db: DataSource, role: string, table: string): Promise<string[]> {
  const rows = await db.query<{ privilege: string; held: boolean }[]>(
    `select p as privilege, has_table_privilege($1, $2, p) as held from unnest($3::text[]) as p`,
    [role, table, PRIVILEGES],
  );
  return rows.filter((row) => row.held).map((row) => row.privilege);
}

describe('per-service database roles', () => {
  let ctx: TestContext;
  const dbs = {} as Record<KeyledgerService, DataSource>;
  beforeAll(async () => {
    ctx = await createTestContext('dbroles');
    for (const service of SERVICES) dbs[service] = await ctx.connectAs(service);
    await ctx.store.append('key-r1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
  });
  afterAll(() => ctx.close());

  it('names every table of the schema in the grants, and no table it does not have', async () => {
    const tables = await ctx.ownerDb.query<{ name: string }[]>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition and c.relname <> 'schema_migrations'
        order by 1`,
      [ctx.schema],
    );
    expect(tables.map((table) => table.name)).toEqual([...KEYLEDGER_TABLES].sort());
  });

  it('gives each service role exactly the privileges of its row in the grants table', async () => {
    for (const service of SERVICES) {
      for (const table of KEYLEDGER_TABLES) {
        const expected = [...(DATABASE_GRANTS[service].tables[table] ?? [])].sort();
        expect({ service, table, held: (await privilegesOn(ctx.ownerDb, SERVICE_DATABASE_ROLES[service], table)).sort() }).toEqual({
          service,
          table,
          held: expected,
        });
      }
    }
  });

  it('lets only the issuer, the rotator, the verifier and the anomaly detector append events, and nobody change one', async () => {
    const onEvents = Object.fromEntries(await Promise.all(SERVICES.map(async (service) => [service, await privilegesOn(ctx.ownerDb, SERVICE_DATABASE_ROLES[service], 'events')])));
    expect(onEvents).toEqual({
      issuer: ['select', 'insert'],
      verifier: ['select', 'insert'],
      rotator: ['select', 'insert'],
      relay: ['select'],
      auditor: ['select'],
      'anomaly-detector': ['select', 'insert'],
    });
    expect(await privilegesOn(ctx.ownerDb, 'public', 'events')).toEqual([]);
  });

  it.each(SERVICES)('refuses %s an UPDATE, DELETE or TRUNCATE of events, and leaves them as they were', async (service) => {
    for (const sql of [`update events set data = '{"forged":true}'`, `delete from events`, `truncate events`]) {
      await expect(dbs[service].query(sql)).rejects.toThrow(/permission denied/);
    }
    expect(await ctx.store.readStream('key-r1')).toHaveLength(2);
  });

  it.each(['relay', 'auditor'] as const)('refuses the %s any INSERT into events', async (service) => {
    await expect(
      dbs[service].query(
        `insert into events (${COLUMNS}) values ('0190a3f0-0000-7000-8000-00000000bb01', 'key-r2', 1, 'KeySuspended', 1, '{}', '${METADATA}', now(), decode(repeat('00', 32), 'hex'))`,
      ),
    ).rejects.toThrow(/permission denied/);
    await expect(new PostgresEventStore(dbs[service], ctx.auth).append('key-r2', NO_STREAM, [testEvent()])).rejects.toThrow(/permission denied/);
    expect(await ctx.store.readStream('key-r2')).toHaveLength(0);
  });

  it('lets each writer append through the store as its own role: the issuer and the rotator key events, the verifier its credits', async () => {
    for (const service of ['issuer', 'rotator'] as const) {
      await new PostgresEventStore(dbs[service], ctx.auth).append(`key-w${service}`, NO_STREAM, [testEvent({ service })]);
      expect(await ctx.store.readStream(`key-w${service}`)).toHaveLength(1);
    }
    await new PostgresEventStore(dbs.verifier, ctx.auth).append('credits-w1', NO_STREAM, [CREDITS]);
    expect(await ctx.store.readStream('credits-w1')).toHaveLength(1);
  });

  it('refuses the verifier any event but CreditsConsumed in a credits stream, by SQL or through the store', async () => {
    const keyId = 'key_0000000000000000000000vf01';
    const refusals = [
      dbs.verifier.query(`insert into events (${COLUMNS}) values ('0190a3f0-0000-7000-8000-00000000bb02', 'key-${keyId}', 1, 'KeyIssued', 1, '${JSON.stringify(testKeyIssuedData(keyId))}', '${METADATA}', now(), decode(repeat('00', 32), 'hex'))`),
      dbs.verifier.query(`insert into events (${COLUMNS}) values ('0190a3f0-0000-7000-8000-00000000bb03', 'credits-w2', 1, 'KeyRevoked', 1, '{}', '${METADATA}', now(), decode(repeat('00', 32), 'hex'))`),
      new PostgresEventStore(dbs.verifier, ctx.auth).append(`key-${keyId}`, NO_STREAM, [testEvent()]),
      new PostgresEventStore(dbs.verifier, ctx.auth).append(`key-${keyId}`, NO_STREAM, [CREDITS]),
    ];
    for (const refusal of refusals) await expect(refusal).rejects.toThrow(/row-level security policy/);
    expect(await ctx.store.readStream(`key-${keyId}`)).toHaveLength(0);
    expect(await ctx.store.readStream('credits-w2')).toHaveLength(0);
  });

  it('lets the anomaly detector append AnomalyDetected to a key stream and refuses it any other event, by SQL or through the store', async () => {
    const keyId = 'key_0000000000000000000000ad01';
    const anomaly = {
      type: 'AnomalyDetected',
      data: { keyId, tenant: 'acme', kind: 'usage-spike', severity: 'high', detectedAt: new Date().toISOString() },
      metadata: testMetadata(),
    } as const;
    const detector = new PostgresEventStore(dbs['anomaly-detector'], ctx.auth);
    const refusals = [
      dbs['anomaly-detector'].query(`insert into events (${COLUMNS}) values ('0190a3f0-0000-7000-8000-00000000bb04', 'key-${keyId}', 1, 'KeySuspended', 1, '{}', '${METADATA}', now(), decode(repeat('00', 32), 'hex'))`),
      detector.append(`key-${keyId}`, NO_STREAM, [testEvent()]),
      detector.append(`tenant-acme`, NO_STREAM, [anomaly]),
      detector.append('credits-ad1', NO_STREAM, [CREDITS]),
    ];
    for (const refusal of refusals) await expect(refusal).rejects.toThrow(/row-level security policy/);
    expect(await ctx.store.readStream(`key-${keyId}`)).toHaveLength(0);
    await detector.append(`key-${keyId}`, NO_STREAM, [anomaly]);
    expect((await ctx.store.readStream(`key-${keyId}`)).map((event) => event.type)).toEqual(['AnomalyDetected']);
  });

  it("lets the issuer append an anomaly's acknowledgement and refuses it to the anomaly detector, which only finds", async () => {
    const keyId = 'key_0000000000000000000000ad02';
    const findingId = '0190a3f0-0000-7000-8000-00000000bb05';
    const at = new Date().toISOString();
    const anomaly = { eventId: findingId, type: 'AnomalyDetected', data: { keyId, tenant: 'acme', kind: 'honeytoken', severity: 'critical', detectedAt: at }, metadata: testMetadata() } as const;
    const ack = { type: 'AnomalyAcknowledged', data: { keyId, tenant: 'acme', findingId, acknowledgedBy: 'admin-key:key_x', at }, metadata: testMetadata() } as const;
    const detector = new PostgresEventStore(dbs['anomaly-detector'], ctx.auth);
    await detector.append(`key-${keyId}`, NO_STREAM, [anomaly]);
    await expect(detector.append(`key-${keyId}`, 1, [ack])).rejects.toThrow(/row-level security policy/);
    await new PostgresEventStore(dbs.issuer, ctx.auth).append(`key-${keyId}`, 1, [ack]);
    expect((await ctx.store.readStream(`key-${keyId}`)).map((event) => event.type)).toEqual(['AnomalyDetected', 'AnomalyAcknowledged']);
  });

  it('takes back, on the next migrate, an append policy made by hand', async () => {
    await ctx.ownerDb.query(`create policy forged on events for insert to ${SERVICE_DATABASE_ROLES.verifier} with check (true)`);
    await new PostgresEventStore(dbs.verifier, ctx.auth).append('key-w3', NO_STREAM, [testEvent()]);
    await migrateKeyledger({ url: ctx.databaseUrl, schema: ctx.schema, appRole: APP_ROLE });
    await expect(new PostgresEventStore(dbs.verifier, ctx.auth).append('key-w4', NO_STREAM, [testEvent()])).rejects.toThrow(/row-level security policy/);
  });

  it('keeps a service from the tables of another: the verifier cannot read usage or pending deliveries, the relay cannot write snapshots', async () => {
    await expect(dbs.verifier.query(`select count(*) from usage_keys`)).rejects.toThrow(/permission denied/);
    await expect(dbs.verifier.query(`select count(*) from pending_deliveries`)).rejects.toThrow(/permission denied/);
    await expect(dbs.relay.query(`delete from projection_snapshot_chunks`)).rejects.toThrow(/permission denied/);
    await expect(dbs['anomaly-detector'].query(`select count(*) from usage_keys`)).rejects.toThrow(/permission denied/);
    await expect(dbs.auditor.query(`select count(*) from anomaly_baselines`)).rejects.toThrow(/permission denied/);
    await expect(dbs.issuer.query(`select usage_drop_partitions(current_date)`)).rejects.toThrow(/permission denied/);
    await expect(dbs.auditor.query(`select usage_drop_partitions_unbounded(current_date + 30)`)).rejects.toThrow(/permission denied/);
  });

  it('keeps the role of before per-service roles working, as every service at once and no more', async () => {
    for (const table of KEYLEDGER_TABLES) {
      const union = [...new Set(SERVICES.flatMap((service) => DATABASE_GRANTS[service].tables[table] ?? []))].sort();
      expect({ table, held: (await privilegesOn(ctx.ownerDb, APP_ROLE, table)).sort() }).toEqual({ table, held: union });
    }
    await ctx.store.append('key-legacy', NO_STREAM, [testEvent()]);
    await expect(ctx.appDb.query(`update events set data = '{}'`)).rejects.toThrow(/permission denied/);
  });

  it('takes back, on the next migrate, a privilege granted by hand', async () => {
    await ctx.ownerDb.query(`grant update, delete, truncate on events to ${SERVICE_DATABASE_ROLES.verifier}`);
    await ctx.ownerDb.query(`grant insert on events to ${SERVICE_DATABASE_ROLES.relay}`);
    expect(await privilegesOn(ctx.ownerDb, SERVICE_DATABASE_ROLES.verifier, 'events')).toContain('truncate');
    expect(await migrateKeyledger({ url: ctx.databaseUrl, schema: ctx.schema, appRole: APP_ROLE })).toEqual([]);
    expect(await privilegesOn(ctx.ownerDb, SERVICE_DATABASE_ROLES.verifier, 'events')).toEqual(['select', 'insert']);
    expect(await privilegesOn(ctx.ownerDb, SERVICE_DATABASE_ROLES.relay, 'events')).toEqual(['select']);
  });
});
