import type { DataSource, EntityManager } from 'typeorm';
import type { ServiceDatabaseLogin } from '@keyledger/config';
import { ConfigError, SERVICE_DATABASE_ROLES, SERVICE_DATABASE_URL_VARIABLES } from '@keyledger/config';
import { assertIdentifier } from '@keyledger/event-store';
import { ROLES_LOCK } from './roles-lock.js';
import { scramSha256Verifier } from './scram-verifier.js';

interface ExistingLogin {
  readonly oid: number;
  readonly attributes: readonly string[];
}

/**
 * Makes each service's login (from its DATABASE_URL, `serviceDatabaseLogins`) a LOGIN role that
 * is a member of its service's role and may act as no other, as the schema owner and in one
 * transaction, after the grants (which create the service roles): creates a missing login, sets
 * its password to the URL's (as a SCRAM verifier, never the password itself; a URL without one
 * leaves it as it is), and grants it its service role.
 *
 * A login the job does not trust to be only that service's is refused, and nothing changes: a
 * role of the job's own (a service role, `legacyRole`, the migrating login), a superuser or a
 * role with CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, the owner of the database, the
 * schema or anything in it, and a login that may already act as another role (by membership,
 * direct or inherited, or with ADMIN OPTION on its own): the job never revokes what someone
 * granted on purpose; the operator does, or gives the service another login.
 */
export async function applyServiceLogins(db: DataSource, schemaName: string, logins: readonly ServiceDatabaseLogin[], legacyRole: string): Promise<void> {
  const schema = assertIdentifier(schemaName, 'database schema');
  const managed = new Set<string>([...Object.values(SERVICE_DATABASE_ROLES), legacyRole]);
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(${ROLES_LOCK})`);
    const [{ me }] = await tx.query<[{ me: string }]>(`select current_user as me`);
    const problems: string[] = [];
    const existing = new Map<string, ExistingLogin>();
    for (const login of logins) {
      const variable = SERVICE_DATABASE_URL_VARIABLES[login.service];
      assertIdentifier(login.login, variable);
      if (login.login === me || managed.has(login.login)) {
        problems.push(
          `${variable}: ${login.login} is ${login.login === me ? 'the login this migration runs as' : "one of the migration's own roles"}; give the ${login.service} a login of its own`,
        );
        continue;
      }
      const found = await existingLogin(tx, login.login);
      if (!found) continue;
      existing.set(login.login, found);
      const refusal = await whyNotOnly(tx, schema, login, found);
      if (refusal) problems.push(`${variable}: ${login.login} ${refusal}`);
    }
    if (problems.length > 0) throw new ConfigError(problems);
    for (const login of logins) {
      const password = login.password === undefined ? '' : ` password '${scramSha256Verifier(login.password)}'`;
      await tx.query(`${existing.has(login.login) ? 'alter' : 'create'} role ${login.login} login${password}`);
      const [member] = await tx.query<unknown[]>(`select 1 from pg_auth_members where roleid = to_regrole($1) and member = to_regrole($2)`, [
        login.role,
        login.login,
      ]);
      if (!member) await tx.query(`grant ${assertIdentifier(login.role, 'service role')} to ${login.login}`);
    }
  });
}

async function existingLogin(tx: EntityManager, name: string): Promise<ExistingLogin | undefined> {
  const [row] = await tx.query<{ oid: number; superuser: boolean; createrole: boolean; createdb: boolean; replication: boolean; bypassrls: boolean }[]>(
    `select oid, rolsuper as superuser, rolcreaterole as createrole, rolcreatedb as createdb, rolreplication as replication, rolbypassrls as bypassrls
       from pg_roles where rolname = $1`,
    [name],
  );
  if (!row) return undefined;
  const attributes = (['superuser', 'createrole', 'createdb', 'replication', 'bypassrls'] as const)
    .filter((attribute) => row[attribute])
    .map((attribute) => attribute.toUpperCase());
  return { oid: row.oid, attributes };
}

/** Why an existing role cannot be this service's login alone; undefined when it can. */
async function whyNotOnly(tx: EntityManager, schema: string, login: ServiceDatabaseLogin, found: ExistingLogin): Promise<string | undefined> {
  if (found.attributes.length > 0) return `has ${found.attributes.join(', ')}`;
  const [owns] = await tx.query<{ what: string }[]>(
    `select 'the database' as what from pg_database where datname = current_database() and datdba = $1::oid
     union all select 'schema ' || nspname from pg_namespace where nspname = $2 and nspowner = $1::oid
     union all select 'objects of schema ' || n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $2 and c.relowner = $1::oid
     union all select 'functions of schema ' || n.nspname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $2 and p.proowner = $1::oid
     limit 1`,
    [found.oid, schema],
  );
  if (owns) return `owns ${owns.what}`;
  const others = await tx.query<{ name: string }[]>(
    `select rolname as name from pg_roles where oid <> $1::oid and rolname <> $2 and pg_has_role($1::oid, oid, 'MEMBER') order by 1`,
    [found.oid, login.role],
  );
  if (others.length > 0) return `may also act as ${others.map((other) => other.name).join(', ')}; revoke that, or give the ${login.service} another login`;
  const [admin] = await tx.query<unknown[]>(`select 1 from pg_auth_members where roleid = to_regrole($1) and member = $2::oid and admin_option`, [
    login.role,
    found.oid,
  ]);
  if (admin) return `holds ADMIN OPTION on ${login.role}, so it could hand the role to anyone`;
  return undefined;
}
