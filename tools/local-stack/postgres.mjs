// Finds the PostgreSQL server KeyLedger runs against, in this order: the one DATABASE_URL names,
// then (when asked) one on the default local port 127.0.0.1:5432, then an embedded PostgreSQL
// started under dataDir. Each step that is skipped says why in the log.

import os from 'node:os';
import { startEmbeddedPostgres } from './embedded-postgres.mjs';
import { notOwned } from './owned-processes.mjs';
import { describePostgresUrl, probePostgres } from './postgres-probe.mjs';

/**
 * @param {import('../local-stack.mjs').StackOptions} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle>} mode 'external' or 'embedded'
 */
export async function ensurePostgres(context) {
  const { probeDefaults, log } = context;
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    const problem = await probePostgres(fromEnv);
    if (!problem) {
      log(`postgres: using DATABASE_URL (${describePostgresUrl(fromEnv)})`);
      return notOwned(fromEnv, 'external');
    }
    log(`postgres: DATABASE_URL (${describePostgresUrl(fromEnv)}) is not usable: ${problem}`);
  }
  if (probeDefaults) {
    const user = process.env.PGUSER || os.userInfo().username;
    const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/postgres`;
    const problem = await probePostgres(url);
    if (!problem) {
      log(`postgres: using local server at 127.0.0.1:5432 as ${user}`);
      return notOwned(url, 'external');
    }
    log(`postgres: no usable server at 127.0.0.1:5432 (${problem})`);
  }
  return startEmbeddedPostgres(context);
}
