// From an attack's first call to its effect at every verifier, on the services `npm start` runs
// (relay, issuer, rotator, auditor, anomaly detector) with TWO verifiers: keys of a tenant whose
// incident policy suspends on an anomaly are warmed up with steady traffic over HTTP, then attacked
// one after another (a rate spike on each); times to AnomalyDetected stored (its recorded_at) and
// to DISABLED answered by each verifier (each polled every 20 ms). Then enumeration bursts from
// networks of a tenant whose policy denies them, timed to DENIED at both verifiers.
// Run with `npm run bench -- anomaly-response`; BENCH_ATTACKS and BENCH_DENIALS change it.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, serviceOutput, startServices, stopProcesses } from '@keyledger/testing';
import { describeMachine, percentile } from './bench-support.js';

const ATTACKS = Number(process.env['BENCH_ATTACKS'] ?? 20);
const DENIALS = Number(process.env['BENCH_DENIALS'] ?? 3);
/** As test/anomaly-detector.e2e.spec.ts: a 1 s window, 4 s of warm-up, a floor of 10 calls; the other thresholds are the defaults. */
const DETECTOR_ENV = { ANOMALY_RATE_WINDOW_MS: '1000', ANOMALY_RATE_WARMUP_MS: '4000', ANOMALY_RATE_FLOOR: '10' };
const STEADY_EVERY_MS = 500;
const WARM_UP_MS = 6000;
const POLL_EVERY_MS = 20;
const GIVE_UP_MS = 30_000;
/** Distinct unknown keys from one network: more than the enumeration detector allows in its minute (20). */
const BURST = 40;
const HONEST_IP = '10.1.2.3';

const ctx = await createTestContext('benchresponse');
const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
let services: RunningServices | undefined;

/** One call to a verifier's GET /v1/authorize, as nginx forwards it: the code it answers. */
async function authorize(port: number, key: string, ip: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, {
    headers: { Authorization: `Bearer ${key}`, 'X-Real-IP': ip, 'X-Keyledger-Tenant': 'acme' },
  });
  await response.arrayBuffer();
  return response.headers.get('x-keyledger-code') ?? `HTTP ${response.status}`;
}

/** Both verifiers polled every POLL_EVERY_MS from `start` until each answers `code`: ms from `start` for each (NaN if never). */
async function untilBothAnswer(ports: readonly number[], key: string, ip: string, code: string, start: number): Promise<number[]> {
  const answered = ports.map(() => Number.NaN);
  while (answered.some(Number.isNaN) && Date.now() - start < GIVE_UP_MS) {
    const tick = Date.now();
    const codes = await Promise.all(ports.map((port) => authorize(port, key, ip)));
    const at = Date.now() - start;
    codes.forEach((answer, i) => {
      if (answer === code && Number.isNaN(answered[i]!)) answered[i] = at;
    });
    await delay(Math.max(0, POLL_EVERY_MS - (Date.now() - tick)));
  }
  return answered;
}

/** When (epoch ms, the store's clock: this machine's) the first event of `type` was stored on a stream. */
async function storedAt(streamId: string, type: string): Promise<number> {
  const rows = await ctx.ownerDb.query<{ at: number }[]>(
    `select (extract(epoch from recorded_at) * 1000)::float8 as at from events where stream_id = $1 and type = $2 order by position limit 1`,
    [streamId, type],
  );
  return rows[0]?.at ?? Number.NaN;
}

function row(label: string, samples: readonly number[]): string {
  const found = samples.filter((sample) => !Number.isNaN(sample)).sort((a, b) => a - b);
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  return `${label.padEnd(44)} p50 ${s(percentile(found, 50))}  p95 ${s(percentile(found, 95))}  max ${s(found[found.length - 1] ?? Number.NaN)}  (${found.length} of ${samples.length})`;
}

