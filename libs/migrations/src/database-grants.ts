import type { DataSource, EntityManager } from 'typeorm';
import type { KeyledgerService } from '@keyledger/config';
import { SERVICE_DATABASE_ROLES } from '@keyledger/config';
import { assertIdentifier } from '@keyledger/event-store';
import type { AppendRule } from './event-append-policies.js';
import { applyEventAppendPolicies } from './event-append-policies.js';
import { ROLES_LOCK } from './roles-lock.js';

/** A table privilege a service may hold. TRUNCATE, REFERENCES and TRIGGER none ever does. */
export type TablePrivilege = 'select' | 'insert' | 'update' | 'delete';

/** What one service's role may do in the schema: table privileges, and functions it may call. */
export interface ServiceGrants {
  readonly tables: Readonly<Partial<Record<KeyledgerTable, readonly TablePrivilege[]>>>;
  readonly functions: readonly KeyledgerFunction[];
  /**
   * With insert on events: the only stream categories it may append to, each with its own event
   * types (EVENT_TYPES_BY_CATEGORY) or those the rule names, held by row-level security
   * (`applyEventAppendPolicies`); unset: any event.
   */
  readonly appends?: readonly AppendRule[];
}

/** Every table of the schema; a table the migrations create is listed here, or a test fails. */
export const KEYLEDGER_TABLES = [
  'events',
  'relay_checkpoints',
  'relay_leases',
  'consumer_inbox',
  'consumer_checkpoints',
  'projection_snapshots',
  'projection_snapshot_chunks',
  'pending_deliveries',
  'audit_trail',
  'usage_records',
  'usage_batches',
  'usage_key_minutes',
  'usage_source_hours',
  'usage_keys',
  'usage_unknown_minutes',
  'anomaly_baselines',
  'anomaly_batches',
  'anomaly_source_findings',
  'tlog_leaves',
  'tlog_nodes',
  'tlog_head',
  'tlog_checkpoints',
  'tlog_cosignatures',
  'siem_export_checkpoints',
  'siem_export_source_checkpoints',
  'security_alerts',
] as const;
export type KeyledgerTable = (typeof KEYLEDGER_TABLES)[number];

/** The functions a service role may be allowed to call (the SECURITY DEFINER ones that create or drop partitions). */
export type KeyledgerFunction = 'usage_create_partitions(date)' | 'usage_drop_partitions(date)' | 'audit_trail_create_partitions(date)';

const SNAPSHOTS = {
  projection_snapshots: ['select', 'insert', 'update'],
  projection_snapshot_chunks: ['select', 'insert', 'delete'],
} as const;
const CONSUMER_RUNTIME = {
  // delete: rebuildProjection empties a consumer's inbox and checkpoint
  consumer_inbox: ['select', 'insert', 'delete'],
  consumer_checkpoints: ['select', 'insert', 'update', 'delete'],
} as const;

/**
 * Each service's grants, read from the SQL it runs (and nothing more): the one place a privilege
 * is given. The migrate job makes the schema's grants exactly this table on every run.
 *
 * - events: every service reads them; only the issuer (commands, leak and anomaly reports, acknowledgements of findings, root key), the
 *   rotator (rotations, incidents, deliveries), the verifier (its CreditsConsumed stream, and no
 *   other: `appends`) and the anomaly detector (AnomalyDetected on key streams, SourceAnomalyDetected and SourceNetworkDenied on network streams, nothing else) append. Nobody updates, deletes or
 *   truncates them.
 * - relay_checkpoints and relay_leases: the relay. Snapshots: the services that take them (issuer, verifier,
 *   auditor). The consumer runtime's inbox and checkpoints: the services with durable consumers
 *   (auditor, rotator). pending_deliveries: the issuer stores a rotation's sealed copies, the
 *   rotator sends them again, and removes them when acknowledged or expired.
 * - audit_trail and the usage ledger: the auditor (usage_records is append-only: insert, select), with the
 *   functions that create their partitions (and drop usage's past retention; nothing drops the trail's).
 * - anomaly_*: the anomaly detector's baselines, the usage batches it has learned from, and its
 *   findings about source networks; it reads the key streams it appends to (their version).
 * - siem_export_checkpoints and siem_export_source_checkpoints: the auditor, where each SIEM sink's
 *   export of the trail, of the security alerts and of verifications has got to.
 * - security_alerts: the auditor stores the services' SecurityAlerts once each and reads them back.
 * - The transparency log (tlog_*): the auditor, append-only: it inserts leaves, nodes and
 *   checkpoints and moves the one head row; nobody may rewrite or remove what it signed.
 */
