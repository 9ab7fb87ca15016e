import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { headers } from '@nats-io/transport-node';
import { apiSubject } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { formatNewKey } from '@keyledger/key-domain';
import type { ApiReply, AuthenticatedNats, TestContext } from '@keyledger/testing';
import type { BusRole } from '@keyledger/nats-auth';
import {
  createTestContext,
  eventually,
  freePort,
  readStreamMessages,
  serviceOutput,
  spawnService,
  startAuthenticatedNats,
  waitForExit,
} from '@keyledger/testing';
import { startEmbeddedPostgres } from '../tools/local-stack/embedded-postgres.mjs';
import { postgresRunAs } from '../tools/local-stack/postgres-os-user.mjs';

// An operator's fault drill (issue 18): its own nats-server and its own PostgreSQL, every
// service as a real process, lifecycle commands and verifications running all along, and one
// fault after another. What must hold whatever happens: no acknowledged command lost or
// recorded twice, verifiers equal to a fresh replay of the store once each fault is over, no
// VALID for a key after its revoke returned, and no command answered INTERNAL.

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An embedded PostgreSQL of the test's own (tools/local-stack), which it can crash and restart. */
interface OwnPostgres {
  readonly url: string;
  /** `pg_ctl restart -m immediate`: every backend killed without a checkpoint, then crash recovery; resolves once it accepts connections. */
  crashRestart(): Promise<void>;
  stop(): Promise<void>;
}

