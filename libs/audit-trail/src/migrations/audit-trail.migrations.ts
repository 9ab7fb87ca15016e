import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

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

  return [CreateAuditTrail1764000007000, AddAuditTrailOwner1764000007100];
}
