// One thread of the in-process verify benchmark: issues `keyCount` keys into its own index,
// then verifies them in a loop (each key in turn, in a shuffled order), and reports when it
// started and ended.
import { parentPort, workerData } from 'node:worker_threads';
import { KeyIndex, KeyVerifier } from '@keyledger/key-projection';
import { KeyHasher, parsePeppers } from '@keyledger/key-secrets';

const { peppers, keyCount, iterations } = workerData as { peppers: string; keyCount: number; iterations: number };
const hasher = new KeyHasher(parsePeppers(peppers));
const index = new KeyIndex();
const keys: string[] = [];
for (let i = 0; i < keyCount; i += 1) {
  const { plaintext, digest, hint } = hasher.newKey('kl', 'live');
  const data = {
    keyId: `key_${i}`,
    tenant: 'acme',
    owner: 'bench',
    environment: 'live',
    prefix: 'kl',
    digest,
    hint,
    scopes: ['orders:*'],
    ipAllowlist: [],
    metadata: {},
  };
  index.apply({ type: 'KeyIssued', streamVersion: 1, data });
  keys.push(plaintext);
}
// Fisher–Yates, so consecutive verifications touch unrelated parts of the index.
for (let i = keys.length - 1; i > 0; i -= 1) {
  const j = Math.floor(Math.random() * (i + 1));
  [keys[i], keys[j]] = [keys[j]!, keys[i]!];
}
const verifier = new KeyVerifier(index, hasher);
const conditions = { scopes: ['orders:read'] };
for (let i = 0; i < 100_000; i += 1) verifier.verify(keys[i % keyCount], conditions, Date.now());
let valid = 0;
// Wall-clock instants, so the caller can measure several threads over their common span.
const startedAt = performance.timeOrigin + performance.now();
for (let i = 0; i < iterations; i += 1) if (verifier.verify(keys[i % keyCount], conditions, Date.now()).valid) valid += 1;
parentPort!.postMessage({ startedAt, endedAt: performance.timeOrigin + performance.now(), valid });
