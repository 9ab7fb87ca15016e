// Finds the NATS JetStream server KeyLedger runs against, in this order: the one NATS_URL names,
// then (when asked) one on the default local port 127.0.0.1:4222, then a nats-server started
// under dataDir. Each step that is skipped says why in the log.

import { startLocalNats } from './local-nats-server.mjs';
import { DEFAULT_NATS_URL, describeNatsUrl, probeNats } from './nats-probe.mjs';
import { notOwned } from './owned-processes.mjs';

/**
 * @param {import('../local-stack.mjs').StackOptions} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle>} mode 'external' or 'local'
 */
export async function ensureNats(context) {
  const { probeDefaults, log } = context;
  const fromEnv = process.env.NATS_URL;
  if (fromEnv) {
    const problem = await probeNats(fromEnv);
    if (!problem) {
      log(`nats: using NATS_URL (${describeNatsUrl(fromEnv)})`);
      return notOwned(fromEnv, 'external');
    }
    log(`nats: NATS_URL (${describeNatsUrl(fromEnv)}) is not usable: ${problem}`);
  }
  if (probeDefaults) {
    const problem = await probeNats(DEFAULT_NATS_URL);
    if (!problem) {
      log('nats: using local server at 127.0.0.1:4222');
      return notOwned(DEFAULT_NATS_URL, 'external');
    }
    log(`nats: no usable server at 127.0.0.1:4222 (${problem})`);
  }
  return startLocalNats(context);
}
