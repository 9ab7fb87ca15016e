import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/**
 * The anomaly detector's memory: each key's baseline (JSON, `KeyBaseline` of
 * libs/anomaly-detection), the usage batches already learned from (a redelivered batch is
 * not learned twice; kept a day), and its findings about source networks, which belong to
 * no key stream.
 */
export function anomalyWatchMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateAnomalyWatch1764000030000 implements MigrationInterface {
    readonly name = 'CreateAnomalyWatch1764000030000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table anomaly_baselines (
          key_id      text primary key,
          baseline    jsonb not null,
          updated_at  timestamptz not null default now()
        )`);
      await queryRunner.query(`
        create table anomaly_batches (
          batch_id    text primary key,
          learned_at  timestamptz not null default now()
        )`);
      await queryRunner.query(`create index anomaly_batches_learned_at on anomaly_batches (learned_at)`);
      await queryRunner.query(`
        create table anomaly_source_findings (
          finding_id  uuid primary key,
          network     text not null,
          tenant      text,
          detector    text not null,
          severity    text not null,
          detail      text not null,
          evidence    jsonb not null,
          seen_at     timestamptz not null,
          detected_at timestamptz not null
        )`);
      await queryRunner.query(`create index anomaly_source_findings_seen_at on anomaly_source_findings (seen_at)`);
      await queryRunner.query(`grant select, insert, update on anomaly_baselines to ${role}`);
      await queryRunner.query(`grant select, insert, delete on anomaly_batches to ${role}`);
      await queryRunner.query(`grant select, insert on anomaly_source_findings to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table anomaly_source_findings`);
      await queryRunner.query(`drop table anomaly_batches`);
      await queryRunner.query(`drop table anomaly_baselines`);
    }
  }

  /**
   * Baselines are rewritten whole on every save (each key's once per save at most) and read only
   * by the detector, which checks each one as it reads it (`parseKeyBaseline`): stored as json
   * (the text, checked to be JSON) rather than jsonb, Postgres does not convert each into its
   * binary form, and on half-empty pages an update fits beside the row it replaces, so the
   * primary key takes no new entry for it. Together 40–50 % of Postgres's CPU per save.
   */
  class BaselinesAsJsonOnHalfFullPages1764000045000 implements MigrationInterface {
    readonly name = 'BaselinesAsJsonOnHalfFullPages1764000045000';

    async up(queryRunner: QueryRunner): Promise<void> {
      // The fillfactor first: the type change rewrites the table, onto half-full pages then.
      await queryRunner.query(`alter table anomaly_baselines set (fillfactor = 50)`);
      await queryRunner.query(`alter table anomaly_baselines alter column baseline type json using baseline::json`);
    }

    // Fails on a baseline whose text holds the escape \u0000, which json stores and jsonb refuses.
    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`alter table anomaly_baselines reset (fillfactor)`);
      await queryRunner.query(`alter table anomaly_baselines alter column baseline type jsonb using baseline::jsonb`);
    }
  }

  return [CreateAnomalyWatch1764000030000, BaselinesAsJsonOnHalfFullPages1764000045000];
}
