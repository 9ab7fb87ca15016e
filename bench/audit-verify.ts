// `keyledger audit verify` at scale: BENCH_EVENTS KeyIssued events (default 1,000,000) are
// written straight into the store with their chain hashes and MACs, the auditor's tree is grown
// over them and a checkpoint signed, then the whole verification runs (every chain and MAC,
// every leaf recomputed, the checkpoint's root and signature); prints each step's time.
import type { EventMetadata } from '@keyledger/contracts';
import { GENESIS_HASH, PostgresEventStore, eventHash } from '@keyledger/event-store';
import { RecordedRejections, createTestContext } from '@keyledger/testing';
import { NoteSigner, PostgresTransparencyLog, parseVerifierKey, verifyTransparencyLog } from '@keyledger/transparency-log';
import { describeMachine, now } from './bench-support.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const ctx = await createTestContext('benchaudit');

interface EventRow {
  position: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

/** Gives every event inserted above its chain hash (each is its stream's first) and the MAC the store would have written. */
async function hashAndSeal(): Promise<void> {
  let after = '0';
  for (;;) {
    const rows = await ctx.ownerDb.query<EventRow[]>(
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
        [
          rows.map((row) => row.position),
          contents.map((content) => eventHash(GENESIS_HASH, content)),
          macs.map((mac) => mac.version),
          macs.map((mac) => mac.mac),
        ],
      );
    });
    after = rows[rows.length - 1]!.position;
  }
}

try {
  console.log('# audit verify\n' + (await describeMachine(ctx)));
  console.log(
    'method: KeyIssued events (one stream each, 1,000 tenants) are inserted by SQL (triggers off) with their chain hashes and MACs; the auditor grows its tree over them (5,000 events per transaction) and signs a checkpoint; then verifyTransparencyLog (what keyledger audit verify runs) checks every chain and MAC, recomputes every leaf from its row, the checkpoint root and signature, and looks for rows the tree skipped',
  );
  const w0 = now();
  await ctx.ownerDb.transaction(async (tx) => {
    // With the triggers off, what the events trigger would set is given here.
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
      [EVENTS],
    );
  });
  await hashAndSeal();
  await ctx.ownerDb.query(`vacuum analyze events`);
  await ctx.ownerDb.query(`checkpoint`);
  console.log(`wrote ${EVENTS} events with chain hashes and MACs in ${((now() - w0) / 1000).toFixed(1)} s`);

  const { privateKey, verifierKey } = NoteSigner.generate('keyledger.bench/audit');
  const auditorDb = await ctx.connectAs('auditor');
  const store = new PostgresEventStore(auditorDb, { authenticator: ctx.auth.authenticator, rejections: new RecordedRejections() });
  const log = new PostgresTransparencyLog(auditorDb, store, NoteSigner.fromPrivateKey(privateKey), { batchSize: 5000 });
  const t0 = now();
  // The store's readers stop below the oldest transaction running on the server: grow until every event is in.
  let leaves = 0;
  while (leaves < EVENTS) leaves += await log.extend();
  const treeSeconds = (now() - t0) / 1000;
  const { checkpoint } = await log.signCheckpoint();
  console.log(
    `tree grown: ${leaves} leaves in ${treeSeconds.toFixed(1)} s (${Math.round(leaves / treeSeconds)} events/s); checkpoint of size ${checkpoint.treeSize} signed`,
  );
  await ctx.ownerDb.query(`vacuum analyze tlog_leaves, tlog_nodes`);

  const v0 = now();
  const report = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [parseVerifierKey(verifierKey)]);
  const verifySeconds = (now() - v0) / 1000;
  console.log(
    `audit verify: ${report.ok ? 'OK' : 'FAILED'} over ${report.chains.eventsChecked} events (${report.chains.streamsChecked} streams), ${report.leavesChecked} leaves, ${report.checkpointsChecked} checkpoint(s) in ${verifySeconds.toFixed(1)} s (${Math.round(report.leavesChecked / verifySeconds)} events/s)`,
  );
  if (!report.ok) process.exitCode = 1;
} finally {
  await ctx.close();
}