export const DATABASE_GRANTS: Readonly<Record<KeyledgerService, ServiceGrants>> = {
  issuer: {
    tables: { events: ['select', 'insert'], ...SNAPSHOTS, pending_deliveries: ['select', 'insert', 'update'] },
    functions: [],
  },
  // Its CreditsConsumed stream only: a verifier holds no key event's authority.
  verifier: {
    tables: { events: ['select', 'insert'], ...SNAPSHOTS },
    functions: [],
    appends: ['credits'],
  },
  rotator: {
    tables: { events: ['select', 'insert'], ...CONSUMER_RUNTIME, pending_deliveries: ['select', 'insert', 'update', 'delete'] },
    functions: [],
  },
  relay: {
    tables: { events: ['select'], relay_checkpoints: ['select', 'insert', 'update'], relay_leases: ['select', 'insert', 'update'] },
    functions: [],
  },
  auditor: {
    tables: {
      events: ['select'],
      ...SNAPSHOTS,
      ...CONSUMER_RUNTIME,
      audit_trail: ['select', 'insert', 'delete'],
      usage_records: ['select', 'insert'],
      // update: a batch's records folded into the aggregates (UsageLedger.aggregatePending)
      usage_batches: ['select', 'insert', 'update'],
      usage_key_minutes: ['select', 'insert', 'update'],
      usage_source_hours: ['select', 'insert', 'update'],
      usage_keys: ['select', 'insert', 'update'],
      usage_unknown_minutes: ['select', 'insert', 'update'],
      tlog_leaves: ['select', 'insert'],
      tlog_nodes: ['select', 'insert'],
      tlog_head: ['select', 'update'],
      tlog_checkpoints: ['select', 'insert'],
      tlog_cosignatures: ['select', 'insert', 'update'],
      siem_export_checkpoints: ['select', 'insert', 'update'],
      siem_export_source_checkpoints: ['select', 'insert', 'update'],
      security_alerts: ['select', 'insert'],
    },
    functions: ['usage_create_partitions(date)', 'usage_drop_partitions(date)', 'audit_trail_create_partitions(date)'],
  },
  // Records AnomalyDetected on key streams, and an enumeration (SourceAnomalyDetected) and its
  // denial by the tenant's policy (SourceNetworkDenied) on network streams, and nothing else: it holds no key event's authority and lifts no denial.
  'anomaly-detector': {
    tables: {
      events: ['select', 'insert'],
      anomaly_baselines: ['select', 'insert', 'update'],
      anomaly_batches: ['select', 'insert', 'delete'],
      anomaly_source_findings: ['select', 'insert'],
    },
    functions: [],
    appends: [
      { category: 'key', types: ['AnomalyDetected'] },
      { category: 'network', types: ['SourceNetworkDenied', 'SourceAnomalyDetected'] },
    ],
  },
};

/**
 * Makes the schema's grants what DATABASE_GRANTS says, as the schema owner, in one transaction:
 * creates the service roles that are missing (NOLOGIN; logins are the operator's), takes every
 * privilege on the schema's tables, sequences and functions from them, from `legacyRole` and
 * from PUBLIC, then grants each service role its own, and which events it may append. `legacyRole` (DATABASE_APP_ROLE, by
 * default keyledger_app) becomes a member of every service role, so whoever used it keeps
 * what every service can do and nothing more.
 */
export async function applyDatabaseGrants(db: DataSource, schemaName: string, legacyRole: string): Promise<void> {
  const schema = assertIdentifier(schemaName, 'database schema');
  const legacy = assertIdentifier(legacyRole, 'application role');
  const serviceRoles = Object.values(SERVICE_DATABASE_ROLES).map((role) => assertIdentifier(role, 'service role'));
  const managed = [...new Set([...serviceRoles, legacy])];
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(${ROLES_LOCK})`);
    for (const role of managed) await createRoleIfMissing(tx, role);
    const from = [...managed, 'public'].join(', ');
    await tx.query(`revoke all on all tables in schema ${schema} from ${from}`);
    await tx.query(`revoke all on all sequences in schema ${schema} from ${from}`);
    await tx.query(`revoke all on all functions in schema ${schema} from ${from}`);
    await tx.query(`revoke all on schema ${schema} from ${from}`);
    for (const [service, grants] of Object.entries(DATABASE_GRANTS) as [KeyledgerService, ServiceGrants][]) {
      const role = SERVICE_DATABASE_ROLES[service];
      await tx.query(`grant usage on schema ${schema} to ${role}`);
      for (const [table, privileges] of Object.entries(grants.tables) as [KeyledgerTable, readonly TablePrivilege[]][]) {
        await tx.query(`grant ${privileges.join(', ')} on ${schema}.${table} to ${role}`);
      }
      for (const fn of grants.functions) await tx.query(`grant execute on function ${schema}.${fn} to ${role}`);
    }
    const writers = (Object.entries(DATABASE_GRANTS) as [KeyledgerService, ServiceGrants][])
      .filter(([, grants]) => grants.tables.events?.includes('insert'))
      .map(([service, grants]) => ({ role: SERVICE_DATABASE_ROLES[service], appends: grants.appends }));
    await applyEventAppendPolicies(tx, schema, writers);
    await tx.query(`grant usage on schema ${schema} to ${legacy}`);
    for (const role of serviceRoles) {
      if (role === legacy) continue;
      const [member] = await tx.query<unknown[]>(`select 1 from pg_auth_members where roleid = to_regrole($1) and member = to_regrole($2)`, [role, legacy]);
      if (!member) await tx.query(`grant ${role} to ${legacy}`);
    }
  });
}

async function createRoleIfMissing(tx: EntityManager, role: string): Promise<void> {
  const [exists] = await tx.query<unknown[]>(`select 1 from pg_roles where rolname = $1`, [role]);
  if (!exists) await tx.query(`create role ${role} nologin`);
}
