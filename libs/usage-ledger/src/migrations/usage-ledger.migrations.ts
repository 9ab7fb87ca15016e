import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/** The tables the first migration partitioned by day. */
const FIRST_PARTITIONED_TABLES = ['usage_records', 'usage_batches', 'usage_key_minutes', 'usage_source_hours'] as const;

/** The tables partitioned by day, each with its partition key. */
export const USAGE_PARTITIONED_TABLES = [...FIRST_PARTITIONED_TABLES, 'usage_unknown_minutes'] as const;

/**
 * The aggregates, updated in place once per key, minute or source and transaction. Their pages
 * are left half empty so that an update fits beside the row it replaces (a HOT update): the
 * indexes then take no entry for it. Full pages made about half the updates write a new entry
 * in every index of the table.
 */
const UPDATED_IN_PLACE = ['usage_key_minutes', 'usage_source_hours', 'usage_unknown_minutes'] as const;
const AGGREGATE_FILLFACTOR = 50;

/**
 * The partitioned tables in the order a store and a fold lock them (a store: batches, records,
 * unknown minutes, source hours; a fold: batches, records, key minutes, source hours). Whatever
 * locks several of them whole takes them in this order, so it can wait for a store or a fold but
 * never deadlock with one.
 */
const LOCK_ORDER = ['usage_batches', 'usage_records', 'usage_key_minutes', 'usage_unknown_minutes', 'usage_source_hours'] as const;

/**
 * `usage_create_partitions(day)`: one partition per UTC day and table, named <table>_YYYYMMDD;
 * safe to call concurrently. The tables in `halfFull` are created with AGGREGATE_FILLFACTOR.
 * With `attach`, each is made as a table of its own, like its parent, then attached: attaching
 * locks the parent only against other changes to its partitions (SHARE UPDATE EXCLUSIVE), where
 * CREATE TABLE … PARTITION OF locks it whole, so stores, folds and queries go on meanwhile; and
 * its upper bound is the next UTC midnight whatever the session's time zone (a day added in a
 * zone with daylight saving is 23 or 25 hours on the days the clocks change).
 */
function createPartitionsFunction(schema: string, tables: readonly string[], halfFull: readonly string[] = [], attach = false): string {
  const child = `parent || '_' || to_char(day, 'YYYYMMDD')`;
  const fillfactor = `case when parent = any(array['${halfFull.join("','")}']::text[]) then ' with (fillfactor = ${AGGREGATE_FILLFACTOR})' else '' end`;
  const create = attach
    ? `execute format('create table ${schema}.%I (like ${schema}.%I including all)%s', ${child}, parent,
                  ${fillfactor});
                execute format('alter table ${schema}.%I attach partition ${schema}.%I for values from (%L) to (%L)',
                  parent, ${child}, lower, upper);`
    : `execute format('create table ${schema}.%I partition of ${schema}.%I for values from (%L) to (%L)%s',
                  ${child}, parent, lower, lower + interval '1 day',
                  ${fillfactor});`;
  return `
        create or replace function usage_create_partitions(day date) returns void
        language plpgsql security definer set search_path = ${schema}, pg_temp as $$
        declare
          parent text;
          lower timestamptz := day::timestamp at time zone 'UTC';${
            attach
              ? `
          upper timestamptz := (day + 1)::timestamp at time zone 'UTC';`
              : ''
          }
        begin
          foreach parent in array array['${tables.join("','")}'] loop
            if to_regclass(format('${schema}.%I', ${child})) is null then
              begin
                ${create}
              exception when duplicate_table or unique_violation then
                null; -- another auditor created it first
              end;
            end if;
          end loop;
        end $$`;
}

/** How long a retention drop waits for its locks before it gives up until the next pass. */
export const RETENTION_LOCK_TIMEOUT_MS = 5000;

/**
 * A function `name(before date)` that drops every daily partition of these tables of a day before
 * `before`; returns how many. With `inLockOrder` (the tables given in the order stores and folds
 * lock them, LOCK_ORDER), it first locks every one of them, in that order, when there is anything
 * to drop, then lists and drops: dropping a partition locks its parent whole, and one parent after
 * another in any other order the drops could deadlock with a store or a fold holding one and
 * waiting for the next. Listed once the locks are held, a drop that waited for another sees what
 * that one left. It waits for its locks at most RETENTION_LOCK_TIMEOUT_MS: while it waits, every
 * store and fold queues behind it.
 */
