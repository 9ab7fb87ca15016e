import type { DataSource } from 'typeorm';
import type { KeyledgerService, ServiceDatabaseLogin } from '@keyledger/config';
import { ConfigError, SERVICE_DATABASE_ROLES } from '@keyledger/config';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, createTestContext, testEvent, testKeyIssuedData } from '@keyledger/testing';
import { NO_STREAM, PostgresEventStore, createDataSource } from '@keyledger/event-store';
import { migrateKeyledger } from './index.js';

const SERVICES = Object.keys(SERVICE_DATABASE_ROLES) as KeyledgerService[];
const COLUMNS = 'event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash';
const METADATA = '{"actor":"a","correlationId":"c","causationId":"c"}';
const forgedInsert = (streamId: string, type: string, data: unknown) =>
  `insert into events (${COLUMNS}) values (gen_random_uuid(), '${streamId}', 1, '${type}', 1, '${JSON.stringify(data)}', '${METADATA}', now(), decode(repeat('00', 32), 'hex'))`;

/** The roles `login` may act as (SET ROLE, or inherit), besides itself, as Postgres says. */
async function actsAs(db: DataSource, login: string): Promise<string[]> {
  const rows = await db.query<{ name: string }[]>(`select rolname as name from pg_roles where rolname <> $1 and pg_has_role($1, oid, 'MEMBER') order by 1`, [
    login,
  ]);
  return rows.map((row) => row.name);
}

