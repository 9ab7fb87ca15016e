import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every sealed SecurityAlert the auditor read from the notification stream, once each (by the id its
 * bytes hash to), in the order it stored them: the transaction that stored a batch, then the
 * alert's place in it. A stream keeps alerts for a week; this table keeps them for the SIEM
 * export, whose sinks each read on from their own checkpoint. The auditor's role may read and
 * insert (DATABASE_GRANTS); nobody rewrites an alert.
 */
export function securityAlertsMigrations(): (new () => MigrationInterface)[] {
  class CreateSecurityAlerts1764000041000 implements MigrationInterface {
    readonly name = 'CreateSecurityAlerts1764000041000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table security_alerts (
          alert_id        text primary key,
          transaction_id  xid8 not null default pg_current_xact_id(),
          seq             integer not null,
          raised_at       timestamptz not null,
          alert           jsonb not null,
          -- The message's bytes and the seal the raising service put on them (Keyledger-Alert-Seal):
          -- the export checks the seal again, so a row written or edited by SQL is never exported.
          body            bytea not null,
          seal_version    integer not null,
          seal_mac        text not null,
          stored_at       timestamptz not null default now(),
          unique (transaction_id, seq)
        )`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table security_alerts`);
    }
  }
  return [CreateSecurityAlerts1764000041000];
}
