import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where each SIEM sink's export has got to in the store's (transaction_id, position) order: the
 * last event the sink acknowledged. The auditor's role may read, insert and move it
 * (DATABASE_GRANTS).
 */
export function siemExportMigrations(): (new () => MigrationInterface)[] {
  class CreateSiemExportCheckpoints1764000031000 implements MigrationInterface {
    readonly name = 'CreateSiemExportCheckpoints1764000031000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table siem_export_checkpoints (
          sink            text primary key,
          transaction_id  xid8 not null,
          position        bigint not null,
          exported        bigint not null default 0,
          updated_at      timestamptz not null default now()
        )`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table siem_export_checkpoints`);
    }
  }

  /**
   * Where each sink's export of a source other than the store has got to (`alerts`: the
   * security_alerts table; `usage`: the usage ledger's verifications): the place of the last
   * record the sink acknowledged, in that source's order (transaction, batch, place in it).
   */
  class CreateSiemExportSourceCheckpoints1764000042000 implements MigrationInterface {
    readonly name = 'CreateSiemExportSourceCheckpoints1764000042000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table siem_export_source_checkpoints (
          sink            text not null,
          source          text not null,
          transaction_id  xid8 not null,
          batch_id        text not null,
          seq             integer not null,
          exported        bigint not null default 0,
          updated_at      timestamptz not null default now(),
          primary key (sink, source)
        )`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table siem_export_source_checkpoints`);
    }
  }

  return [CreateSiemExportCheckpoints1764000031000, CreateSiemExportSourceCheckpoints1764000042000];
}
