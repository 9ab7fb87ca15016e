import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/**
 * Snapshots of in-memory projections: one current snapshot per projection (the header row)
 * whose bytes are split into chunks, so a snapshot of millions of keys never has to pass
 * through one giant value. A snapshot is a cache: deleting every row only makes the next
 * start replay the event store.
 */
export function projectionSnapshotMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateProjectionSnapshots1764000002000 implements MigrationInterface {
    readonly name = 'CreateProjectionSnapshots1764000002000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table projection_snapshots (
          projection      text primary key,
          snapshot_id     uuid not null unique,
          format          int not null,
          transaction_id  xid8 not null,
          position        bigint not null,
          byte_length     bigint not null,
          pepper_version  int not null,
          mac             bytea not null,
          taken_at        timestamptz not null default now()
        )`);
      await queryRunner.query(`
        create table projection_snapshot_chunks (
          snapshot_id  uuid not null,
          seq          int not null,
          data         bytea not null,
          primary key (snapshot_id, seq)
        )`);
      // Chunks hold digests that are already random; compressing them would only cost CPU.
      await queryRunner.query(`alter table projection_snapshot_chunks alter column data set storage external`);
      await queryRunner.query(`grant select, insert, update on projection_snapshots to ${role}`);
      await queryRunner.query(`grant select, insert, delete on projection_snapshot_chunks to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table projection_snapshot_chunks`);
      await queryRunner.query(`drop table projection_snapshots`);
    }
  }

  return [CreateProjectionSnapshots1764000002000];
}
