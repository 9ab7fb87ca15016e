// One thread of the in-process verify benchmark: loads the given events into its own
// index and verifies the same key in a loop, then reports when it started and ended.
import { parentPort, workerData } from 'node:worker_threads';
import type { EventEnvelope } from '@keyledger/contracts';
import { KeyIndex, verifyKey } from '@keyledger/key-projection';
import { KeyHasher, parsePeppers } from '@keyledger/key-secrets';

const { events, peppers, key, iterations } = workerData as { events: EventEnvelope[]; peppers: string; key: string; iterations: number };
const index = new KeyIndex();
for (const event of events) index.apply(event);
const hasher = new KeyHasher(parsePeppers(peppers));
const conditions = { scopes: ['orders:read'] };
for (let i = 0; i < 100_000; i += 1) verifyKey(index, hasher, key, conditions, Date.now());
let valid = 0;
// Wall-clock instants, so the caller can measure several threads over their common span.
const startedAt = performance.timeOrigin + performance.now();
for (let i = 0; i < iterations; i += 1) if (verifyKey(index, hasher, key, conditions, Date.now()).valid) valid += 1;
parentPort!.postMessage({ startedAt, endedAt: performance.timeOrigin + performance.now(), valid });
