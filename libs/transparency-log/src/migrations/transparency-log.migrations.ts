import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The auditor's Merkle tree over the event log (libs/transparency-log): its leaves in log order,
 * the hash of every complete subtree above them (so a proof reads O(log n) rows), where in the
 * store's (transaction_id, position) order it has got to, and the checkpoints it signed. Append
 * only: the auditor's role may insert (and move the one head row), never delete or rewrite a leaf,
 * a node or a checkpoint (DATABASE_GRANTS).
 */
export function transparencyLogMigrations(): (new () => MigrationInterface)[] {
  class CreateTransparencyLog1764000030000 implements MigrationInterface {
    readonly name = 'CreateTransparencyLog1764000030000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table tlog_leaves (
          leaf_index      bigint primary key check (leaf_index >= 0),
          position        bigint not null unique,
          transaction_id  xid8 not null,
          event_id        uuid not null unique,
          leaf_hash       bytea not null check (octet_length(leaf_hash) = 32)
        )`);
      // Level >= 1: node (level, node_index) covers leaves [node_index * 2^level, (node_index + 1) * 2^level).
      await queryRunner.query(`
        create table tlog_nodes (
          level       smallint not null check (level between 1 and 62),
          node_index  bigint not null check (node_index >= 0),
          hash        bytea not null check (octet_length(hash) = 32),
          primary key (level, node_index)
        )`);
      // One row: the tree's size and the store position of its last leaf (or of the last row read past).
      await queryRunner.query(`
        create table tlog_head (
          id              boolean primary key default true check (id),
          size            bigint not null,
          transaction_id  xid8 not null,
          position        bigint not null
        )`);
      await queryRunner.query(`insert into tlog_head (size, transaction_id, position) values (0, '0', 0)`);
      await queryRunner.query(`
        create table tlog_checkpoints (
          tree_size  bigint primary key check (tree_size >= 0),
          root_hash  bytea not null check (octet_length(root_hash) = 32),
          note       text not null,
          signed_at  timestamptz not null
        )`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table tlog_checkpoints, tlog_head, tlog_nodes, tlog_leaves`);
    }
  }

  /** Witnesses' cosignatures of the checkpoints (c2sp.org/tlog-cosignature), one per witness and checkpoint. */
  class CreateTransparencyLogCosignatures1764000031000 implements MigrationInterface {
    readonly name = 'CreateTransparencyLogCosignatures1764000031000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table tlog_cosignatures (
          tree_size    bigint not null references tlog_checkpoints (tree_size),
          witness      text not null,
          line         text not null,
          received_at  timestamptz not null default now(),
          primary key (tree_size, witness)
        )`);
      await queryRunner.query(`create index tlog_cosignatures_witness on tlog_cosignatures (witness, tree_size)`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table tlog_cosignatures`);
    }
  }

  return [CreateTransparencyLog1764000030000, CreateTransparencyLogCosignatures1764000031000];
}
