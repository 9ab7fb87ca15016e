import type { EventRow } from '@keyledger/event-store';
import { GENESIS_HASH, eventHash } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';

/**
 * Writes `count` KeyIssued events by SQL, one stream each, with 1,000 tenants, 5,000 owners and
 * two scopes: a store of that size in seconds rather than the hours appends would take. The
 * triggers are off for this transaction only, so what they would set is given here; the rows
 * get their chain hashes and MACs from `hashAndSealEvents`.
 */
export async function insertKeyIssuedEvents(ctx: TestContext, count: number): Promise<void> {
  await ctx.ownerDb.transaction(async (tx) => {
    await tx.query(`set local session_replication_role = replica`);
    await tx.query(
      `insert into events (position, transaction_id, recorded_at, event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash)
       select nextval('events_position'), pg_current_xact_id(), clock_timestamp(), gen_random_uuid(), 'key-key_' || lpad(i::text, 26, '0'), 1, 'KeyIssued', 1,
              jsonb_build_object('keyId', 'key_' || lpad(i::text, 26, '0'), 'tenant', 'tenant-' || (i % 1000), 'owner', 'service-' || (i % 5000),
                                 'environment', 'live', 'prefix', 'kl', 'hint', 'kl_live_…' || right(i::text, 4),
                                 'digest', jsonb_build_object('algorithm', 'hmac-sha256', 'pepperVersion', 1, 'digest', encode(sha256(i::text::bytea), 'hex')),
                                 'scopes', jsonb_build_array('orders:read', 'users:*'), 'ipAllowlist', '[]'::jsonb, 'metadata', '{}'::jsonb),
              '{"actor":"bench","correlationId":"bench","causationId":"bench"}', now(), decode(repeat('00', 32), 'hex')
         from generate_series(1, $1) i`,
      [count],
    );
  });
}

type SyntheticRow = Pick<EventRow, 'position' | 'event_id' | 'stream_id' | 'stream_version' | 'type' | 'schema_version' | 'data' | 'metadata' | 'occurred_at'>;

/** Gives every event the chain hash (each is its stream's first) and the MAC under the context's event key that the store would have written. */
export async function hashAndSealEvents(ctx: TestContext): Promise<void> {
  let after = '0';
  for (;;) {
    const rows = await ctx.ownerDb.query<SyntheticRow[]>(
      `select position::text, event_id::text, stream_id, stream_version, type, schema_version, data, metadata, occurred_at from events
        where position > $1::bigint order by events.position limit 20000`,
      [after],
    );
    if (rows.length === 0) return;
    const contents = rows.map((row) => ({
      eventId: row.event_id,
      streamId: row.stream_id,
      streamVersion: row.stream_version,
      type: row.type,
      schemaVersion: row.schema_version,
      occurredAt: row.occurred_at.toISOString(),
      data: row.data,
      metadata: row.metadata,
    }));
    const macs = contents.map((content) => ctx.auth.authenticator.sealStored(content));
    // The append-only trigger is off for this transaction only, as a restore of the store would have it.
    await ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(
        `update events set hash = sealed.hash, auth_version = sealed.version, auth_mac = sealed.mac
         from unnest($1::bigint[], $2::bytea[], $3::smallint[], $4::bytea[]) as sealed(position, hash, version, mac) where events.position = sealed.position`,
        [rows.map((row) => row.position), contents.map((content) => eventHash(GENESIS_HASH, content)), macs.map((mac) => mac.version), macs.map((mac) => mac.mac)],
      );
    });
    after = rows[rows.length - 1]!.position;
  }
}
