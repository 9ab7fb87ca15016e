// Finds or starts the PostgreSQL and NATS JetStream servers that KeyLedger
// needs, so that `npm start` / `npm test` work on a machine with nothing set
// up: an explicitly configured server wins, then (optionally) the default
// local ports, then servers started here under `dataDir`.
//
// The parts live in local-stack/: postgres.mjs and nats.mjs choose a server,
// embedded-postgres.mjs and local-nats-server.mjs start one, owned-processes.mjs
// stops what was started here (also on exit or Ctrl-C).
//
// The servers started here run in their own session (detached), so a Ctrl-C in the terminal
// reaches only the caller, which stops its own clients first and the servers last. A caller
// that was killed outright leaves them running: the next call on the same dataDir takes them
// over (reuses them and stops them when it stops), unless the process recorded as their owner
// in dataDir/stack-owner.json is still alive, in which case it only reuses them.
//
// Plain ES module, no build step. `pg` and `embedded-postgres` are imported
// lazily so that importing this file never fails before dependencies exist.

import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from './local-stack/helpers.mjs';
import { ensureNats } from './local-stack/nats.mjs';
import { liveStackOwner, recordStackOwner } from './local-stack/owned-processes.mjs';
import { ensurePostgres } from './local-stack/postgres.mjs';

/**
 * @typedef {object} StackOptions
 * @property {string} root repository root; only used to print short paths
 * @property {string} dataDir absolute folder for embedded data, e.g. `<root>/.keyledger`
 * @property {boolean} probeDefaults also try 127.0.0.1:5432 / 127.0.0.1:4222 before starting servers
 * @property {boolean} [natsOnDefaultPort] start a local nats-server on 4222 when that port is free, so
 *   clients that default to it (the keyledger CLI) find it; otherwise on any free port
 * @property {boolean} [natsAuth] give a nats-server started here an operator, accounts and a user per service
 *   (kept under `dataDir`/nats-auth); a server found running is used as it is configured
 * @property {boolean} [adoptOrphans] set by ensureStack: servers found running under `dataDir` were left by an
 *   owner that is gone, so they are stopped with this stack
 * @property {(msg: string) => void} log receives one line per decision
 *
 * @typedef {object} Stack
 * @property {string} databaseUrl
 * @property {string} natsUrl
 * @property {'external' | 'embedded'} postgres
 * @property {'external' | 'local'} nats
 * @property {((role: string) => string) | undefined} natsCreds the `.creds` file of a service's user, when NATS was started here with auth
 * @property {() => Promise<void>} stop stops only what this call started; idempotent
 */

/**
 * @param {StackOptions} options
 * @returns {Promise<Stack>}
 */
export async function ensureStack({ root, dataDir, probeDefaults = false, natsOnDefaultPort = false, natsAuth = false, log = console.log }) {
  if (!path.isAbsolute(dataDir)) {
    throw new Error(`ensureStack: dataDir must be an absolute path, got "${dataDir}"`);
  }
  await fs.mkdir(dataDir, { recursive: true });
  // Servers left running by a killed owner are taken over; a live owner's are only borrowed.
  const adoptOrphans = liveStackOwner(dataDir) === undefined;
  const releaseOwnership = adoptOrphans ? recordStackOwner(dataDir) : () => {};
  const context = { root, dataDir, probeDefaults, natsOnDefaultPort, natsAuth, adoptOrphans, log };

  const postgres = await ensurePostgres(context);
  let nats;
  try {
    nats = await ensureNats(context);
  } catch (error) {
    // Do not leave an embedded Postgres running behind a failed start.
    await postgres.stop();
    releaseOwnership();
    throw error;
  }

  return {
    databaseUrl: postgres.url,
    natsUrl: nats.url,
    postgres: postgres.mode,
    nats: nats.mode,
    natsCreds: nats.auth?.credsFile,
    stop: once(async () => {
      await Promise.all([nats.stop(), postgres.stop()]);
      releaseOwnership();
    }),
  };
}
