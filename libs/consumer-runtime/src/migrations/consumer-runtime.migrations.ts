import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/**
 * Tables of the consumer runtime: the inbox (one row per processed event and consumer,
 * which is what makes handlers idempotent) and the checkpoint (how far each has got).
 */
export function consumerRuntimeMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreateConsumerRuntime1764000001000 implements MigrationInterface {
    readonly name = 'CreateConsumerRuntime1764000001000';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table consumer_inbox (
          consumer        text not null,
          event_id        uuid not null,
          transaction_id  xid8 not null,
          position        bigint not null,
          processed_at    timestamptz not null default now(),
          primary key (consumer, event_id)
        )`);
      await queryRunner.query(`
        create table consumer_checkpoints (
          consumer        text primary key,
          transaction_id  xid8 not null,
          position        bigint not null,
          updated_at      timestamptz not null default now()
        )`);
      // Inbox rows are deleted by a rebuild, so the role may delete them.
      await queryRunner.query(`grant select, insert, delete on consumer_inbox to ${role}`);
      await queryRunner.query(`grant select, insert, update, delete on consumer_checkpoints to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table consumer_checkpoints`);
      await queryRunner.query(`drop table consumer_inbox`);
    }
  }

  return [CreateConsumerRuntime1764000001000];
}