function dropPartitionsFunction(schema: string, name: string, tables: readonly string[], inLockOrder = false): string {
  const list = `array['${tables.join("','")}']`;
  const partitions = `
            select child.oid::regclass
            from pg_inherits i
            join pg_class parent on parent.oid = i.inhparent
            join pg_class child on child.oid = i.inhrelid
            join pg_namespace n on n.oid = parent.relnamespace
            where n.nspname = '${schema}'
              and parent.relname = any (${list})
              and case when child.relname ~ '_[0-9]{8}$' then to_date(right(child.relname, 8), 'YYYYMMDD') end < before`;
  const locks = `
          if exists (${partitions}) then
            lock table ${tables.map((table) => `only ${schema}.${table}`).join(', ')} in access exclusive mode;
          end if;`;
  return `
        create or replace function ${name}(before date) returns integer
        language plpgsql security definer set search_path = ${schema}, pg_temp${inLockOrder ? ` set lock_timeout = ${RETENTION_LOCK_TIMEOUT_MS}` : ''} as $$
        declare
          partition regclass;
          dropped integer := 0;
        begin${inLockOrder ? locks : ''}
          for partition in${partitions}${inLockOrder ? `\n            order by array_position(${list}, parent.relname::text), child.relname` : ''}
          loop
            execute format('drop table %s', partition);
            dropped := dropped + 1;
          end loop;
          return dropped;
        end $$`;
}

/**
 * The usage ledger: every KeyUsed record (append-only, partitioned by day), the batch ids
 * already stored (idempotency), and the aggregates queries read: per key and minute, per
 * source address and hour, and each key's last use.
 *
 * Partitions are created (ahead, and on demand for the days a batch touches) and dropped
 * (retention) only through two SECURITY DEFINER functions owned by the schema owner: the
 * application role may call them, but may not create, alter or drop tables itself.
 */
