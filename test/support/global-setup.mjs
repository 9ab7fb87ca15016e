// Provides a Postgres and a NATS JetStream to the integration and e2e tests: the ones named
// by DATABASE_URL / NATS_URL or running on their default local ports when reachable,
// otherwise an embedded PostgreSQL and a local nats-server that live for this run.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureStack } from '../../tools/local-stack.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default async function globalSetup() {
  if (process.env.KEYLEDGER_TEST_DATABASE_URL && process.env.KEYLEDGER_TEST_NATS_URL) return;
  const stack = await ensureStack({
    root,
    dataDir: join(root, '.keyledger', 'test'),
    probeDefaults: process.env.KEYLEDGER_TEST_PROBE_LOCAL !== 'false',
    log: (message) => process.stderr.write(`[test stack] ${message}\n`),
  });
  process.env.KEYLEDGER_TEST_DATABASE_URL = stack.databaseUrl;
  process.env.KEYLEDGER_TEST_NATS_URL = stack.natsUrl;
  globalThis.__KEYLEDGER_STACK__ = stack;
}
