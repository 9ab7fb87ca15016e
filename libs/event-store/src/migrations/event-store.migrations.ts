import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '../database.js';

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
      const schema = await this.currentSchema(queryRunner);
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

    private async currentSchema(queryRunner: QueryRunner): Promise<string> {
      const [row] = (await queryRunner.query(`select current_schema() as schema`)) as { schema: string }[];
      return assertIdentifier(row?.schema ?? '', 'current schema');
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

  return [CreateEventStore1764000000000, AuthenticateEvents1764000020000];
}
