// Precision, recall and detection latency of each anomaly detector on seeded synthetic traffic
// with labelled attacks, run through the detectors themselves (AnomalyDetector of
// libs/anomaly-detection, the code the service runs, with its default thresholds). No servers
// needed. Run with `npm run bench -- anomaly-evaluation`; BENCH_SEED, BENCH_KEYS and BENCH_ATTACKS
// change the traffic; the same seed gives the same figures. Roaming keys roam within one of eight
// providers' /16s, which a network table names (as ANOMALY_NETWORK_TABLE would);
// BENCH_NETWORK_TABLE=none runs without it.
//
// Latency is in record time, from the attack's first call to the call that crossed the line;
// the service adds the verifier's flush interval (250 ms) and one consumer batch to it.
import { cpus, totalmem } from 'node:os';
import type { VerifyCode } from '@keyledger/contracts';
import type { AnomalyFinding, Detector, UsageObservation } from '@keyledger/anomaly-detection';
import { AnomalyDetector, DEFAULT_ANOMALY_SETTINGS, NetworkTable, sourceNetwork } from '@keyledger/anomaly-detection';
import { percentile } from './bench-support.js';

/** Bumped whenever the traffic model changes, so figures are compared only with their own version. */
const GENERATOR_VERSION = 4;
const PROVIDERS = 8;
/** The providers' /16s (10.32.0.0/16 to 10.39.0.0/16), clear of the homes (10.0-10.15), attacks (10.19) and dormant keys (10.31). */
const providerTable = NetworkTable.parse(Array.from({ length: PROVIDERS }, (_, p) => `10.${32 + p}.0.0/16,AS6450${p} provider`).join('\n'));
const networkTable = process.env['BENCH_NETWORK_TABLE'] === 'none' ? undefined : providerTable;
const SEED = Number(process.env['BENCH_SEED'] ?? 15);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 300);
const ATTACKS = Number(process.env['BENCH_ATTACKS'] ?? 20);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = Date.UTC(2030, 0, 7);
/** Two days of ordinary traffic: the first teaches, attacks fall in the second. */
const DAYS = 2;
const STEP = 10 * SECOND;
/** A finding this long after an attack's end still counts as its detection. */
const SLACK = 5 * MINUTE;

/** mulberry32: a small seeded generator, so a run is repeatable. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = random(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
function poisson(mean: number): number {
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian()));
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rnd(); p > limit; p *= rnd()) k += 1;
  return k;
}
function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}
const address = (network: number, host = 1 + Math.floor(rnd() * 250)): string => `10.${(network >> 8) & 255}.${network & 255}.${host}`;

interface SimKey {
  readonly keyId: string;
  readonly tenant: string;
  /** Calls per second at the day's peak. */
  readonly rate: number;
  /** The hour of its day's peak (its users' time zone). */
  readonly peakHour: number;
  readonly networks: readonly number[];
  /** A nightly job: a burst at the same hour every night. */
  readonly jobHour: number | undefined;
  /** Its legitimate use ends here (revoked, for the dead-key attacks). */
  stopsAt: number;
}

type Attack = {
  readonly detector: Detector;
  readonly subject: string;
  readonly start: number;
  readonly end: number;
  /** Probing and enumeration: a burst (as a tool guesses) or low and slow. */
  readonly pace?: 'burst' | 'slow';
  detectedAt?: number;
};

const keys: SimKey[] = Array.from({ length: KEYS }, (_, i) => {
  const roaming = rnd() < 0.1;
  const homes = roaming ? 24 : 1 + Math.floor(rnd() * 3);
  return {
    keyId: `key_${i}`,
    tenant: `tenant_${i % 10}`,
    rate: Math.exp(Math.log(0.02) + rnd() * Math.log(100)), // 0.02 to 2 calls/s
    peakHour: Math.floor(rnd() * 24),
    // A roaming key's networks are /24s of one provider's /16.
    networks: Array.from({ length: homes }, () => (roaming ? ((32 + (i % PROVIDERS)) << 8) | Math.floor(rnd() * 256) : 1 + Math.floor(rnd() * 4000))),
    jobHour: rnd() < 0.1 ? Math.floor(rnd() * 24) : undefined,
    stopsAt: START + DAYS * DAY,
  };
});

/** Extra traffic, by window: the attacks and the ordinary noise that looks a little like them. */
const extra = new Map<number, UsageObservation[]>();
const add = (observation: UsageObservation): void => {
  const window = observation.at - (observation.at % STEP);
  const list = extra.get(window) ?? [];
  list.push(observation);
  extra.set(window, list);
};
const attacks: Attack[] = [];
const attackWindow = (): number => START + DAY + 2 * HOUR + Math.floor(rnd() * (DAY - 4 * HOUR));
const victims = [...keys].sort(() => rnd() - 0.5);
let next = 0;
const victim = (): SimKey => victims[next++ % victims.length]!;

