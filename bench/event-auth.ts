// Event authentication: what sealing and checking cost per event, and what a catch-up from
// the store costs with every row checked (MAC and schema) against the same rows read without
// any check, as readPayloads did before event MACs. CPU time of this process (user + system),
// so a machine shared with other work does not inflate it; wall time beside it for the catch-up.
// Run with `npm run bench -- event-auth`.
import { randomBytes } from 'node:crypto';
import type { EventEnvelope } from '@keyledger/contracts';
import { checkEventData } from '@keyledger/contracts';
import { EventAuthenticator } from '@keyledger/event-auth';
import { EventMessageReader, encodeEventMessage } from '@keyledger/event-bus';
import { NO_STREAM, START_OF_LOG, eventHash } from '@keyledger/event-store';
import type { GlobalPosition } from '@keyledger/contracts';
import { newEventId, newPrefixedId } from '@keyledger/ids';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';

const MICRO_EVENTS = Number(process.env['BENCH_EVENT_AUTH_EVENTS'] ?? 20_000);
const STORED_EVENTS = Number(process.env['BENCH_EVENT_AUTH_STORED'] ?? 20_000);
const PAGE = 5000;

const ctx = await createTestContext('benchauth');
const authenticator = new EventAuthenticator([{ version: 1, secret: randomBytes(32) }]);

/** CPU microseconds of this process spent in `work`, per item; the best of three rounds. */
function cpuPerItem(items: number, work: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round += 1) {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / items);
  }
  return best;
}

/** Events like the issuer's: a KeyIssued of ~600 bytes of JSON with its metadata. */
const events: EventEnvelope[] = Array.from({ length: MICRO_EVENTS }, (_, n) => {
  const keyId = newPrefixedId('key');
  return {
    eventId: newEventId(),
    streamId: `key-${keyId}`,
    streamVersion: 1,
    type: 'KeyIssued',
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    data: testKeyIssuedData(keyId, 'acme', { scopes: ['orders:read', 'orders:write'], metadata: { team: 'billing' } }),
    metadata: testMetadata({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
    hash: 'ab'.repeat(32),
    transactionId: String(1000 + n),
    position: String(n + 1),
  };
});
const storedMacs = events.map((event) => authenticator.sealStored(event));
const messages = events.map((event) => encodeEventMessage(ctx.topology.subjectPrefix, event, authenticator));
const payloads = messages.map((message) => new TextEncoder().encode(message.payload));
const reader = new EventMessageReader(ctx.topology.subjectPrefix, { authenticator, rejections: { reject: () => undefined } });
let sink = 0;

const micro = {
  'hash chain (eventHash, as before)': cpuPerItem(MICRO_EVENTS, () => {
    for (const event of events) sink += eventHash(Buffer.alloc(32), event)[0]!;
  }),
  'seal stored (append)': cpuPerItem(MICRO_EVENTS, () => {
    for (const event of events) sink += authenticator.sealStored(event).mac[0]!;
  }),
  'check stored MAC (every read)': cpuPerItem(MICRO_EVENTS, () => {
    events.forEach((event, n) => (sink += authenticator.checkStored(event, storedMacs[n]!).length));
  }),
  'check data schema (every read and decode)': cpuPerItem(MICRO_EVENTS, () => {
    for (const event of events) sink += checkEventData(event.type, event.schemaVersion, event.data) ? 1 : 0;
  }),
  'seal published (relay)': cpuPerItem(MICRO_EVENTS, () => {
    for (const event of events) sink += authenticator.sealPublished(event).v;
  }),
  'decode and verify a message (EventMessageReader.read)': cpuPerItem(MICRO_EVENTS, () => {
    payloads.forEach((payload, n) => (sink += reader.read(payload, messages[n]!.subject) ? 1 : 0));
  }),
  'decode only (JSON.parse, as before)': cpuPerItem(MICRO_EVENTS, () => {
    for (const payload of payloads) sink += (JSON.parse(new TextDecoder().decode(payload)) as { streamVersion: number }).streamVersion;
  }),
};

// The store: STORED_EVENTS key events, sealed as the issuer writes them.
for (let written = 0; written < STORED_EVENTS; written += 1) {
  const keyId = newPrefixedId('key');
  await ctx.store.append(`key-${keyId}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId), metadata: testMetadata() }]);
}

/** A whole catch-up of the key category in pages: CPU µs of this process per event, and wall ms. */
async function catchUp(read: (after: GlobalPosition) => Promise<{ rows: number; end: GlobalPosition | undefined }>): Promise<{ cpuUs: number; wallMs: number; rows: number }> {
  let best = { cpuUs: Number.POSITIVE_INFINITY, wallMs: 0, rows: 0 };
  for (let round = 0; round < 3; round += 1) {
    const cpu = process.cpuUsage();
    const started = now();
    let position: GlobalPosition = START_OF_LOG;
    let rows = 0;
    for (;;) {
      const page = await read(position);
      rows += page.rows;
      if (!page.end || page.rows < PAGE) break;
      position = page.end;
    }
    const used = process.cpuUsage(cpu);
    const cpuUs = (used.user + used.system) / rows;
    if (cpuUs < best.cpuUs) best = { cpuUs, wallMs: now() - started, rows };
  }
  return best;
}

const verified = await catchUp((after) => ctx.store.readPayloads(after, PAGE, 'key'));
// The query readPayloads ran before event MACs: only what a projection folds, nothing checked.
const unchecked = await catchUp(async (after) => {
  const rows = await ctx.appDb.query<{ t: string; p: string; s: string; v: number; type: string; data: unknown }[]>(
    `select transaction_id::text as t, position::text as p, stream_id as s, stream_version as v, type, data from events
      where (transaction_id, position) > ($1::xid8, $2::bigint) and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        and split_part(stream_id, '-', 1) = 'key'
      order by events.transaction_id, events.position limit $3`,
    [after.transactionId, after.position, PAGE],
  );
  const last = rows[rows.length - 1];
  const payloads = rows.map((row) => ({ transactionId: row.t, position: row.p, streamId: row.s, streamVersion: row.v, type: row.type, data: row.data }));
  sink += payloads.length;
  return { rows: rows.length, end: last && { transactionId: last.t, position: last.p } };
});

console.log('event-auth: sealing and checking events (HMAC-SHA256 over RFC 8785 canonical JSON, HKDF subkeys)');
console.log(await describeMachine(ctx));
console.log(`method: CPU time (user + system) of this process, best of 3 rounds; ${MICRO_EVENTS} KeyIssued events of ~${Math.round(messages[0]!.payload.length)} bytes as published`);
for (const [name, us] of Object.entries(micro)) console.log(`  ${name.padEnd(56)} ${us.toFixed(2)} µs/event`);
console.log(`catch-up of ${verified.rows} stored key events in pages of ${PAGE} (CPU of this process per event; wall time of the whole read):`);
console.log(`  readPayloads, every row's MAC and schema checked          ${verified.cpuUs.toFixed(2)} µs/event, ${verified.wallMs.toFixed(0)} ms`);
console.log(`  the same rows' payload columns, nothing checked (before)   ${unchecked.cpuUs.toFixed(2)} µs/event, ${unchecked.wallMs.toFixed(0)} ms`);
if (sink === -1) console.log('unreachable');
await ctx.close();