try {
  console.log('# attack to effect: anomaly detector, rotator, relay, two verifiers\n' + (await describeMachine(ctx)));
  services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'verifier', 'rotator', 'auditor', 'anomaly-detector'], {
    KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
    VERIFIER_TRUSTED_PROXIES: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...DETECTOR_ENV,
  });
  const ports = services.of('verifier').map((verifier) => verifier.httpPort);
  const api = natsKeyApi(ctx, rootKey);
  await api.adminKeyAccepted();
  const policy = await runCli(ctx, ['incident-policy', 'set', '--tenant', 'acme', '--on-anomaly', 'suspend', '--on-enumeration', 'deny', '--deny-for', '1h'], {
    adminKey: rootKey,
  });
  if (policy.code !== 0) throw new Error(`incident-policy set failed: ${policy.stderr}`);
  console.log(
    `method: every service with its defaults (verifier usage batches of 2000 records or every 250 ms) and two verifiers; detector thresholds ${Object.entries(
      DETECTOR_ENV,
    )
      .map(([name, value]) => `${name}=${value}`)
      .join(
        ', ',
      )} (the rest its defaults, a cool-down of an hour); tenant acme: incident-policy set --on-anomaly suspend --on-enumeration deny --deny-for 1h; ` +
      `${ATTACKS} keys issued and warmed up with one HTTP verify every ${STEADY_EVERY_MS} ms each (alternating verifiers) for ${WARM_UP_MS / 1000} s, the steady traffic going on for every key not yet attacked; ` +
      `then one attack at a time: the attack is both verifiers called with the key every ${POLL_EVERY_MS} ms (100 calls/s, 50 at each), and each call's answer is what is timed; ` +
      `attack start = its first call; AnomalyDetected stored = the event's recorded_at; a verifier's effect = its first DISABLED answer`,
  );

  const keys: { keyId: string; key: string }[] = [];
  for (let i = 0; i < ATTACKS; i += 1)
    keys.push(await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: `app-${i}`, scopes: ['orders:read'] }));
  const probe = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'probe', scopes: ['orders:read'] });
  for (const { key } of [...keys, probe])
    for (const port of ports)
      await eventually(
        'each verifier knows each key',
        () => authorize(port, key, HONEST_IP),
        (code) => code === 'VALID',
      );

  // Steady traffic: each key not yet attacked, one call per STEADY_EVERY_MS, alternating verifiers.
  const attacked = new Set<string>();
  let steady = true;
  let calls = 0;
  const steadyTraffic = (async () => {
    while (steady) {
      const tick = Date.now();
      await Promise.all(keys.filter(({ keyId }) => !attacked.has(keyId)).map(({ key }) => authorize(ports[calls++ % ports.length]!, key, HONEST_IP)));
      await delay(Math.max(0, STEADY_EVERY_MS - (Date.now() - tick)));
    }
  })();
  await delay(WARM_UP_MS);

  const detected: number[] = [];
  const atVerifier = ports.map(() => [] as number[]);
  const atBoth: number[] = [];
  for (const { keyId, key } of keys) {
    attacked.add(keyId);
    const start = Date.now();
    const answered = await untilBothAnswer(ports, key, HONEST_IP, 'DISABLED', start);
    detected.push((await storedAt(streamIdOf('key', keyId), 'AnomalyDetected')) - start);
    answered.forEach((ms, i) => atVerifier[i]!.push(ms));
    atBoth.push(Math.max(...answered));
    await delay(1000);
  }
  steady = false;
  await steadyTraffic;
  console.log(`rate spike, ${ATTACKS} attacks on distinct keys:`);
  console.log(row('attack start → AnomalyDetected stored', detected));
  atVerifier.forEach((samples, i) => console.log(row(`attack start → DISABLED at verifier ${i + 1}`, samples)));
  console.log(row('attack start → DISABLED at both verifiers', atBoth));

  // Enumeration: BURST distinct unknown keys from one /24 to verifier 1 as fast as answered, then the probe key from that network at both.
  const denied = ports.map(() => [] as number[]);
  const deniedBoth: number[] = [];
  const deniedStored: number[] = [];
  for (let n = 0; n < DENIALS; n += 1) {
    const ip = `203.0.${113 + n}.77`;
    const start = Date.now();
    for (let i = 0; i < BURST; i += 1)
      await authorize(
        ports[0]!,
        formatNewKey('kl', 'live', (size) => randomBytes(size)),
        ip,
      );
    const answered = await untilBothAnswer(ports, probe.key, ip, 'DENIED', start);
    deniedStored.push((await storedAt(streamIdOf('network', `203.0.${113 + n}.0_24`), 'SourceNetworkDenied')) - start);
    answered.forEach((ms, i) => denied[i]!.push(ms));
    deniedBoth.push(Math.max(...answered));
  }
  console.log(
    `enumeration, ${DENIALS} bursts of ${BURST} unknown keys from distinct /24s (sent one after another to verifier 1; start = the burst's first call):`,
  );
  console.log(row('burst start → SourceNetworkDenied stored', deniedStored));
  denied.forEach((samples, i) => console.log(row(`burst start → DENIED at verifier ${i + 1}`, samples)));
  console.log(row('burst start → DENIED at both verifiers', deniedBoth));
  console.log(`steady calls made: ${calls}`);
  const kinds = await ctx.ownerDb.query<{ kind: string; keys: number; n: number }[]>(
    `select data->>'kind' as kind, count(distinct stream_id)::int as keys, count(*)::int as n from events where type = 'AnomalyDetected' group by 1 order by 1`,
  );
  console.log(`AnomalyDetected stored: ${kinds.map(({ kind, keys: on, n }) => `${kind} ${n} (on ${on} keys)`).join(', ')}`);
  // What the services warned about meanwhile (a local NATS without users is expected here): the reason of a slow effect is usually there.
  for (const service of services.all) {
    const warnings = serviceOutput(service.child)
      .split('\n')
      .filter((line) => /"level":(40|50|60)/.test(line) && !line.includes('NATS_CREDS is not set'))
      .map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 200));
    const counted = new Map<string, number>();
    for (const message of warnings) counted.set(message, (counted.get(message) ?? 0) + 1);
    for (const [message, count] of counted) console.log(`${service.name} warned ${count}×: ${message}`);
  }
} finally {
  await stopProcesses((services?.all ?? []).map((service) => service.child));
  await ctx.close();
}
