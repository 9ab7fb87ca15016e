// TCP port choice for the servers started here: a port named in the environment wins, then the
// first preferred port nothing listens on, then a free port below the kernel's ephemeral range.
// Everything listens on 127.0.0.1 only.

import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Ports drawn here start at this one: clear of the well-known and common development ports. */
const LOWEST_DRAWN_PORT = 10_000;

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
 * `preferred` that is free, else a free port below the kernel's ephemeral range (findFreePort).
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
 * A port nothing listens on, drawn below the kernel's ephemeral range: a port the kernel picks
 * (listening on port 0) is one it may hand the next outgoing connection (to the npm registry, to
 * NATS) before the server started here binds it, and that server would then fail to start. The
 * kernel's pick only when the range leaves no room below it, or 50 draws found nothing free.
 * @param {{ isPortFree: (port: number) => Promise<boolean>, ephemeralLow: () => number, draw: (size: number) => number }} [probes]
 *   replaced in unit tests
 * @returns {Promise<number>}
 */
export async function findFreePort(probes = { isPortFree, ephemeralLow, draw: randomInt }) {
  const room = probes.ephemeralLow() - LOWEST_DRAWN_PORT;
  if (room >= 100)
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const port = LOWEST_DRAWN_PORT + probes.draw(room);
      if (await probes.isPortFree(port)) return port;
    }
  return kernelPickedPort();
}

/**
 * The lowest port of the kernel's ephemeral range (Linux), or 32768, the usual default, elsewhere.
 * @returns {number}
 */
function ephemeralLow() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * Asks the OS for an unused port by listening on port 0.
 * @returns {Promise<number>}
 */
function kernelPickedPort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
