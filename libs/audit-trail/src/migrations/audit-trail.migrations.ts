import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/** The trail's columns, in the order the plain table had them (`owner` was added last). */
const TRAIL_COLUMNS = `
          event_id        uuid not null,
          transaction_id  xid8 not null,
          position        bigint not null,
          stream_id       text not null,
          stream_version  int not null,
          type            text not null,
          tenant          text,
          actor           text not null,
          correlation_id  text not null,
          causation_id    text not null,
          trace_id        text,
          occurred_at     timestamptz not null,
          recorded_at     timestamptz not null default now(),
          owner           text`;
const TRAIL_COLUMN_NAMES =
  'event_id, transaction_id, position, stream_id, stream_version, type, tenant, actor, correlation_id, causation_id, trace_id, occurred_at, recorded_at, owner';

/**
 * `audit_trail_create_partitions(in_month date)`: the partition of the UTC month `in_month` falls in
 * (`audit_trail_YYYYMM`), and that of every month with rows in the default partition, each
 * with those rows moved into it; returns how many it created. Safe to call concurrently.
 *
 * A partition is made as a table of its own, filled from the default partition and then
 * attached: Postgres refuses to create a partition for a range the default partition holds rows
 * of. Writers into the default partition wait on its lock meanwhile (a few milliseconds an hour
 * when there is nothing to make), so none of them leaves a row behind; a second caller waits
 * there too, then finds the partition made.
 */
function createPartitionsFunction(schema: string, bounded = false): string {
  // Bounded: the month asked for, and the months of rows in the default partition made into
  // partitions, are last month, this one or one of the next two. A role that may call it (the
  // auditor's, which also inserts trail rows) must not make thousands of partitions that every
  // unbounded query then plans over; a row of another month stays in the default partition.
  const near = (month: string): string =>
    `${month} between date_trunc('month', now() at time zone 'UTC') - interval '1 month' and date_trunc('month', now() at time zone 'UTC') + interval '2 months'`;
  const bound = bounded
    ? `
          if not (${near(`date_trunc('month', in_month)`)}) then
            raise exception 'audit_trail_create_partitions: % is not last month, this month or one of the next two', in_month
              using errcode = '22023';
          end if;`
    : '';
  const waiting = `date_trunc('month', occurred_at at time zone 'UTC')`;
  return `
        create or replace function audit_trail_create_partitions(in_month date) returns integer
        language plpgsql security definer set search_path = ${schema}, pg_temp as $$
        declare
          months date[];
          first_day date;
          partition_name text;
          lower timestamptz;
          upper timestamptz;
          created integer := 0;
        begin${bound}
          -- Before the default partition is read: callers one at a time (a lock that conflicts with itself), and
          -- no writer into it until commit. Taken later, two callers would each hold a read of it that the
          -- other's attach must wait for.
          lock table ${schema}.audit_trail_default in share row exclusive mode;
          -- Read before the loop: a partition cannot be attached while a query of this session still reads the default one.
          months := array(
            select date_trunc('month', in_month::timestamp)::date
            union
            select distinct ${waiting}::date from ${schema}.audit_trail_default${bounded ? ` where ${near(waiting)}` : ''});
          foreach first_day in array months loop
            partition_name := 'audit_trail_' || to_char(first_day, 'YYYYMM');
            continue when to_regclass(format('${schema}.%I', partition_name)) is not null;
            lower := first_day::timestamp at time zone 'UTC';
            upper := (first_day + interval '1 month')::timestamp at time zone 'UTC';
            execute format('create table ${schema}.%I (like ${schema}.audit_trail including defaults)', partition_name);
            execute format('insert into ${schema}.%I select * from ${schema}.audit_trail_default where occurred_at >= %L and occurred_at < %L',
              partition_name, lower, upper);
            delete from ${schema}.audit_trail_default where occurred_at >= lower and occurred_at < upper;
            execute format('alter table ${schema}.audit_trail attach partition ${schema}.%I for values from (%L) to (%L)', partition_name, lower, upper);
            created := created + 1;
          end loop;
          return created;
        end $$`;
}

/**
 * The auditor's trail: one row per stored event, in store order, with who did it, under
 * which correlation and trace, and the tenant it concerns. A projection, rebuilt from the
 * store when needed, so the services' role may insert and (for a rebuild) delete, never
 * update.
 */
