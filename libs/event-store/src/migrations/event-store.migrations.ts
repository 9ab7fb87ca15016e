import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '../database.js';
import { STREAM_VERSION_GAP_SQLSTATE } from '../event-store.errors.js';

/**
 * The notification channel the relay listens on. The payload is the schema name so that
 * several installations (or test runs) in one database do not wake each other's relays.
 */
export const EVENTS_CHANNEL = 'keyledger_events';

/**
 * Migrations of the event store. They are built for a given application role because
 * Postgres cannot bind identifiers: the role is validated, then spliced into GRANTs.
 */
export function eventStoreMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateEventStore1764000000000 implements MigrationInterface {
    readonly name = 'CreateEventStore1764000000000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        do $$ begin
          create role ${role} nologin;
        exception when duplicate_object or unique_violation then
          -- the role is cluster-wide and may exist from another schema or a concurrent run
          null;
        end $$`);
      await queryRunner.query(`
        create table events (
          position        bigint generated always as identity primary key,
          transaction_id  xid8 not null default pg_current_xact_id(),
          event_id        uuid not null,
          stream_id       text not null,
          stream_version  integer not null check (stream_version > 0),
          type            text not null,
          schema_version  integer not null check (schema_version > 0),
          data            jsonb not null,
          metadata        jsonb not null,
          occurred_at     timestamptz not null,
          recorded_at     timestamptz not null default clock_timestamp(),
          hash            bytea not null check (octet_length(hash) = 32),
          constraint events_event_id_key unique (event_id),
          constraint events_stream_version_key unique (stream_id, stream_version)
        )`);
      // Readers page through (transaction_id, position): see PostgresEventStore.readAll.
      await queryRunner.query(`create index events_transaction_order on events (transaction_id, position)`);
      await queryRunner.query(`
        create function reject_event_change() returns trigger language plpgsql as $$
        begin
          raise exception 'the event store is append-only: % on % is not allowed', tg_op, tg_table_name
            using errcode = 'KL001';
        end $$`);
      await queryRunner.query(`create trigger events_append_only before update or delete on events for each row execute function reject_event_change()`);
      await queryRunner.query(`create trigger events_no_truncate before truncate on events for each statement execute function reject_event_change()`);
      await queryRunner.query(`
        create function notify_events_appended() returns trigger language plpgsql as $$
        begin
          perform pg_notify('${EVENTS_CHANNEL}', tg_table_schema);
          return null;
        end $$`);
      await queryRunner.query(`create trigger events_appended after insert on events for each statement execute function notify_events_appended()`);
      await queryRunner.query(`
        create table relay_checkpoints (
          relay           text primary key,
          transaction_id  xid8 not null,
          position        bigint not null,
          event_id        uuid,
          updated_at      timestamptz not null default now()
        )`);
      const schema = await currentSchema(queryRunner);
      await queryRunner.query(`grant usage on schema ${schema} to ${role}`);
      await queryRunner.query(`grant select, insert on events to ${role}`);
      await queryRunner.query(`grant select, insert, update on relay_checkpoints to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table relay_checkpoints`);
      await queryRunner.query(`drop table events`);
      await queryRunner.query(`drop function notify_events_appended()`);
      await queryRunner.query(`drop function reject_event_change()`);
    }
  }

  /**
   * What a writer may not choose, the database sets: an event's position (from a sequence the
   * writer cannot reach), its transaction and its recording time are overwritten on every row,
   * whatever the INSERT said, so no event can be placed at a chosen place in the global order.
   * And a stream's versions are consecutive: a row whose version is past its stream's newest
   * plus one is refused (STREAM_VERSION_GAP_SQLSTATE); one at or below it is left to the
   * (stream_id, stream_version) unique index, whose violation the store turns into the
   * retryable ConcurrencyConflictError as before. A row-level BEFORE trigger sees the rows its
   * own statement inserted before it, so a multi-row insert is checked row by row in order.
   *
   * The trigger function runs as the schema owner (SECURITY DEFINER: the writers have no right
   * on the sequence, so they cannot even skip it ahead) and names everything with its schema,
   * so a writer's own search_path or a temporary table named `events` cannot make it look
   * elsewhere.
   */
  class DatabaseSetEventColumns1764000015000 implements MigrationInterface {
    readonly name = 'DatabaseSetEventColumns1764000015000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const schema = await currentSchema(queryRunner);
      // An identity column takes a writer's value under OVERRIDING SYSTEM VALUE; a sequence
      // only the trigger draws from does not.
      await queryRunner.query(`alter table events alter column position drop identity`);
      await queryRunner.query(`create sequence events_position as bigint owned by events.position`);
      await queryRunner.query(`select setval('events_position', coalesce((select max(position) from events), 0) + 1, false)`);
      await queryRunner.query(`alter table events alter column transaction_id drop default`);
      await queryRunner.query(`alter table events alter column recorded_at drop default`);
      // Every name is qualified (tables, functions, operators, types) instead of pinning the
      // function's search_path: a SET clause costs each row a configuration save and restore.
      await queryRunner.query(`
        create function admit_event() returns trigger
        language plpgsql security definer as $$
        declare
          head integer;
        begin
          select pg_catalog.max(e.stream_version) into head from ${schema}.events e where e.stream_id operator(pg_catalog.=) new.stream_id;
          head := coalesce(head, 0);
          if new.stream_version operator(pg_catalog.>) (head operator(pg_catalog.+) 1) then
            raise exception 'stream % is at version %: version % would leave a gap', new.stream_id, head, new.stream_version
              using errcode = '${STREAM_VERSION_GAP_SQLSTATE}', table = 'events', column = 'stream_version',
                    detail = pg_catalog.json_build_object('streamId', new.stream_id, 'version', new.stream_version, 'head', head)::pg_catalog.text;
          end if;
          new.position := pg_catalog.nextval('${schema}.events_position'::pg_catalog.regclass);
          new.transaction_id := pg_catalog.pg_current_xact_id();
          new.recorded_at := pg_catalog.clock_timestamp();
          return new;
        end $$`);
      await queryRunner.query(`revoke all on function admit_event() from public`);
      await queryRunner.query(`create trigger events_admit before insert on events for each row execute function admit_event()`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop trigger events_admit on events`);
      await queryRunner.query(`drop function admit_event()`);
      await queryRunner.query(`alter table events alter column recorded_at set default clock_timestamp()`);
      await queryRunner.query(`alter table events alter column transaction_id set default pg_current_xact_id()`);
      await queryRunner.query(`drop sequence events_position`);
      await queryRunner.query(`alter table events alter column position add generated always as identity`);
      await queryRunner.query(`select setval(pg_get_serial_sequence('events', 'position'), coalesce((select max(position) from events), 0) + 1, false)`);
    }
  }

  /**
   * Each event's MAC under the event key (`KEYLEDGER_EVENT_KEYS`): which version made it and
   * the HMAC-SHA256. Null in rows from before this migration until they are sealed
   * (`migrate --seal-unauthenticated-events`, docs/operations.md); readers refuse such rows.
   */
  class AuthenticateEvents1764000020000 implements MigrationInterface {
    readonly name = 'AuthenticateEvents1764000020000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        alter table events
          add column auth_version smallint,
          add column auth_mac bytea check (octet_length(auth_mac) = 32),
          add constraint events_auth_complete check ((auth_version is null) = (auth_mac is null))`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table events drop constraint events_auth_complete, drop column auth_mac, drop column auth_version`);
    }
  }

  /**
   * Relay leadership as a lease (libs/outbox-relay RelayLease): who holds it, under which epoch
   * (bumped on every take, so a deposed holder cannot renew), the holder's session (gone: the
   * lease is free at once) and when it runs out by the database clock.
   */
  class CreateRelayLeases1764000025000 implements MigrationInterface {
    readonly name = 'CreateRelayLeases1764000025000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table relay_leases (
          relay       text primary key,
          holder      text not null,
          epoch       bigint not null,
          holder_pid  integer not null,
          expires_at  timestamptz not null
        )`);
      await queryRunner.query(`grant select, insert, update on relay_leases to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table relay_leases`);
    }
  }

  return [CreateEventStore1764000000000, DatabaseSetEventColumns1764000015000, AuthenticateEvents1764000020000, CreateRelayLeases1764000025000];
}

async function currentSchema(queryRunner: QueryRunner): Promise<string> {
  const [row] = (await queryRunner.query(`select current_schema() as schema`)) as { schema: string }[];
  return assertIdentifier(row?.schema ?? '', 'current schema');
}
