// TCP port choice for the servers started here: a port named in the environment wins, then the
// first preferred port nothing listens on, then any port the OS reports as unused.
// Everything listens on 127.0.0.1 only.

import net from 'node:net';

/**
 * The port in environment variable `name`, or null when it is unset or empty.
 * @param {string} name e.g. KEYLEDGER_LOCAL_NATS_PORT
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {number | null}
 * @throws {Error} naming the variable when its value is not a TCP port number
 */
export function portFromEnv(name, env = process.env) {
  const raw = env[name];
  if (!raw) return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`${name} must be a TCP port number (1-65535), got "${raw}"`);
  }
  return port;
}

/**
 * Picks the port for a server started here: `envName`'s value when set, else the first of
 * `preferred` that is free, else a free port from the OS.
 * @param {object} choice
 * @param {string} choice.envName variable that pins the port
 * @param {number | number[]} [choice.preferred] ports to take when free, in order (e.g. the previous start's,
 *   then 4222, where clients look by default)
 * @param {NodeJS.ProcessEnv} [choice.env]
 * @param {{ isPortFree: (port: number) => Promise<boolean>, findFreePort: () => Promise<number> }} [probes]
 *   replaced in unit tests
 * @returns {Promise<number>}
 */
export async function choosePort({ envName, preferred, env = process.env }, probes = { isPortFree, findFreePort }) {
  const pinned = portFromEnv(envName, env);
  if (pinned !== null) return pinned;
  for (const port of [preferred ?? []].flat()) if (await probes.isPortFree(port)) return port;
  return probes.findFreePort();
}

/**
 * Whether nothing listens on 127.0.0.1:port (it can be bound now).
 * @param {number} port
 * @returns {Promise<boolean>}
 */
export function isPortFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Asks the OS for an unused port by listening on port 0.
 * @returns {Promise<number>}
 */
export function findFreePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