for (let i = 0; i < ATTACKS; i++) {
  // Rate spike: 20 times the key's peak rate (at least 5 calls/s) for two minutes.
  {
    const key = victim();
    const start = attackWindow();
    const rate = Math.max(5, 20 * key.rate);
    for (let t = start; t < start + 2 * MINUTE; t += 1000 / rate)
      add({ at: Math.floor(t), keyId: key.keyId, tenant: key.tenant, ip: address(key.networks[0]!), code: 'VALID', calls: 1 });
    attacks.push({ detector: 'rate-spike', subject: key.keyId, start, end: start + 2 * MINUTE });
  }
  // New network: a few calls from a /24 the key never used.
  {
    const key = victim();
    const start = attackWindow();
    const network = 5000 + i;
    for (let n = 0; n < 5; n++) add({ at: start + n * 20 * SECOND, keyId: key.keyId, tenant: key.tenant, ip: address(network), code: 'VALID', calls: 1 });
    attacks.push({ detector: 'new-network', subject: key.keyId, start, end: start + 2 * MINUTE });
  }
  // Probing: scopes tried one after another, a call every 2 s (low and slow), or ten a second (every other attack: a tool's burst).
  {
    const key = victim();
    const start = attackWindow();
    const pace = i % 2 === 1 ? 'burst' : 'slow';
    const every = pace === 'burst' ? 100 : 2 * SECOND;
    for (let n = 0; n < 40; n++)
      add({ at: start + n * every, keyId: key.keyId, tenant: key.tenant, ip: address(key.networks[0]!), code: 'INSUFFICIENT_PERMISSIONS', calls: 1 });
    attacks.push({ detector: 'probing', subject: key.keyId, start, end: start + 40 * every, pace });
  }
  // Dead key: revoked (its owner stops), then used by whoever kept a copy.
  {
    const key = victim();
    key.stopsAt = START + DAY + Math.floor(rnd() * 6 * HOUR);
    const start = key.stopsAt + HOUR + Math.floor(rnd() * 12 * HOUR);
    for (let n = 0; n < 3; n++) add({ at: start + n * MINUTE, keyId: key.keyId, tenant: key.tenant, ip: address(6000 + i), code: 'REVOKED', calls: 1 });
    attacks.push({ detector: 'dead-key-use', subject: key.keyId, start, end: start + 3 * MINUTE });
  }
  // Enumeration: one network tries 40 made-up keys in a minute (tallies, as the verifier sends
  // them), or five a second (every other attack: a tool's burst).
  {
    const start = attackWindow();
    const ip = address(7000 + i);
    const pace = i % 2 === 1 ? 'burst' : 'slow';
    const every = pace === 'burst' ? 200 : 1500;
    for (let n = 0; n < 40; n++) add({ at: start + n * every, ip, fingerprint: `fp_${i}_${n}`, code: 'NOT_FOUND', calls: 1 });
    attacks.push({ detector: 'enumeration', subject: sourceNetwork(ip)!, start, end: start + Math.max(MINUTE, 40 * every), pace });
  }
}
// Ordinary mistakes: a typo'd or stale key now and then from ordinary networks.
for (let t = START; t < START + DAYS * DAY; t += 5 * MINUTE) {
  const key = pick(keys);
  add({ at: t, ip: address(pick(key.networks)), fingerprint: `typo_${t}`, code: pick<VerifyCode>(['NOT_FOUND', 'MALFORMED']), calls: 1 });
}
// An occasional refused call on an ordinary key (a client asking for a scope it lacks).
for (let t = START; t < START + DAYS * DAY; t += 2 * MINUTE) {
  const key = pick(keys);
  add({ at: t, keyId: key.keyId, tenant: key.tenant, ip: address(pick(key.networks)), code: 'INSUFFICIENT_PERMISSIONS', calls: 1 });
}

// Dormant keys: used on the first day, then quiet for 31 days, then used again (phase two).
const dormant: SimKey[] = Array.from({ length: ATTACKS }, (_, i) => ({
  keyId: `dormant_${i}`,
  tenant: 'tenant_dormant',
  rate: 0,
  peakHour: 0,
  networks: [8000 + i],
  jobHour: undefined,
  stopsAt: START,
}));
for (const key of dormant)
  for (let n = 0; n < 10; n++) add({ at: START + n * HOUR, keyId: key.keyId, tenant: key.tenant, ip: address(key.networks[0]!), code: 'VALID', calls: 1 });

