// What the events table's BEFORE INSERT trigger costs an append: the database setting position,
// transaction and recording time and checking the stream's version. Two schemas in one run: one
// as migrated now, one with that migration rolled back (identity position, column defaults, no
// trigger), appended to in alternating rounds through the store, as the issuer's role, over one
// connection each, so the Postgres backend doing the work is one process whose CPU time can be
// read. Run with `npm run bench -- append-database-rules`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { NO_STREAM, PostgresEventStore, createDataSource, eventStoreMigrations } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, createTestContext, testEvent } from '@keyledger/testing';
import { SERVICE_DATABASE_ROLES } from '@keyledger/config';
import { describeMachine, now } from './bench-support.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 6);
const APPENDS = Number(process.env['BENCH_APPENDS'] ?? 1000);
const STREAMS = 100;
const LOOP_ROWS = 20_000;
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Setup {
  readonly label: string;
  readonly ctx: TestContext;
  readonly db: DataSource;
  readonly store: PostgresEventStore;
  readonly versions: number[];
  streamBase: number;
}

async function setup(label: string, rolledBack: boolean): Promise<Setup> {
  const ctx = await createTestContext(`bench${label}`);
  if (rolledBack) {
    const migration = eventStoreMigrations(APP_ROLE).find((candidate) => candidate.name === 'DatabaseSetEventColumns1764000015000')!;
    const runner = ctx.ownerDb.createQueryRunner();
    await new migration().down(runner);
    await runner.release();
  }
  const db = await createDataSource({ url: ctx.databaseUrl, schema: ctx.schema, role: SERVICE_DATABASE_ROLES.issuer, poolSize: 1 }).initialize();
  return { label, ctx, db, store: new PostgresEventStore(db, ctx.auth), versions: new Array<number>(STREAMS).fill(0), streamBase: 0 };
}

/** CPU time (user + system) the Postgres backend has used so far, in microseconds. */
function backendCpuMicros(pid: number): number {
  // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
}

/** One round: APPENDS appends of `batch` events, spread over STREAMS streams, each at its version. */
async function round(setup: Setup, batch: number): Promise<{ wallUs: number; backendUs: number; clientUs: number }> {
  // Asked every round: the pool closes an idle connection, and the next one is a new backend.
  const [backend] = await setup.db.query<{ pid: number }[]>(`select pg_backend_pid() as pid`);
  const backendPid = backend!.pid;
  const cpu0 = backendCpuMicros(backendPid);
  const client0 = process.cpuUsage();
  const t0 = now();
  for (let i = 0; i < APPENDS; i += 1) {
    const stream = i % STREAMS;
    const version = setup.versions[stream]!;
    const events = Array.from({ length: batch }, (_, n) => testEvent({ n }));
    const result = await setup.store.append(`key-b${setup.streamBase + stream}`, version === 0 ? NO_STREAM : version, events);
    setup.versions[stream] = result.nextExpectedVersion;
  }
  const wall = (now() - t0) * 1000;
  const client = process.cpuUsage(client0);
  return { wallUs: wall / APPENDS, backendUs: (backendCpuMicros(backendPid) - cpu0) / APPENDS, clientUs: (client.user + client.system) / APPENDS };
}

let loopCounter = 0;
/**
 * The INSERT alone, server-side: LOOP_ROWS single-row inserts in one DO block (no round trips,
 * parsing or planning per row), into 100 streams each at its next version; per row.
 */
async function serverLoop(setup: Setup): Promise<{ wallUs: number; backendUs: number }> {
  loopCounter += 1;
  const [backend] = await setup.db.query<{ pid: number }[]>(`select pg_backend_pid() as pid`);
  const cpu0 = backendCpuMicros(backend!.pid);
  const t0 = now();
  await setup.db.query(`
    do $$ begin
      for i in 0..${LOOP_ROWS - 1} loop
        insert into events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash)
        values (gen_random_uuid(), 'key-loop${loopCounter}-' || (i % 100), i / 100 + 1, 'KeySuspended', 1, '{"keyId":"key_bench"}',
                '{"actor":"a","correlationId":"c","causationId":"c"}', now(), decode(repeat('00', 32), 'hex'));
      end loop;
    end $$`);
  const wall = (now() - t0) * 1000;
  return { wallUs: wall / LOOP_ROWS, backendUs: (backendCpuMicros(backend!.pid) - cpu0) / LOOP_ROWS };
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const range = (values: readonly number[]): string => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;

const after = await setup('after', false);
const before = await setup('before', true);
try {
  console.log('# append cost of the database-set columns and the stream version check\n' + (await describeMachine(after.ctx)));
  console.log(
    `method: two schemas in one run, one as migrated (trigger events_admit) and one with that migration rolled back (identity position, defaults, no trigger); ` +
      `each appended to through PostgresEventStore as ${SERVICE_DATABASE_ROLES.issuer} over one connection, ${APPENDS} appends per round spread over ${STREAMS} streams ` +
      `(each append at its stream's version, so the check reads a real head), ${ROUNDS} rounds per build and batch size, the two builds alternating and each starting every other round; ` +
      `per append: wall time, CPU time of the Postgres backend (/proc/<pid>/stat, ${TICKS_PER_SECOND} ticks/s) and of this process; medians over rounds (range). ` +
      `Then the INSERT alone: ${LOOP_ROWS} single-row inserts in one DO block per round, same alternation, per row`,
  );
  for (const batch of [1, 10]) {
    for (const s of [before, after]) {
      s.streamBase += STREAMS;
      s.versions.fill(0);
      await round(s, batch); // warm-up: fresh streams, plans cached
    }
    const results = new Map<string, { wallUs: number; backendUs: number; clientUs: number }[]>([
      [before.label, []],
      [after.label, []],
    ]);
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const s of r % 2 === 0 ? [before, after] : [after, before]) results.get(s.label)!.push(await round(s, batch));
    }
    for (const s of [before, after]) {
      const runs = results.get(s.label)!;
      const wall = runs.map((run) => run.wallUs);
      const backend = runs.map((run) => run.backendUs);
      const client = runs.map((run) => run.clientUs);
      console.log(
        `${`${batch} event${batch === 1 ? '' : 's'} per append, ${s.label.padEnd(6)}`.padEnd(30)} wall ${median(wall).toFixed(0).padStart(5)} µs (${range(wall)})` +
          `  backend CPU ${median(backend).toFixed(0).padStart(4)} µs (${range(backend)})  client CPU ${median(client).toFixed(0).padStart(4)} µs (${range(client)})`,
      );
    }
  }
  const loops = new Map<string, { wallUs: number; backendUs: number }[]>([
    [before.label, []],
    [after.label, []],
  ]);
  for (const s of [before, after]) await serverLoop(s); // warm-up
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const s of r % 2 === 0 ? [before, after] : [after, before]) loops.get(s.label)!.push(await serverLoop(s));
  }
  for (const s of [before, after]) {
    const runs = loops.get(s.label)!;
    const wall = runs.map((run) => run.wallUs);
    const backend = runs.map((run) => run.backendUs);
    console.log(
      `${`INSERT alone (server loop), ${s.label.padEnd(6)}`.padEnd(30)} wall ${median(wall).toFixed(1).padStart(5)} µs (${range(wall)})  backend CPU ${median(backend).toFixed(1).padStart(4)} µs (${range(backend)}) per row`,
    );
  }
} finally {
  for (const s of [after, before]) {
    await s.db.destroy();
    await s.ctx.close();
  }
}
