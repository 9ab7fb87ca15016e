import { choosePort, findFreePort, isPortFree, portFromEnv } from './ports.mjs';

/** Probes that answer without touching the network and record what was asked. */
function fakeProbes(freePorts: number[], osPort = 41_234) {
  const asked: number[] = [];
  return {
    asked,
    probes: {
      isPortFree: (port: number) => {
        asked.push(port);
        return Promise.resolve(freePorts.includes(port));
      },
      findFreePort: () => Promise.resolve(osPort),
    },
  };
}

describe('portFromEnv', () => {
  it('reads a port number from the named variable', () => {
    expect(portFromEnv('KEYLEDGER_LOCAL_NATS_PORT', { KEYLEDGER_LOCAL_NATS_PORT: '4333' })).toBe(4333);
  });

  it('treats an unset or empty variable as no choice', () => {
    expect(portFromEnv('KEYLEDGER_LOCAL_NATS_PORT', {})).toBeNull();
    expect(portFromEnv('KEYLEDGER_LOCAL_NATS_PORT', { KEYLEDGER_LOCAL_NATS_PORT: '' })).toBeNull();
  });

  it.each(['0', '65536', '42.5', 'nats', '-1'])('rejects %p, naming the variable', (raw) => {
    expect(() => portFromEnv('KEYLEDGER_EMBEDDED_PG_PORT', { KEYLEDGER_EMBEDDED_PG_PORT: raw })).toThrow(
      `KEYLEDGER_EMBEDDED_PG_PORT must be a TCP port number (1-65535), got "${raw}"`,
    );
  });
});

describe('choosePort', () => {
  it('takes the port pinned in the environment without probing', async () => {
    const { asked, probes } = fakeProbes([4222]);
    const env = { KEYLEDGER_LOCAL_NATS_PORT: '4999' };
    await expect(choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: 4222, env }, probes)).resolves.toBe(4999);
    expect(asked).toEqual([]);
  });

  it('takes the preferred port when nothing listens on it', async () => {
    const { probes } = fakeProbes([4222]);
    await expect(choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: 4222, env: {} }, probes)).resolves.toBe(4222);
  });

  it('falls back to a drawn free port (findFreePort) when the preferred one is taken', async () => {
    const { asked, probes } = fakeProbes([], 41_234);
    await expect(choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: 4222, env: {} }, probes)).resolves.toBe(41_234);
    expect(asked).toEqual([4222]);
  });

  it('takes the first free one of several preferred ports, in order', async () => {
    const { asked, probes } = fakeProbes([4222, 38_111]);
    await expect(choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: [38_111, 4222], env: {} }, probes)).resolves.toBe(38_111);
    expect(asked).toEqual([38_111]);
    const taken = fakeProbes([4222]);
    await expect(choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: [38_111, 4222], env: {} }, taken.probes)).resolves.toBe(4222);
    expect(taken.asked).toEqual([38_111, 4222]);
  });

  it('draws a free port directly when no port is preferred', async () => {
    const { asked, probes } = fakeProbes([4222, 5432], 41_234);
    await expect(choosePort({ envName: 'KEYLEDGER_EMBEDDED_PG_PORT', env: {} }, probes)).resolves.toBe(41_234);
    expect(asked).toEqual([]);
  });
});

describe('findFreePort', () => {
  it("draws a free port below the kernel's ephemeral range, where no outgoing connection is given one", async () => {
    const drawn: number[] = [];
    const taken = new Set([10_005]);
    const port = await findFreePort({
      ephemeralLow: () => 32_768,
      draw: (size: number) => {
        expect(size).toBe(22_768);
        return [5, 7][drawn.length] ?? 9;
      },
      isPortFree: (candidate: number) => {
        drawn.push(candidate);
        return Promise.resolve(!taken.has(candidate));
      },
    });
    expect(drawn).toEqual([10_005, 10_007]);
    expect(port).toBe(10_007);
  });

  it('gives a port a server can listen on, below the range on this machine', async () => {
    const port = await findFreePort();
    expect(port).toBeGreaterThanOrEqual(10_000);
    expect(await isPortFree(port)).toBe(true);
  });
});