let clock = START;
const detector = new AnomalyDetector(() => clock, DEFAULT_ANOMALY_SETTINGS, networkTable);
const findings: AnomalyFinding[] = [];
const observe = (observation: UsageObservation): void => {
  clock = observation.at;
  detector.observe(observation, findings);
};

const started = performance.now();
let observed = 0;
const rateAt = (key: SimKey, at: number): number => {
  const hour = (at % DAY) / HOUR;
  const phase = Math.cos(((hour - key.peakHour) / 24) * 2 * Math.PI);
  const diurnal = 0.2 + 0.8 * ((1 + phase) / 2);
  const job = key.jobHour !== undefined && Math.floor(hour) === key.jobHour && at % HOUR < 5 * MINUTE ? 10 : 1;
  return key.rate * diurnal * job;
};
const batch: UsageObservation[] = [];
for (let window = START; window < START + DAYS * DAY; window += STEP) {
  batch.length = 0;
  for (const key of keys) {
    if (window >= key.stopsAt) continue;
    const calls = poisson((rateAt(key, window) * STEP) / 1000);
    for (let n = 0; n < calls; n++)
      batch.push({ at: window + Math.floor(rnd() * STEP), keyId: key.keyId, tenant: key.tenant, ip: address(pick(key.networks)), code: 'VALID', calls: 1 });
  }
  for (const observation of extra.get(window) ?? []) batch.push(observation);
  batch.sort((a, b) => a.at - b.at);
  for (const observation of batch) observe(observation);
  observed += batch.length;
}
// Phase two, 31 days on: each dormant key used once more, and ordinary keys still busy.
const later = START + 33 * DAY;
for (const [i, key] of dormant.entries()) {
  const at = later + i * MINUTE;
  observe({ at, keyId: key.keyId, tenant: key.tenant, ip: address(key.networks[0]!), code: 'VALID', calls: 1 });
  attacks.push({ detector: 'dormant-key-use', subject: key.keyId, start: at, end: at });
  observed += 1;
}

// Phase three, off-hours: 40 office keys, used 09:00-18:00 on weekdays of their own time zone for
// three weeks, on a detector of their own (the keys above have two days of history, too little
// for a weekly profile); in the third week 20 of them are used at night or on a weekend, a few
// calls over ten minutes, by whoever holds a copy. (v3 added the office keys, v4 the bursts of probing and enumeration.)
const OFFICE_KEYS = 40;
const officeStart = START + 35 * DAY; // a Monday, after the dormant phase
const officeDetector = new AnomalyDetector(() => clock, DEFAULT_ANOMALY_SETTINGS, networkTable);
const office = Array.from({ length: OFFICE_KEYS }, (_, i) => ({
  keyId: `office_${i}`,
  tenant: `tenant_${i % 10}`,
  rate: 0.01 + rnd() * 0.2,
  zone: Math.floor(rnd() * 18) - 8,
  ip: address(6000 + i),
}));
const isOfficeHour = (at: number, zone: number): boolean => {
  const local = at + zone * HOUR;
  const day = (Math.floor(local / DAY) + 3) % 7; // 0 Monday (1970-01-01 was a Thursday)
  const hour = Math.floor((local % DAY) / HOUR);
  return day < 5 && hour >= 9 && hour < 18;
};
const officeCalls: UsageObservation[] = [];
for (const key of office)
  for (let window = officeStart; window < officeStart + 21 * DAY; window += 5 * MINUTE)
    if (isOfficeHour(window, key.zone))
      for (let n = poisson(key.rate * 300); n > 0; n--) officeCalls.push({ at: window + Math.floor(rnd() * 5 * MINUTE), keyId: key.keyId, tenant: key.tenant, ip: key.ip, code: 'VALID', calls: 1 });
for (let i = 0; i < ATTACKS; i++) {
  const key = office[i % OFFICE_KEYS]!;
  // A local hour far from the office's (20:00-06:00, or any hour of a weekend) in the third week,
  // after its first day: the profile judges once it has two weeks, counted from the key's first call.
  let start: number;
  do start = officeStart + 15 * DAY + Math.floor(rnd() * 6 * DAY);
  while (isOfficeHour(start, key.zone) || isOfficeHour(start - 2 * HOUR, key.zone) || isOfficeHour(start + 2 * HOUR, key.zone));
  for (let n = 0; n < 5; n++) officeCalls.push({ at: start + n * 2 * MINUTE, keyId: key.keyId, tenant: key.tenant, ip: key.ip, code: 'VALID', calls: 1 });
  attacks.push({ detector: 'off-hours', subject: key.keyId, start, end: start + 10 * MINUTE });
}
officeCalls.sort((a, b) => a.at - b.at);
for (const observation of officeCalls) {
  clock = observation.at;
  officeDetector.observe(observation, findings);
}
observed += officeCalls.length;
const elapsedMs = performance.now() - started;

