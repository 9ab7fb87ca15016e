// What the edge guards add to a verification, in process and in CPU time per call: finding the
// caller of an HTTP request (trusted proxies), the failed-verification throttle's check, and the
// tally of a string that named no key. Set beside the in-process verify (docs/benchmarks.md,
// about 1.4 µs with one key). No servers needed. Run with `npm run bench -- edge-guards`.
import { cpus } from 'node:os';
import type { KeyUsed } from '@keyledger/contracts';
import { FailedVerifyThrottle, clientAddress, parseCidr } from '@keyledger/key-domain';
import type { IpRange } from '@keyledger/key-domain';
import { UnknownKeyTally } from '@keyledger/usage-recorder';

const ITERATIONS = Number(process.env['BENCH_ITERATIONS'] ?? 1_000_000);
const RUNS = 3;

/** CPU nanoseconds per call of `body(i)` over ITERATIONS calls, the best of RUNS runs (after a warm-up). */
function cpuPerCall(body: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < ITERATIONS / 10; i += 1) if (body(i) !== undefined) sink += 1;
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run += 1) {
    const start = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i += 1) if (body(i) !== undefined) sink += 1;
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / ITERATIONS);
  }
  if (sink < 0) console.log(sink);
  return best;
}

const proxies: IpRange[] = ['10.0.0.0/8', 'fd00::/8'].map((cidr) => parseCidr(cidr)!);
const lines: [string, number][] = [];
const measure = (label: string, body: (i: number) => unknown): void => {
  lines.push([label, cpuPerCall(body)]);
};

measure('caller, untrusted peer (dual-stack IPv4), no proxies configured', () =>
  clientAddress({ peer: '::ffff:198.51.100.9', realIp: '203.0.113.5', forwardedFor: undefined }, []),
);
measure('caller, untrusted peer, two proxy ranges configured', () =>
  clientAddress({ peer: '198.51.100.9', realIp: '203.0.113.5', forwardedFor: '203.0.113.5' }, proxies),
);
measure('caller, trusted proxy with X-Real-IP', () => clientAddress({ peer: '10.0.0.2', realIp: '203.0.113.5', forwardedFor: undefined }, proxies));
measure('caller, trusted proxy, X-Forwarded-For of 3 hops', () =>
  clientAddress({ peer: '10.0.0.2', realIp: undefined, forwardedFor: '1.2.3.4, 203.0.113.5, 10.0.0.7' }, proxies),
);

const settings = { limit: 100, windowMs: 60_000, maxSources: 100_000 };
const empty = new FailedVerifyThrottle(settings);
measure('throttle check, no source remembered', () => empty.check('198.51.100.9', 1));
const full = new FailedVerifyThrottle(settings);
for (let i = 0; i < settings.maxSources; i += 1) full.record(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'NOT_FOUND', 1);
measure('throttle check, 100,000 sources remembered, a source not among them', () => full.check('198.51.100.9', 2));
measure('throttle check, 100,000 sources remembered, one of them', () => full.check('10.0.1.7', 2));
measure('throttle check, an IPv6 caller (counted by its /64, memoised)', () => full.check('2001:db8:1:2:aaaa::1', 2));

const hex = (n: number): string => n.toString(16).padStart(16, '0');
const records: KeyUsed[] = Array.from({ length: 1024 }, (_, i) => ({
  fingerprint: hex(i * 7919),
  ip: `198.51.${(i >> 8) & 255}.${i & 255}`,
  at: Date.UTC(2030, 0, 1) + i,
  scopes: [],
  code: 'NOT_FOUND',
  cost: 0,
  transport: 'http',
}));
const tally = new UnknownKeyTally();
measure('tally of a string that named no key (1024 sources and strings, drained every 10,000)', (i) => {
  tally.add(records[i & 1023]!);
  if (i % 10_000 === 9_999) tally.drain();
  return undefined;
});

console.log('# edge guards: CPU time per call, in process (best of 3 runs)');
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}; ${ITERATIONS.toLocaleString('en')} calls per run`);
for (const [label, ns] of lines) console.log(`${ns.toFixed(0).padStart(6)} ns  ${label}`);
