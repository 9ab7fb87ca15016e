import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

/** Parallel test workers each draw ports from a slice of their own (JEST_WORKER_ID), at most this many. */
const WORKER_SLICES = 8;
const LOWEST_PORT = 10_000;

/**
 * Ports given out in this test file (jest loads this module afresh for each): the services a test
 * starts bind theirs only once they run, so a port free at the check may be one given a moment
 * before. Drawn at random from a slice of a few thousand, a dozen ports collided in a few per cent
 * of test files: a service then failed to start with EADDRINUSE.
 */
const givenOut = new Set<number>();

/**
 * A TCP port that was free a moment ago, and not given out before in this test file, for a
 * service under test. Drawn below the kernel's ephemeral range when there is room: a port the
 * kernel picked (listen on port 0) is one the next outgoing connection to Postgres or NATS may
 * take before the service binds it, and the service then fails with EADDRINUSE. Each test worker
 * draws from its own slice, so two workers do not pick the same port either.
 */
export async function freePort(): Promise<number> {
  const slice = workerSlice();
  if (slice)
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const port = slice.start + randomInt(slice.size);
      if (givenOut.has(port)) continue;
      // Held while it is checked: a draw running beside this one must not take it meanwhile.
      givenOut.add(port);
      if (await listens(port)) return port;
      givenOut.delete(port);
    }
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await kernelPickedPort();
    if (!givenOut.has(port)) return giveOut(port);
  }
  throw new Error('no free port found');
}

/**
 * The port before a run of `count` ports that were free a moment ago (`npm start` adds 1 …
 * count to its base), drawn from this worker's slice below the ephemeral range, as `freePort`.
 */
export async function freePortRun(count: number): Promise<number> {
  const slice = workerSlice() ?? { start: LOWEST_PORT, size: 20_000 };
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = slice.start + randomInt(slice.size - count);
    const ports = Array.from({ length: count }, (_, i) => base + i + 1);
    if (ports.some((port) => givenOut.has(port))) continue;
    ports.forEach(giveOut);
    if ((await Promise.all(ports.map(listens))).every(Boolean)) return base;
    ports.forEach((port) => givenOut.delete(port));
  }
  throw new Error(`no run of ${count} free ports found`);
}

/** This worker's ports below the ephemeral range, or undefined when the range leaves no room. */
function workerSlice(): { start: number; size: number } | undefined {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: the usual default.
  }
  const size = Math.floor((ephemeralLow - LOWEST_PORT) / WORKER_SLICES);
  if (!Number.isInteger(size) || size < 100) return undefined;
  const worker = (Number(process.env['JEST_WORKER_ID'] ?? 1) - 1) % WORKER_SLICES;
  return { start: LOWEST_PORT + worker * size, size };
}

function giveOut(port: number): number {
  givenOut.add(port);
  return port;
}

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function kernelPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}