// Scoring: a finding is true when it names an attacked subject, by the attack's detector, in its time.
const subjectOf = (finding: AnomalyFinding): string => (finding.subject.kind === 'key' ? finding.subject.keyId : finding.subject.network);
const detectors: Detector[] = ['rate-spike', 'new-network', 'probing', 'dead-key-use', 'dormant-key-use', 'off-hours', 'enumeration'];
const rows: string[] = [];
const paces: string[] = [];
const falsePositives: string[] = [];
const missed: string[] = [];
for (const name of detectors) {
  const mine = attacks.filter((attack) => attack.detector === name);
  const found = findings.filter((finding) => finding.detector === name);
  let truePositives = 0;
  for (const finding of found) {
    const attack = mine.find((a) => a.subject === subjectOf(finding) && finding.at >= a.start && finding.at <= a.end + SLACK);
    if (!attack) continue;
    truePositives += 1;
    attack.detectedAt = Math.min(attack.detectedAt ?? Number.POSITIVE_INFINITY, finding.at);
  }
  for (const finding of found)
    if (!mine.some((a) => a.subject === subjectOf(finding) && finding.at >= a.start && finding.at <= a.end + SLACK)) {
      const key = keys.find((candidate) => candidate.keyId === subjectOf(finding));
      const job = key?.jobHour !== undefined && Math.floor((finding.at % DAY) / HOUR) === key.jobHour;
      falsePositives.push(
        `${name} on ${subjectOf(finding)} at day ${Math.floor((finding.at - START) / DAY)} ${new Date(finding.at).toISOString().slice(11, 16)}${job ? ' (its nightly job)' : ''}: ${finding.detail}`,
      );
    }
  const detected = mine.filter((attack) => attack.detectedAt !== undefined);
  for (const attack of mine)
    if (attack.detectedAt === undefined) {
      const key = keys.find((candidate) => candidate.keyId === attack.subject);
      missed.push(`${name} on ${attack.subject}${key && key.networks.length > DEFAULT_ANOMALY_SETTINGS.network.maxNetworks ? ' (a roaming key)' : ''}`);
    }
  const latencies = detected.map((attack) => (attack.detectedAt! - attack.start) / 1000).sort((a, b) => a - b);
  const latencyOf = (pace: 'burst' | 'slow'): string => {
    const paced = detected.filter((attack) => attack.pace === pace).map((attack) => (attack.detectedAt! - attack.start) / 1000);
    paced.sort((a, b) => a - b);
    return `${pace === 'burst' ? 'bursts' : 'low and slow'}: recall ${(paced.length / mine.filter((attack) => attack.pace === pace).length).toFixed(2)}, p50 ${percentile(paced, 50).toFixed(1)} s, p95 ${percentile(paced, 95).toFixed(1)} s`;
  };
  if (mine.some((attack) => attack.pace !== undefined)) paces.push(`${name}: ${latencyOf('burst')}; ${latencyOf('slow')}`);
  const precision = found.length === 0 ? Number.NaN : truePositives / found.length;
  const recall = detected.length / mine.length;
  rows.push(
    `| ${name} | ${mine.length} | ${found.length} | ${precision.toFixed(2)} | ${recall.toFixed(2)} | ${percentile(latencies, 50).toFixed(1)} s | ${percentile(latencies, 95).toFixed(1)} s |`,
  );
}

const cpu = cpus();
console.log(
  `anomaly evaluation, generator v${GENERATOR_VERSION}, seed ${SEED}: ${KEYS} keys over ${DAYS} days, ${ATTACKS} attacks per detector, default thresholds, ${networkTable ? `a network table of the ${PROVIDERS} providers` : 'no network table'}`,
);
console.log(`machine: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}`);
console.log(
  `${observed.toLocaleString('en')} observations in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(observed / (elapsedMs / 1000)).toLocaleString('en')}/s with the generator), ${detector.trackedKeys} keys tracked, window ${DEFAULT_ANOMALY_SETTINGS.rate.windowMs / 1000} s`,
);
console.log('| detector | attacks | findings | precision | recall | latency p50 | latency p95 |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
for (const line of paces) console.log(line);
for (const line of falsePositives) console.log(`false positive: ${line}`);
for (const line of missed) console.log(`missed: ${line}`);
