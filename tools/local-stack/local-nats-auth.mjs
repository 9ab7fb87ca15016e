// The NATS identities of a local installation (npm start): an operator, the system account and
// Keyledger's account, made once under <dataDir>/nats-auth (files mode 0600) by the built
// libs/nats-auth, a user per service and one for the migration (which alone configures the
// streams) minted from the permission table, the CLI's own user
// (client `cli`, admin), and the nats-server configuration that trusts them.

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { shortPath } from './helpers.mjs';

/** Where the CLI looks for its own credentials (apps/cli/nats-credentials.ts). */
const CLI_CLIENT = 'cli';

/**
 * @param {{ root: string, dataDir: string, log: (message: string) => void }} context
 * @returns {Promise<{ dir: string, configPath: string, credsFile: (role: string) => string }>}
 */
export async function prepareLocalNatsAuth({ root, dataDir, log }) {
  const dist = (file) => import(pathToFileURL(path.join(root, 'dist', file)).href);
  const { NatsAuthStore, serviceCredsFile, AUTH_FILES } = await dist('libs/nats-auth/src/index.js');
  const { busTopology } = await dist('libs/event-bus/src/bus-topology.js');
  const dir = path.join(dataDir, 'nats-auth');
  const created = !existsSync(path.join(dir, AUTH_FILES.state));
  const store = await NatsAuthStore.open(dir, { create: true });
  if (created) log(`nats: created a NATS operator, accounts and a user per service and for the migration in ${shortPath(root, dir)} (keep it private: it signs every NATS user)`);
  // The names the services will use, so their users' permissions name the right subjects and streams.
  const names = busTopology(
    process.env.KEYLEDGER_SUBJECT_PREFIX || 'keyledger',
    process.env.KEYLEDGER_EVENT_STREAM || 'KEYLEDGER_EVENTS',
    process.env.KEYLEDGER_USAGE_STREAM || undefined,
  );
  await store.writeServerFiles(names);
  const cliCreds = path.join(dir, `${CLI_CLIENT}.creds`);
  if (!store.clients().some((client) => client.name === CLI_CLIENT)) {
    const creds = await store.addClient(CLI_CLIENT, ['admin'], names, new Date());
    await fs.writeFile(cliCreds, creds, { mode: 0o600 });
  }
  const configPath = path.join(dataDir, 'nats-server.conf');
  // Relative: nats-server resolves an include against the including file's folder.
  await fs.writeFile(configPath, `# written by npm start; listening and JetStream come from the command line\ninclude "nats-auth/${AUTH_FILES.serverConfig}"\n`, { mode: 0o600 });
  return { dir, configPath, credsFile: (role) => serviceCredsFile(dir, role) };
}
