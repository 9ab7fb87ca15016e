import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort, freePortRun } from './free-port.js';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('freePort', () => {
  const worker = process.env['JEST_WORKER_ID'];
  afterEach(() => {
    process.env['JEST_WORKER_ID'] = worker;
  });

  it("gives a port below the kernel's ephemeral range, in this worker's slice, that a server can listen on", async () => {
    process.env['JEST_WORKER_ID'] = '3';
    const slice = Math.floor((ephemeralLow - 10_000) / 8);
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(10_000 + 2 * slice);
    expect(port).toBeLessThan(10_000 + 3 * slice);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });

  it("gives a run of free ports for npm start below the kernel's ephemeral range, in this worker's slice", async () => {
    process.env['JEST_WORKER_ID'] = '2';
    const slice = Math.floor((ephemeralLow - 10_000) / 8);
    const base = await freePortRun(6);
    expect(base + 1).toBeGreaterThanOrEqual(10_000 + slice);
    expect(base + 6).toBeLessThan(10_000 + 2 * slice);
  });

  it('never gives the same port twice in a test file, though none of them is bound yet', async () => {
    process.env['JEST_WORKER_ID'] = '4';
    // 300 draws from a slice of a few thousand: dozens would repeat if each were only checked free.
    const ports = [];
    for (let i = 0; i < 300; i += 1) ports.push(await freePort());
    const base = await freePortRun(6);
    ports.push(...Array.from({ length: 6 }, (_, i) => base + i + 1));
    expect(new Set(ports).size).toBe(ports.length);
  });
});