describe("each service's own database login (migrate with DATABASE_URL_<SERVICE>)", () => {
  let ctx: TestContext;
  let logins: ServiceDatabaseLogin[];
  const opened: DataSource[] = [];
  const loginOf = (service: KeyledgerService) => logins.find((login) => login.service === service)!;
  const migrate = (serviceLogins: readonly ServiceDatabaseLogin[]) =>
    migrateKeyledger({ url: ctx.databaseUrl, schema: ctx.schema, appRole: APP_ROLE, serviceLogins });

  /** Connected as a service's login, assuming its role as the service does, or none (`role: ''`). */
  async function connect(service: KeyledgerService, role: string = SERVICE_DATABASE_ROLES[service]): Promise<DataSource> {
    const url = new URL(ctx.databaseUrl);
    url.username = loginOf(service).login;
    url.password = loginOf(service).password ?? '';
    const db = await createDataSource({ url: url.toString(), schema: ctx.schema, role: role || undefined, poolSize: 2 }).initialize();
    opened.push(db);
    return db;
  }

  beforeAll(async () => {
    ctx = await createTestContext('dblogins');
    // Logins are cluster-wide: named after this file's schema, dropped at the end.
    logins = SERVICES.map((service) => ({
      service,
      role: SERVICE_DATABASE_ROLES[service],
      login: `${ctx.schema}_${service.replace('-', '_')}`,
      password: `pw-${service}-${ctx.id}`,
    }));
    await migrate(logins);
  });

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.destroy()));
    for (const login of logins ?? []) await ctx.ownerDb.query(`drop role if exists ${login.login}`);
    for (const role of ['stranger', 'admin']) await ctx.ownerDb.query(`drop role if exists ${ctx.schema}_${role}`);
    await ctx.close();
  });

  it('creates one LOGIN role per service that may act as its own service role and as no other', async () => {
    for (const login of logins) {
      const [role] = await ctx.ownerDb.query<{ canLogin: boolean; super: boolean; createRole: boolean }[]>(
        `select rolcanlogin as "canLogin", rolsuper as super, rolcreaterole as "createRole" from pg_roles where rolname = $1`,
        [login.login],
      );
      expect({ login: login.login, role, actsAs: await actsAs(ctx.ownerDb, login.login) }).toEqual({
        login: login.login,
        role: { canLogin: true, super: false, createRole: false },
        actsAs: [login.role],
      });
    }
  });

  it('stores a SCRAM verifier of the password, never the password itself', async () => {
    const [row] = await ctx.ownerDb.query<{ verifier: string }[]>(`select rolpassword as verifier from pg_authid where rolname = $1`, [
      loginOf('verifier').login,
    ]);
    expect(row!.verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(row!.verifier).not.toContain(loginOf('verifier').password);
  });

  describe("connected as the verifier's login", () => {
    let verifier: DataSource;
    let bare: DataSource;
    beforeAll(async () => {
      await ctx.store.append('key-l1', NO_STREAM, [testEvent({ n: 1 })]);
      verifier = await connect('verifier');
      bare = await connect('verifier', '');
    });

    it.each(['keyledger_issuer', 'keyledger_rotator', 'keyledger_relay', APP_ROLE])('cannot SET ROLE %s', async (role) => {
      await expect(bare.query(`set role ${role}`)).rejects.toThrow(/permission denied to set role/);
      await expect(verifier.query(`set role ${role}`)).rejects.toThrow(/permission denied to set role/);
    });

    it('cannot SET ROLE to the owner, nor become another session user', async () => {
      const [{ owner }] = await ctx.ownerDb.query<[{ owner: string }]>(`select current_user as owner`);
      await expect(bare.query(`set role ${owner}`)).rejects.toThrow(/permission denied to set role/);
      await expect(bare.query(`set session authorization ${owner}`)).rejects.toThrow(/permission denied/);
    });

    it('cannot update or delete an event, and they stay as they were', async () => {
      for (const db of [verifier, bare]) {
        await expect(db.query(`update events set data = '{"forged":true}'`)).rejects.toThrow(/permission denied/);
        await expect(db.query(`delete from events`)).rejects.toThrow(/permission denied/);
      }
      expect(await ctx.store.readStream('key-l1')).toHaveLength(1);
    });

    it('cannot insert a key event, by SQL or through the store', async () => {
      const keyId = 'key_0000000000000000000000f0rg';
      for (const db of [verifier, bare]) {
        await expect(db.query(forgedInsert(`key-${keyId}`, 'KeyIssued', testKeyIssuedData(keyId)))).rejects.toThrow(/row-level security|permission denied/);
        await expect(new PostgresEventStore(db, ctx.auth).append(`key-${keyId}`, NO_STREAM, [testEvent()])).rejects.toThrow(
          /row-level security|permission denied/,
        );
      }
      expect(await ctx.store.readStream(`key-${keyId}`)).toHaveLength(0);
    });
  });

  it.each(['relay', 'auditor', 'anomaly-detector'] as const)("refuses the %s's login an INSERT of a key event", async (service) => {
    const db = await connect(service);
    await expect(db.query(forgedInsert('key-l2', 'KeySuspended', {}))).rejects.toThrow(/permission denied|row-level security/);
    expect(await ctx.store.readStream('key-l2')).toHaveLength(0);
  });

  it("lets the issuer's and the rotator's logins append through the store, as their services do", async () => {
    for (const service of ['issuer', 'rotator'] as const) {
      await new PostgresEventStore(await connect(service), ctx.auth).append(`key-login${service}`, NO_STREAM, [testEvent({ service })]);
      expect(await ctx.store.readStream(`key-login${service}`)).toHaveLength(1);
    }
  });

  it('does it again without change on the next run', async () => {
    expect(await migrate(logins)).toEqual([]);
    for (const login of logins) expect(await actsAs(ctx.ownerDb, login.login)).toEqual([login.role]);
  });

  it('refuses, changing nothing, a login that is a role of its own, a superuser, or one that may act as another role', async () => {
    const [{ owner }] = await ctx.ownerDb.query<[{ owner: string }]>(`select current_user as owner`);
    const stranger = `${ctx.schema}_stranger`;
    await ctx.ownerDb.query(`create role ${stranger} login`);
    await ctx.ownerDb.query(`grant keyledger_issuer to ${stranger}`);
    const admin = `${ctx.schema}_admin`;
    await ctx.ownerDb.query(`create role ${admin} login createrole`);
    const issuerVerifier = async () =>
      (await ctx.ownerDb.query<{ verifier: string }[]>(`select rolpassword as verifier from pg_authid where rolname = $1`, [loginOf('issuer').login]))[0]!
        .verifier;
    const before = await issuerVerifier();
    const cases: [string, RegExp][] = [
      [owner, /DATABASE_URL_VERIFIER: .* is the login this migration runs as/],
      ['keyledger_issuer', /DATABASE_URL_VERIFIER: keyledger_issuer is one of the migration's own roles/],
      [APP_ROLE, /one of the migration's own roles/],
      [stranger, new RegExp(`DATABASE_URL_VERIFIER: ${stranger} may also act as keyledger_issuer`)],
      [admin, new RegExp(`DATABASE_URL_VERIFIER: ${admin} has CREATEROLE`)],
    ];
    for (const [login, refusal] of cases) {
      const attempt = logins.map((entry) => (entry.service === 'verifier' ? { ...entry, login, password: 'Sekr3t-pw' } : entry));
      const error = await migrate(attempt).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(refusal);
      expect((error as Error).message).not.toContain('Sekr3t');
    }
    expect(await actsAs(ctx.ownerDb, stranger)).toEqual(['keyledger_issuer']);
    const [canLogin] = await ctx.ownerDb.query<{ login: boolean }[]>(`select rolcanlogin as login from pg_roles where rolname = 'keyledger_issuer'`);
    expect(canLogin).toEqual({ login: false });
    expect(await issuerVerifier()).toBe(before);
  });
});