export function usageLedgerMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateUsageLedger1764000006000 implements MigrationInterface {
    readonly name = 'CreateUsageLedger1764000006000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(`
        create table usage_records (
          at           timestamptz not null,
          batch_id     text not null,
          seq          integer not null,
          key_id       text,
          fingerprint  text,
          tenant       text,
          ip           text,
          scopes       text[] not null,
          code         text not null,
          cost         integer not null,
          transport    text not null,
          instance     text not null
        ) partition by range (at)`);
      await queryRunner.query(`
        create table usage_batches (
          batch_id    text not null,
          created_at  timestamptz not null,
          instance    text not null,
          records     integer not null,
          stored_at   timestamptz not null default now(),
          primary key (batch_id, created_at)
        ) partition by range (created_at)`);
      await queryRunner.query(`
        create table usage_key_minutes (
          key_id  text not null,
          minute  timestamptz not null,
          code    text not null,
          tenant  text not null,
          calls   bigint not null,
          cost    bigint not null,
          primary key (key_id, minute, code)
        ) partition by range (minute)`);
      await queryRunner.query(`create index usage_key_minutes_tenant on usage_key_minutes (tenant, minute)`);
      await queryRunner.query(`
        create table usage_source_hours (
          tenant   text not null,
          key_id   text not null,
          ip       text not null,
          hour     timestamptz not null,
          calls    bigint not null,
          invalid  bigint not null,
          primary key (tenant, key_id, ip, hour)
        ) partition by range (hour)`);
      await queryRunner.query(`
        create table usage_keys (
          key_id         text primary key,
          tenant         text not null,
          first_used_at  timestamptz not null,
          last_used_at   timestamptz not null
        )`);
      await queryRunner.query(`
        create function reject_usage_change() returns trigger language plpgsql as $$
        begin
          raise exception 'usage records are append-only: % on % is not allowed', tg_op, tg_table_name
            using errcode = 'KL001';
        end $$`);
      await queryRunner.query(
        `create trigger usage_records_append_only before update or delete on usage_records for each row execute function reject_usage_change()`,
      );
      await queryRunner.query(
        `create trigger usage_records_no_truncate before truncate on usage_records for each statement execute function reject_usage_change()`,
      );
      await queryRunner.query(createPartitionsFunction(schema, FIRST_PARTITIONED_TABLES));
      // Retention: drops every daily partition of a day before \`before\`; returns how many.
      await queryRunner.query(dropPartitionsFunction(schema, 'usage_drop_partitions', FIRST_PARTITIONED_TABLES));
      await queryRunner.query(`revoke all on function usage_create_partitions(date), usage_drop_partitions(date) from public`);
      await queryRunner.query(`grant execute on function usage_create_partitions(date), usage_drop_partitions(date) to ${role}`);
      await queryRunner.query(`grant select, insert on usage_records, usage_batches to ${role}`);
      await queryRunner.query(`grant select, insert, update on usage_key_minutes, usage_source_hours, usage_keys to ${role}`);
      // Today and the week ahead; the auditor keeps creating them ahead as days pass.
      await queryRunner.query(`select usage_create_partitions((now() at time zone 'UTC')::date + d) from generate_series(0, 7) as d`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      for (const table of [...FIRST_PARTITIONED_TABLES, 'usage_keys']) await queryRunner.query(`drop table ${table}`);
      await queryRunner.query(`drop function usage_drop_partitions(date)`);
      await queryRunner.query(`drop function usage_create_partitions(date)`);
      await queryRunner.query(`drop function reject_usage_change()`);
    }
  }

  /**
   * Retention may drop only days that are over: the services' role calls the dropping
   * function through a wrapper that never drops today (UTC) or a later day, so it cannot
   * empty today's partitions or those created ahead.
   */
  class BoundUsageRetention1764000008000 implements MigrationInterface {
    readonly name = 'BoundUsageRetention1764000008000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(`alter function usage_drop_partitions(date) rename to usage_drop_partitions_unbounded`);
      await queryRunner.query(`revoke all on function usage_drop_partitions_unbounded(date) from public, ${role}`);
      await queryRunner.query(`
        create function usage_drop_partitions(before date) returns integer
        language sql security definer set search_path = ${schema}, pg_temp as $$
          select usage_drop_partitions_unbounded(least(before, (now() at time zone 'UTC')::date))
        $$`);
      await queryRunner.query(`revoke all on function usage_drop_partitions(date) from public`);
      await queryRunner.query(`grant execute on function usage_drop_partitions(date) to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop function usage_drop_partitions(date)`);
      await queryRunner.query(`alter function usage_drop_partitions_unbounded(date) rename to usage_drop_partitions`);
      await queryRunner.query(`grant execute on function usage_drop_partitions(date) to ${role}`);
    }
  }

  /**
   * Each source's last call within its hour, so `usage.rotation` can say when an address last
   * used a rotated key. Nullable: rows stored before it have none. Added to the partitioned
   * parent, so every partition, existing or created later, has it.
   */
  class AddUsageSourceLastSeen1764000012000 implements MigrationInterface {
    readonly name = 'AddUsageSourceLastSeen1764000012000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table usage_source_hours add column last_seen_at timestamptz`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table usage_source_hours drop column last_seen_at`);
    }
  }

  /**
   * Verifications of strings that named no key, counted per minute, source, fingerprint, tenant
   * asked for, code and transport rather than stored one row each (a flood of random keys would
   * otherwise be a row per request). '' stands for none in the text columns (they are part of the
   * key); the source '*' counts the sources a verifier saw beyond its limit for the minute.
   * Partitioned by day like the other aggregates: the partition functions learn the new table.
   */
  class CreateUsageUnknownMinutes1764000013000 implements MigrationInterface {
    readonly name = 'CreateUsageUnknownMinutes1764000013000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(`
        create table usage_unknown_minutes (
          minute       timestamptz not null,
          ip           text not null,
          fingerprint  text not null,
          tenant       text not null,
          code         text not null,
          transport    text not null,
          calls        bigint not null,
          primary key (minute, ip, fingerprint, tenant, code, transport)
        ) partition by range (minute)`);
      await queryRunner.query(`grant select, insert, update on usage_unknown_minutes to ${role}`);
      await queryRunner.query(createPartitionsFunction(schema, USAGE_PARTITIONED_TABLES));
      await queryRunner.query(dropPartitionsFunction(schema, 'usage_drop_partitions_unbounded', USAGE_PARTITIONED_TABLES));
      // The days that already have partitions get this table's too.
      await queryRunner.query(`
        select usage_create_partitions(to_date(right(child.relname, 8), 'YYYYMMDD'))
        from pg_inherits i
        join pg_class parent on parent.oid = i.inhparent
        join pg_class child on child.oid = i.inhrelid
        join pg_namespace n on n.oid = parent.relnamespace
        where n.nspname = '${schema}' and parent.relname = 'usage_batches' and child.relname ~ '_[0-9]{8}$'`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(createPartitionsFunction(schema, FIRST_PARTITIONED_TABLES));
      await queryRunner.query(dropPartitionsFunction(schema, 'usage_drop_partitions_unbounded', FIRST_PARTITIONED_TABLES));
      await queryRunner.query(`drop table usage_unknown_minutes`);
    }
  }

  /**
   * The order verifications are exported to SIEM sinks in: the transaction that stored each
   * record (so a reader that stops below the oldest transaction still running never passes one
   * that commits late), then its batch id and place in the batch. Rows stored before get the
   * migration's transaction, and keep their batch order. The index lets an export read on from
   * a checkpoint without scanning the ledger.
   */
  class AddUsageExportOrder1764000040000 implements MigrationInterface {
    readonly name = 'AddUsageExportOrder1764000040000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table usage_records add column stored_in xid8 not null default pg_current_xact_id()`);
      await queryRunner.query(`create index usage_records_export_order on usage_records (stored_in, batch_id, seq)`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop index usage_records_export_order`);
      await queryRunner.query(`alter table usage_records drop column stored_in`);
    }
  }

  /**
   * The aggregates' pages are kept half empty (UPDATED_IN_PLACE): partitions made from now on are
   * created so, those already there and usage_keys fill new pages so (pages already full stay
   * full until rewritten, by VACUUM FULL for one).
   */
  class HalfFullUsageAggregates1764000044000 implements MigrationInterface {
    readonly name = 'HalfFullUsageAggregates1764000044000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(createPartitionsFunction(schema, USAGE_PARTITIONED_TABLES, UPDATED_IN_PLACE));
      for (const table of [...(await partitionsOf(queryRunner, schema, UPDATED_IN_PLACE)), 'usage_keys'])
        await queryRunner.query(`alter table ${assertIdentifier(table, 'table')} set (fillfactor = ${AGGREGATE_FILLFACTOR})`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(createPartitionsFunction(schema, USAGE_PARTITIONED_TABLES));
      for (const table of [...(await partitionsOf(queryRunner, schema, UPDATED_IN_PLACE)), 'usage_keys'])
        await queryRunner.query(`alter table ${assertIdentifier(table, 'table')} reset (fillfactor)`);
    }
  }

  /**
   * The aggregates are folded in from the stored records every few seconds, not in the
   * statement that stores them (`UsageLedger.aggregatePending`). A batch stored from now on is
   * marked pending, with the transaction that stored it (the records' `stored_in`, which their
   * export index leads with); batches stored before, or by an auditor still running the
   * earlier statement during an upgrade, are aggregated already and default to done.
   */
  class DeferUsageAggregates1764000046000 implements MigrationInterface {
    readonly name = 'DeferUsageAggregates1764000046000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table usage_batches add column aggregated boolean not null default true`);
      await queryRunner.query(`alter table usage_batches add column stored_in xid8`);
      await queryRunner.query(`create index usage_batches_pending on usage_batches (stored_in, batch_id) where not aggregated`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop index usage_batches_pending`);
      await queryRunner.query(`alter table usage_batches drop column stored_in`);
      await queryRunner.query(`alter table usage_batches drop column aggregated`);
    }
  }

  /**
   * Partitions are created without locking their parent whole (`createPartitionsFunction` attaching), and
   * dropped after locking every parent in the order stores and folds take them
   * (`dropPartitionsFunction` with a lock order): before, creating a day's partitions could deadlock with a
   * fold, which Postgres broke by rolling one of them back.
   */
  class AttachUsagePartitions1764000047000 implements MigrationInterface {
    readonly name = 'AttachUsagePartitions1764000047000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(createPartitionsFunction(schema, LOCK_ORDER, UPDATED_IN_PLACE, true));
      await queryRunner.query(dropPartitionsFunction(schema, 'usage_drop_partitions_unbounded', LOCK_ORDER, true));
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(createPartitionsFunction(schema, USAGE_PARTITIONED_TABLES, UPDATED_IN_PLACE));
      await queryRunner.query(dropPartitionsFunction(schema, 'usage_drop_partitions_unbounded', USAGE_PARTITIONED_TABLES));
    }
  }

  return [
    CreateUsageLedger1764000006000,
    BoundUsageRetention1764000008000,
    AddUsageSourceLastSeen1764000012000,
    CreateUsageUnknownMinutes1764000013000,
    AddUsageExportOrder1764000040000,
    HalfFullUsageAggregates1764000044000,
    DeferUsageAggregates1764000046000,
    AttachUsagePartitions1764000047000,
  ];
}

async function currentSchema(queryRunner: QueryRunner): Promise<string> {
  const [row] = (await queryRunner.query(`select current_schema() as schema`)) as { schema: string }[];
  return assertIdentifier(row?.schema ?? '', 'current schema');
}

/** The daily partitions of these tables in the schema. */
async function partitionsOf(queryRunner: QueryRunner, schema: string, parents: readonly string[]): Promise<string[]> {
  const rows = (await queryRunner.query(
    `select child.relname as name
     from pg_inherits i
     join pg_class parent on parent.oid = i.inhparent
     join pg_class child on child.oid = i.inhrelid
     join pg_namespace n on n.oid = parent.relnamespace
     where n.nspname = $1 and parent.relname = any($2::text[])`,
    [schema, parents],
  )) as { name: string }[];
  return rows.map((row) => row.name);
}