export function auditTrailMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateAuditTrail1764000007000 implements MigrationInterface {
    readonly name = 'CreateAuditTrail1764000007000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table audit_trail (
          event_id        uuid primary key,
          transaction_id  xid8 not null,
          position        bigint not null,
          stream_id       text not null,
          stream_version  int not null,
          type            text not null,
          tenant          text,
          actor           text not null,
          correlation_id  text not null,
          causation_id    text not null,
          trace_id        text,
          occurred_at     timestamptz not null,
          recorded_at     timestamptz not null default now()
        )`);
      await queryRunner.query(`create index audit_trail_stream on audit_trail (stream_id, stream_version)`);
      await queryRunner.query(`create index audit_trail_tenant on audit_trail (tenant, transaction_id, position)`);
      await queryRunner.query(`grant select, insert, delete on audit_trail to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table audit_trail`);
    }
  }

  /** The owner of each row's stream, for searches by owner; rows already there take it from their stream's first event. */
  class AddAuditTrailOwner1764000007100 implements MigrationInterface {
    readonly name = 'AddAuditTrailOwner1764000007100';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table audit_trail add column owner text`);
      await queryRunner.query(`
        update audit_trail t set owner = e.data->>'owner'
          from events e where e.stream_id = t.stream_id and e.stream_version = 1 and e.data->>'owner' is not null`);
      await queryRunner.query(`create index audit_trail_owner on audit_trail (tenant, owner, transaction_id, position)`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop index audit_trail_owner`);
      await queryRunner.query(`alter table audit_trail drop column owner`);
    }
  }

  /**
   * The trail is kept forever, so it is partitioned by range of `occurred_at`, one partition
   * per UTC month (`audit_trail_YYYYMM`), plus a DEFAULT partition so that an insert never
   * fails for want of a partition. Why that key: searches and the anomaly list filter by the
   * event's time (`since`/`until`, the last 24 hours), which prunes them to the months asked
   * for; an event's time never changes, so a row never moves; and a primary key must include
   * the partition key, which `(event_id, occurred_at)` does while still naming one event
   * (a redelivery carries the same time). Tenant, owner, actor, type and stream are looked up
   * through each partition's indexes; a tenant or stream key would spread every time-bounded
   * search over all partitions, and replay reads the whole table whatever the key. Months
   * rather than days: a partition kept forever costs planning time on every query, and a month
   * keeps that to twelve a year.
   *
   * Nothing drops a trail partition. Partitions are created ahead by the auditor (this month's
   * and the next) through `audit_trail_create_partitions`, a SECURITY DEFINER function owned by
   * the schema owner: the services' role may call it, never create or drop a table itself.
   * Existing rows are moved in this migration, into partitions made for their months.
   */
  class PartitionAuditTrailByMonth1764000035000 implements MigrationInterface {
    readonly name = 'PartitionAuditTrailByMonth1764000035000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const [row] = (await queryRunner.query(`select current_schema() as schema`)) as { schema: string }[];
      const schema = assertIdentifier(row?.schema ?? '', 'current schema');
      await queryRunner.query(`alter table audit_trail rename to audit_trail_unpartitioned`);
      await queryRunner.query(`alter table audit_trail_unpartitioned rename constraint audit_trail_pkey to audit_trail_unpartitioned_pkey`);
      for (const index of ['stream', 'tenant', 'owner'])
        await queryRunner.query(`alter index audit_trail_${index} rename to audit_trail_unpartitioned_${index}`);
      await queryRunner.query(`create table audit_trail (${TRAIL_COLUMNS}, primary key (event_id, occurred_at)) partition by range (occurred_at)`);
      await createTrailIndexes(queryRunner);
      await queryRunner.query(`create table audit_trail_default partition of audit_trail default`);
      await queryRunner.query(createPartitionsFunction(schema));
      await queryRunner.query(`revoke all on function audit_trail_create_partitions(date) from public`);
      await queryRunner.query(`grant execute on function audit_trail_create_partitions(date) to ${role}`);
      // The months of the rows there are, this month and the next, before the rows move in.
      await queryRunner.query(`
        select audit_trail_create_partitions(month) from (
          select distinct date_trunc('month', occurred_at at time zone 'UTC')::date as month from audit_trail_unpartitioned
          union select (now() at time zone 'UTC')::date
          union select ((now() at time zone 'UTC') + interval '1 month')::date
        ) as months`);
      await queryRunner.query(`insert into audit_trail (${TRAIL_COLUMN_NAMES}) select ${TRAIL_COLUMN_NAMES} from audit_trail_unpartitioned`);
      await queryRunner.query(`drop table audit_trail_unpartitioned`);
      await queryRunner.query(`grant select, insert, delete on audit_trail to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`create table audit_trail_unpartitioned (${TRAIL_COLUMNS})`);
      await queryRunner.query(`insert into audit_trail_unpartitioned (${TRAIL_COLUMN_NAMES}) select ${TRAIL_COLUMN_NAMES} from audit_trail`);
      await queryRunner.query(`drop table audit_trail`);
      await queryRunner.query(`drop function audit_trail_create_partitions(date)`);
      await queryRunner.query(`alter table audit_trail_unpartitioned rename to audit_trail`);
      await queryRunner.query(`alter table audit_trail add primary key (event_id)`);
      await createTrailIndexes(queryRunner);
      await queryRunner.query(`grant select, insert, delete on audit_trail to ${role}`);
    }
  }

  /** The partition function asked for months near now only (the migration above moved rows of any month). */
  class BoundAuditTrailPartitionMonths1764000043000 implements MigrationInterface {
    readonly name = 'BoundAuditTrailPartitionMonths1764000043000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(createPartitionsFunction(await currentSchema(queryRunner), true));
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(createPartitionsFunction(await currentSchema(queryRunner)));
    }
  }

  return [CreateAuditTrail1764000007000, AddAuditTrailOwner1764000007100, PartitionAuditTrailByMonth1764000035000, BoundAuditTrailPartitionMonths1764000043000];
}

/** The trail's indexes (on a partitioned table, each partition gets its own). */
async function createTrailIndexes(queryRunner: QueryRunner): Promise<void> {
  await queryRunner.query(`create index audit_trail_stream on audit_trail (stream_id, stream_version)`);
  await queryRunner.query(`create index audit_trail_tenant on audit_trail (tenant, transaction_id, position)`);
  await queryRunner.query(`create index audit_trail_owner on audit_trail (tenant, owner, transaction_id, position)`);
}

async function currentSchema(queryRunner: QueryRunner): Promise<string> {
  const [row] = (await queryRunner.query(`select current_schema() as schema`)) as { schema: string }[];
  return assertIdentifier(row?.schema ?? '', 'current schema');
}