async function startOwnPostgres(): Promise<OwnPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'keyledger-fault-drill-'));
  const server = await startEmbeddedPostgres({ root: dataDir, dataDir, log: () => undefined });
  const pgDir = join(dataDir, 'postgres');
  // pg_ctl sits beside the postgres binary, which postmaster.opts names first.
  const pgCtl = join(dirname(readFileSync(join(pgDir, 'postmaster.opts'), 'utf8').split(' ')[0]!), 'pg_ctl');
  const runAs = postgresRunAs();
  const pgCtlRun = (args: readonly string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      // As the postgres OS user when this runs as root; the new postmaster's output goes into its own data folder.
      const child = spawn(pgCtl, [...args, '-D', pgDir], { ...(runAs ?? {}), stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(' ')} exited with ${code}`))));
    });
  let restarted = false;
  return {
    url: server.url,
    async crashRestart() {
      restarted = true;
      await pgCtlRun(['restart', '-m', 'immediate', '-w', '-t', '60', '-l', join(pgDir, 'restarted.log')]);
    },
    async stop() {
      // After a restart the postmaster is pg_ctl's child, no longer the one server.stop() knows.
      if (restarted) await pgCtlRun(['stop', '-m', 'fast', '-w']);
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface Service {
  readonly name: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  child: ChildProcess;
}

type Op = 'issue' | 'suspend' | 'resume' | 'revoke' | 'rotate' | 'get';
const EVENT_OF: Partial<Record<Op, string>> = { issue: 'KeyIssued', suspend: 'KeySuspended', resume: 'KeyResumed', revoke: 'KeyRevoked' };
/** A command sent, and how it was answered: 'ok', an error code, or 'no-reply' (NATS away, the issuer down, a timeout). */
interface Command {
  readonly correlationId: string;
  readonly op: Op;
  keyId: string | undefined;
  readonly sentAt: number;
  answeredAt: number;
  outcome: string;
}
/** One verification over HTTP: when it was sent, and what the verifier said ('unreachable' when nothing answered). */
interface Answer {
  readonly sentAt: number;
  readonly verifier: number;
  readonly keyId: string;
  readonly code: string;
}
interface KnownKey {
  readonly keyId: string;
  readonly key: string;
  /** As the acknowledged commands left it; 'uncertain' after a command whose outcome is unknown (then no more commands). */
  state: 'active' | 'suspended' | 'revoked' | 'uncertain';
  busy: boolean;
}
interface Recovery {
  readonly fault: string;
  /** Until a command (keys.issue) succeeds again. */
  readonly commandMs: number;
  /** Until both verifiers answer VALID for the key that command issued. */
  readonly verifiersMs: number;
  /** With the load paused and its commands answered: how long comparing every key on both verifiers with a replay of the store took until they agreed. */
  readonly replayMatchMs: number;
  /** What differed at the first comparison, if anything. */
  readonly atFirst: readonly string[];
  notes?: Record<string, number>;
}

const STATUS_CODE: Record<string, 'VALID' | 'DISABLED' | 'REVOKED'> = {
  KeyIssued: 'VALID',
  KeyResumed: 'VALID',
  KeySuspended: 'DISABLED',
  KeyRevoked: 'REVOKED',
};
/** The code a verifier owes a key after each acknowledged command. */
const STATUS_AFTER: Partial<Record<Op, string>> = { issue: 'VALID', resume: 'VALID', suspend: 'DISABLED', revoke: 'REVOKED' };
/**
 * How old the state a verifier answers from may be: VERIFIER_MAX_STALENESS_MS (5 s, the default the
 * services run with here), plus a heartbeat interval (1 s) and 1 s for a loaded machine.
 */
const STALENESS_BOUND_MS = 5000 + 1000 + 1000;
const COMMAND_WORKERS = 6;
const COMMAND_PAUSE_MS = 150;
const VERIFY_WORKERS = 8;
const VERIFY_PAUSE_MS = 5;

describe('a fault drill under load', () => {
  let pg: OwnPostgres;
  let nats: AuthenticatedNats;
  let ctx: TestContext;
  const services: Service[] = [];
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const env = (name: string): Record<string, string> => ({
    KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
    NATS_CREDS: nats.credsFile(name as BusRole),
    HTTP_HOST: '127.0.0.1',
  });

  const health = async (service: Service, timeoutMs = 2000): Promise<{ status: number; body: { details?: Record<string, Record<string, unknown>> } }> => {
    try {
      const response = await fetch(`http://127.0.0.1:${service.httpPort}/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: response.status, body: (await response.json()) as { details?: Record<string, Record<string, unknown>> } };
    } catch {
      return { status: 0, body: {} }; // not listening (starting, killed, stopped): not ready
    }
  };
  const ready = (service: Service): Promise<unknown> =>
    eventually(
      `${service.name} ready`,
      () => health(service).then((h) => h.status),
      (status) => status === 200,
      90_000,
    );
  const launch = (name: string, httpPort: number, grpcPort: number): ChildProcess =>
    spawnService(ctx, name, { ...env(name), HTTP_PORT: String(httpPort), GRPC_PORT: String(grpcPort) });
  const of = (name: string): Service[] => services.filter((service) => service.name === name);
  const verifiers = (): Service[] => of('verifier');

  beforeAll(async () => {
    pg = await startOwnPostgres();
    ctx = await createTestContext('faultdrill', {
      databaseUrl: pg.url,
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology);
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
    // The relays first: the issuer and the verifiers are ready once they applied a head a relay announced.
    for (const name of ['relay', 'relay', 'issuer', 'verifier', 'verifier', 'rotator', 'auditor']) {
      const [httpPort, grpcPort] = [await freePort(), await freePort()];
      const service: Service = { name, httpPort, grpcPort, child: launch(name, httpPort, grpcPort) };
      services.push(service);
      await ready(service);
    }
  }, 240_000);

  afterAll(async () => {
    for (const service of services) service.child.kill('SIGCONT');
    await Promise.all(
      services.map(async (service) => {
        service.child.kill('SIGTERM');
        await waitForExit(service.child);
      }),
    );
    await ctx?.close();
    await nats?.stop();
    await pg?.stop();
  }, 60_000);

  it('loses and duplicates no acknowledged command, never verifies a revoked key, answers no command INTERNAL, and verifiers equal the store after every fault', async () => {
    const commands: Command[] = [];
    /** Commands sent while PostgreSQL crashed and restarted (also in `commands`). */
    const outage: Command[] = [];
    const answers: Answer[] = [];
    const keys = new Map<string, KnownKey>();
    const revokedAt = new Map<string, number>();
    const issuedAt = new Map<string, number>();
    const recentlyRevoked: string[] = [];

    const command = async (op: Op, body: Record<string, unknown>): Promise<{ sent: Command; result: unknown }> => {
      const sent: Command = {
        correlationId: `drill-${randomUUID()}`,
        op,
        keyId: body['keyId'] as string | undefined,
        sentAt: Date.now(),
        answeredAt: 0,
        outcome: 'no-reply',
      };
      commands.push(sent);
      const h = headers();
      h.set('Authorization', `Bearer ${rootKey}`);
      h.set('Keyledger-Correlation-Id', sent.correlationId);
      let result: unknown;
      try {
        const reply = (await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, `keys.${op}`), JSON.stringify(body), { timeout: 5000, headers: h })).json<
          ApiReply<unknown>
        >();
        sent.outcome = reply.ok ? 'ok' : reply.error.code;
        result = reply.result;
      } catch {
        sent.outcome = 'no-reply'; // NATS away, no issuer subscribed, or no answer in time: the outcome is unknown
      }
      sent.answeredAt = Date.now();
      return { sent, result };
    };

    /** Issues a key; `hold`: kept out of the load's hands (busy) until released. */
    const issue = async (hold = false): Promise<KnownKey | undefined> => {
      const { sent, result } = await command('issue', { tenant: 'acme', owner: 'drill' });
      if (sent.outcome !== 'ok') return undefined;
      const { keyId, key } = result as { keyId: string; key: string };
      sent.keyId = keyId;
      issuedAt.set(keyId, sent.answeredAt);
      const known: KnownKey = { keyId, key, state: 'active', busy: hold };
      keys.set(keyId, known);
      return known;
    };

    // Lifecycle commands, ~15/s: each worker takes a key no other worker holds, so the model of
    // what the acknowledged commands did stays exact; a key whose command went unanswered is left alone.
    let loadRunning = true;
    let paused = false;
    let inFlight = 0;
    const commandWorker = async (): Promise<void> => {
      while (loadRunning) {
        await sleep(COMMAND_PAUSE_MS);
        if (paused) continue;
        inFlight += 1;
        try {
          const idle = [...keys.values()].filter((k) => !k.busy && (k.state === 'active' || k.state === 'suspended'));
          if (idle.length < 20 || Math.random() < 0.3) {
            await issue();
            continue;
          }
          const target = idle[Math.floor(Math.random() * idle.length)]!;
          target.busy = true;
          const op: Op = target.state === 'active' ? (Math.random() < 0.55 ? 'suspend' : 'revoke') : Math.random() < 0.6 ? 'resume' : 'revoke';
          const { sent } = await command(op, op === 'revoke' ? { keyId: target.keyId, reason: 'fault drill' } : { keyId: target.keyId });
          if (sent.outcome === 'ok') {
            target.state = op === 'revoke' ? 'revoked' : op === 'suspend' ? 'suspended' : 'active';
            if (op === 'revoke') {
              revokedAt.set(target.keyId, sent.answeredAt);
              recentlyRevoked.push(target.keyId);
              if (recentlyRevoked.length > 30) recentlyRevoked.shift();
            }
          } else if (!['INVALID_TRANSITION', 'CONCURRENCY_CONFLICT'].includes(sent.outcome)) {
            // UNAVAILABLE may come after a commit whose answer was lost; VERIFIERS_UNCONFIRMED is stored.
            target.state = 'uncertain';
          }
          target.busy = false;
        } finally {
          inFlight -= 1;
        }
      }
    };

    // Verifications over HTTP, a few hundred a second on both verifiers; half of them of keys
    // revoked lately, where an answer from stale state would show.
    let verifyRound = 0;
    const verifyWorker = async (): Promise<void> => {
      while (loadRunning) {
        const all = [...keys.values()];
        const keyId =
          Math.random() < 0.5 && recentlyRevoked.length > 0
            ? recentlyRevoked[Math.floor(Math.random() * recentlyRevoked.length)]!
            : all[Math.floor(Math.random() * all.length)]?.keyId;
        const known = keyId && keys.get(keyId);
        if (!known) {
          await sleep(50);
          continue;
        }
        const verifier = verifyRound++ % 2;
        const sentAt = Date.now();
        answers.push({ sentAt, verifier, keyId: known.keyId, code: await authorize(verifiers()[verifier]!, known.key) });
        await sleep(VERIFY_PAUSE_MS);
      }
    };

    const authorize = async (verifier: Service, key: string): Promise<string> => {
      try {
        const response = await fetch(`http://127.0.0.1:${verifier.httpPort}/v1/authorize`, {
          headers: { Authorization: `Bearer ${key}` },
          signal: AbortSignal.timeout(3000),
        });
        return response.headers.get('x-keyledger-code') ?? `HTTP ${response.status}`;
      } catch {
        return 'unreachable';
      }
    };

    /** A fresh replay of the store: each key's status as its events say, read and authenticated from PostgreSQL. */
    const storeStatus = async (): Promise<Map<string, string>> => {
      const page = await eventually('the store readable', () => ctx.store.readAll(START_OF_LOG, 1_000_000).catch(() => undefined), Boolean, 60_000);
      expect(page!.rejected).toEqual([]);
      const status = new Map<string, string>();
      for (const event of page!.events) {
        const code = STATUS_CODE[event.type];
        if (event.streamId.startsWith('key-') && code) status.set(event.streamId.slice('key-'.length), code);
      }
      return status;
    };

    /** Every key whose plaintext the drill holds, on both verifiers, against the store; the keys that differ. */
    const differences = async (): Promise<string[]> => {
      const status = await storeStatus();
      const differing: string[] = [];
      const all = [...keys.values()];
      for (let i = 0; i < all.length; i += 16) {
        await Promise.all(
          all.slice(i, i + 16).flatMap((known) =>
            verifiers().map(async (verifier, index) => {
              const code = await authorize(verifier, known.key);
              if (code !== status.get(known.keyId)) differing.push(`${known.keyId} on verifier ${index}: ${code}, store ${status.get(known.keyId)}`);
            }),
          ),
        );
      }
      return differing;
    };

    const recoveries: Recovery[] = [];
    const mismatches: Record<string, string[]> = {};
    /** After a fault: how long until commands, verifiers and a replay of the store agree again. */
    const recover = async (fault: string, endedAt: number, notes?: Record<string, number>): Promise<void> => {
      let probe: KnownKey | undefined;
      await eventually(`${fault}: a command succeeds`, async () => (probe = await issue(true)), Boolean, 90_000);
      const commandMs = Date.now() - endedAt;
      const refusals: Record<string, number> = {};
      for (const sent of commands)
        if (sent.sentAt >= endedAt && sent.answeredAt > 0 && sent.outcome !== 'ok')
          refusals[`${sent.op} ${sent.outcome}`] = (refusals[`${sent.op} ${sent.outcome}`] ?? 0) + 1;
      await eventually(
        `${fault}: the verifiers know the new key`,
        () => Promise.all(verifiers().map((verifier) => authorize(verifier, probe!.key))),
        (codes) => codes.every((code) => code === 'VALID'),
        90_000,
      );
      const verifiersMs = Date.now() - endedAt;
      probe!.busy = false;
      paused = true;
      await eventually(
        'commands in flight answered',
        () => inFlight,
        (count) => count === 0,
        30_000,
      );
      const comparedAt = Date.now();
      let differing = await differences();
      const atFirst = differing.slice(0, 5);
      for (const deadline = Date.now() + 15_000; differing.length > 0 && Date.now() < deadline;) differing = await differences();
      const replayMatchMs = Date.now() - comparedAt;
      paused = false;
      if (differing.length > 0) mismatches[fault] = differing.slice(0, 20);
      recoveries.push({ fault, commandMs, verifiersMs, replayMatchMs, atFirst, notes: { ...notes, ...refusals } });
    };

    /** The relay that reports leading; the relays are asked at once, as a stopped one answers nothing. */
    const leader = async (timeoutMs = 30_000): Promise<Service> =>
      (await eventually(
        'a relay leads',
        async () => {
          const relays = of('relay');
          // Briefly: a stopped relay answers nothing, and would otherwise set the pace of the polling.
          const healths = await Promise.all(relays.map((relay) => health(relay, 300)));
          return relays.find((_, index) => healths[index]!.body.details?.['relay']?.['leader'] === true);
        },
        Boolean,
        timeoutMs,
      ))!;

    const load = [...Array.from({ length: COMMAND_WORKERS }, commandWorker), ...Array.from({ length: VERIFY_WORKERS }, verifyWorker)];
    const drillStartedAt = Date.now();
    try {
      await sleep(5000); // load running before the first fault

      // 1. NATS stopped for 5 s, then started on its store.
      await nats.halt();
      await sleep(5000);
      await nats.restart();
      await recover('NATS stop 5 s / start', Date.now());

      // 2. PostgreSQL crash restart: every backend killed, crash recovery on start. Meanwhile every
      // kind of key command, over and over on keys of its own, must answer UNAVAILABLE (or succeed), never INTERNAL.
      const [held, toRotate, toRevoke] = [await issue(true), await issue(true), await issue(true)];
      let crashing = true;
      const burst = (async () => {
        for (let round = 0; crashing; round++) {
          const replies = await Promise.all([
            command(round % 2 ? 'resume' : 'suspend', { keyId: held!.keyId }),
            command('rotate', { keyId: toRotate!.keyId, graceMs: 3_600_000 }),
            command('revoke', { keyId: toRevoke!.keyId, reason: 'fault drill' }),
            command('get', { keyId: held!.keyId }),
          ]);
          outage.push(...replies.map(({ sent }) => sent));
          await sleep(50);
        }
      })();
      const crashedAt = Date.now();
      await pg.crashRestart();
      crashing = false;
      await burst;
      await recover('PostgreSQL crash restart (pg_ctl restart -m immediate)', Date.now(), { restartMs: Date.now() - crashedAt });

      // 3. kill -9 of each service, started again at once on its ports, as an orchestrator would;
      // recovery counts from the kill. The relay leader twice: the standby that took over leads the second time.
      for (const target of ['relay', 'relay', 'issuer', 'verifier#0', 'verifier#1', 'rotator', 'auditor']) {
        const [name, index] = target.split('#') as [string, string | undefined];
        const victim = name === 'relay' ? await leader() : of(name)[Number(index ?? 0)]!;
        victim.child.kill('SIGKILL');
        const killedAt = Date.now();
        await waitForExit(victim.child);
        victim.child = launch(victim.name, victim.httpPort, victim.grpcPort);
        const readyMs = ready(victim).then(() => Date.now() - killedAt);
        await recover(`kill -9 ${name === 'relay' ? 'relay leader' : target.replace('#', ' ')}`, killedAt);
        recoveries.at(-1)!.notes = { ...recoveries.at(-1)!.notes, restartedReadyMs: await readyMs };
      }

      // 4. The relay leader stalled (SIGSTOP) for 10 s: its session and lease row stay, it renews nothing.
      const stalled = await leader();
      stalled.child.kill('SIGSTOP');
      const stalledAt = Date.now();
      // A standby must take the lead while the leader is stopped (RELAY_LEASE_TTL_MS + RELAY_STANDBY_RETRY_MS, 4 s by default);
      // the stopped relay answers nothing, so a relay that reports leading is one that took over.
      const successor = await leader(10_000).catch(() => undefined);
      const takeoverMs = successor ? Date.now() - stalledAt : -1;
      await sleep(Math.max(0, stalledAt + 10_000 - Date.now()));
      stalled.child.kill('SIGCONT');
      await recover('SIGSTOP relay leader 10 s', Date.now(), { takeoverMs });
    } finally {
      loadRunning = false;
      await Promise.all(load);
    }
    const drillMs = Date.now() - drillStartedAt;

    // Quiet: the whole store on both verifiers, and in the event stream.
    const finalDifferences = await differences();
    const stored = (await ctx.store.readAll(START_OF_LOG, 1_000_000)).events;
    const messages = await eventually(
      'the stream holds the store',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (count) => count >= stored.length,
      30_000,
    ).then((count) => readStreamMessages(ctx.js, ctx.topology.eventStream, count));

    // The lifecycle commands each record one event; a rotation records two (and a get none).
    const ledger = commands.filter((sent) => EVENT_OF[sent.op] !== undefined);
    const acknowledged = ledger.filter((sent) => sent.outcome === 'ok');
    const byCorrelation = new Map<string, { type: string; streamId: string }[]>();
    for (const event of stored) {
      const id = event.metadata.correlationId;
      if (id.startsWith('drill-')) byCorrelation.set(id, [...(byCorrelation.get(id) ?? []), { type: event.type, streamId: event.streamId }]);
    }
    const lostOrDuplicated = acknowledged
      .filter((sent) => {
        const recorded = byCorrelation.get(sent.correlationId) ?? [];
        return recorded.length !== 1 || recorded[0]!.type !== EVENT_OF[sent.op] || recorded[0]!.streamId !== `key-${sent.keyId}`;
      })
      .map((sent) => ({ ...sent, recorded: byCorrelation.get(sent.correlationId) }));
    const recordedTwice = ledger.filter((sent) => (byCorrelation.get(sent.correlationId)?.length ?? 0) > 1);
    const validAfterRevoke = answers.filter((answer) => answer.code === 'VALID' && answer.sentAt > (revokedAt.get(answer.keyId) ?? Infinity));
    // Answers from state older than the staleness bound: a verifier may answer as of any moment
    // from STALENESS_BOUND_MS before the request on (a command commits before it is answered), or
    // refuse (UNAVAILABLE, or not answer). Keys with a command of unknown outcome are left out.
    const settled = new Map<string, Command[]>();
    const unsettled = new Set<string>();
    for (const sent of commands) {
      if (!sent.keyId || sent.op === 'get') continue;
      if (sent.outcome === 'ok' && STATUS_AFTER[sent.op]) settled.set(sent.keyId, [...(settled.get(sent.keyId) ?? []), sent]);
      else if (!['INVALID_TRANSITION', 'CONCURRENCY_CONFLICT'].includes(sent.outcome) || sent.op === 'rotate') unsettled.add(sent.keyId);
    }
    const staleAnswers = answers.filter((answer) => {
      const history = settled.get(answer.keyId);
      if (!history || unsettled.has(answer.keyId) || ['UNAVAILABLE', 'unreachable'].includes(answer.code)) return false;
      const cutoff = answer.sentAt - STALENESS_BOUND_MS;
      const before = history.filter((sent) => sent.answeredAt <= cutoff).at(-1);
      const allowed = [
        before ? STATUS_AFTER[before.op] : 'NOT_FOUND',
        ...history.filter((sent) => sent.answeredAt > cutoff).map((sent) => STATUS_AFTER[sent.op]),
      ];
      return !allowed.includes(answer.code);
    });
    const internal = commands.filter((sent) => sent.outcome === 'INTERNAL');
    const outcomes: Record<string, number> = {};
    for (const sent of commands) outcomes[`${sent.op} ${sent.outcome}`] = (outcomes[`${sent.op} ${sent.outcome}`] ?? 0) + 1;
    const inOutage: Record<string, number> = {};
    for (const sent of outage) inOutage[`${sent.op} ${sent.outcome}`] = (inOutage[`${sent.op} ${sent.outcome}`] ?? 0) + 1;
    // How long after its issue was acknowledged a verifier still did not know a key (the projection's lag, bounded by VERIFIER_MAX_STALENESS_MS).
    const notFoundLagMs = Math.max(
      0,
      ...answers.filter((answer) => answer.code === 'NOT_FOUND').map((answer) => answer.sentAt - (issuedAt.get(answer.keyId) ?? answer.sentAt)),
    );
    const answered: Record<string, number> = {};
    for (const answer of answers) answered[answer.code] = (answered[answer.code] ?? 0) + 1;

    console.log(
      [
        `fault drill: ${(drillMs / 1000).toFixed(0)} s, ${commands.length} commands (${(commands.length / (drillMs / 1000)).toFixed(1)}/s), ${acknowledged.length} acknowledged; ` +
          `${answers.length} verifications (${(answers.length / (drillMs / 1000)).toFixed(0)}/s); ${keys.size} keys; ${stored.length} events`,
        `commands: ${JSON.stringify(outcomes)}`,
        `commands during the PostgreSQL crash restart: ${JSON.stringify(inOutage)}`,
        `lost or duplicated: ${lostOrDuplicated.length + recordedTwice.length}; VALID after a revoke returned: ${validAfterRevoke.length}; ` +
          `answers from state older than ${STALENESS_BOUND_MS} ms: ${staleAnswers.length}; NOT_FOUND at most ${notFoundLagMs} ms after the key's issue was acknowledged`,
        `verifications: ${JSON.stringify(answered)}`,
        ...recoveries.map(
          (r) =>
            `${r.fault}: command ${r.commandMs} ms, verifiers ${r.verifiersMs} ms, replay compared and equal in ${r.replayMatchMs} ms ${JSON.stringify(r.notes)}${r.atFirst.length ? ` first: ${r.atFirst.join('; ')}` : ''}`,
        ),
      ].join('\n'),
    );
    if (internal.length > 0 || Object.keys(mismatches).length > 0)
      console.log(
        `service logs (errors):\n${services
          .flatMap((s) =>
            serviceOutput(s.child)
              .split('\n')
              .filter((line) => /"level":(50|60)/.test(line))
              .slice(0, 10),
          )
          .join('\n')}`,
      );

    expect(acknowledged.length).toBeGreaterThan(200); // the load ran
    expect(recoveries.at(-1)!.notes!['takeoverMs']).toBeGreaterThan(0); // a standby took over the stalled leader's lead
    expect(lostOrDuplicated).toEqual([]);
    expect(recordedTwice).toEqual([]);
    expect(messages.map((message) => message.headers?.get('Nats-Msg-Id'))).toEqual(stored.map((event) => event.eventId));
    expect(mismatches).toEqual({});
    expect(finalDifferences).toEqual([]);
    expect(validAfterRevoke).toEqual([]);
    expect(staleAnswers).toEqual([]);
    expect(internal).toEqual([]);
    expect(outage.filter((sent) => sent.outcome === 'UNAVAILABLE').length).toBeGreaterThan(0);
  }, 420_000);
});
