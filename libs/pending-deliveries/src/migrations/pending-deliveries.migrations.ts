import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertIdentifier } from '@keyledger/event-store';

/**
 * Keys waiting to be acknowledged by their owner: one row per key and channel (`nats`,
 * `webhook`) holding the envelope sealed to the owner's public key, never the plaintext, with
 * its retry state. A row lives from the rotation until an acknowledgement or its expiry; the
 * events of `delivery-<keyId>` record both, so the services' role may delete rows.
 */
export function pendingDeliveriesMigrations(appRole: string): (new () => MigrationInterface)[] {
  const role = assertIdentifier(appRole, 'application role');

  class CreatePendingDeliveries1764000009400 implements MigrationInterface {
    readonly name = 'CreatePendingDeliveries1764000009400';

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`
        create table pending_deliveries (
          key_id           text not null,
          channel          text not null check (channel in ('nats', 'webhook')),
          tenant           text not null,
          owner            text not null,
          public_key       text not null,
          envelope         text not null,
          ack_token_hash   text not null,
          digest           text not null,
          created_at       timestamptz not null,
          expires_at       timestamptz not null,
          attempts         int not null default 0,
          next_attempt_at  timestamptz not null,
          last_error       text,
          primary key (key_id, channel)
        )`);
      await queryRunner.query(`create index pending_deliveries_due on pending_deliveries (next_attempt_at)`);
      await queryRunner.query(`create index pending_deliveries_expiry on pending_deliveries (expires_at)`);
      await queryRunner.query(`grant select, insert, update, delete on pending_deliveries to ${role}`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`drop table pending_deliveries`);
    }
  }

  return [CreatePendingDeliveries1764000009400];
}
