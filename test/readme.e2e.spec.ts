import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isRunning, LocalInstallation } from '@keyledger/testing';
import type { NpmStartRun } from '@keyledger/testing';

const README = fileURLToPath(new URL('../README.md', import.meta.url));

/** The shell blocks of the README's "Run it" section, in order, as written. */
function runItBlocks(): string[][] {
  const text = readFileSync(README, 'utf8');
  const section = /^## Run it\n([\s\S]*?)^## /m.exec(text)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Run it" section');
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((block) => (block[1] ?? '').split('\n').filter((line) => line.trim() !== ''));
}

/** What the README leaves for the reader to fill in, from what the earlier commands printed. */
interface Placeholders {
  rootKey: string;
  newKey?: string;
  keyId?: string;
}

function fillIn(line: string, values: Placeholders): string {
  const value = (name: keyof Placeholders): string => {
    const found = values[name];
    if (found === undefined) throw new Error(`the README uses <${name}> before a command printed it: ${line}`);
    return found;
  };
  return line
    .replace('<the root key>', () => value('rootKey'))
    .replace('<the new key>', () => value('newKey'))
    .replace('<the key id>', () => value('keyId'));
}

/**
 * The README's quick tour, verbatim, against `npm start`'s own stack, twice, across a restart:
 * each command must succeed with nothing exported but what the README exports, and in
 * particular no NATS_URL, although NATS is not on 4222 (the CLI finds .keyledger/nats-url).
 */
describe("the README's commands", () => {
  let installation: LocalInstallation;
  let run: NpmStartRun | undefined;
  let rootKey: string;
  const blocks = runItBlocks();

  beforeAll(async () => {
    installation = await LocalInstallation.create('readme');
  });

  afterAll(async () => {
    await run?.interrupt('SIGTERM');
    for (const pid of installation.recordedPids()) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    await installation.remove();
  });

  it('start with npm start and show the tour after it', () => {
    expect(blocks[0]?.[0]).toMatch(/^npm start\b/);
    expect(blocks[1]?.join('\n')).toContain('keyledger');
    // The fast command (bin/keyledger on PATH), not npx, which resolves the package at every call.
    expect(blocks[1]?.filter((line) => /^npx keyledger\b/.test(line))).toEqual([]);
  });

  /**
   * Runs the tour block line by line in the installation's folder, as a user types it. The
   * second time, a command that made a named thing the first time is refused because it exists,
   * which is its right answer; any other failure fails the test.
   */
  async function tour(again: boolean): Promise<void> {
    const exported: Record<string, string> = {};
    const values: Placeholders = { rootKey };
    for (const line of blocks[1] ?? []) {
      const command = fillIn(line, values);
      const assignment = /^export (\w+)=(\S+)(\s+#.*)?$/.exec(command);
      if (assignment?.[1] !== undefined && assignment[2] !== undefined) {
        expect(assignment[1]).not.toBe('NATS_URL');
        // Expanded by the shell, in the checkout where the README is followed ($PWD/bin).
        const expanded = await installation.shell('bash', ['-c', `printf %s ${assignment[2]}`], exported, LocalInstallation.checkout);
        exported[assignment[1]] = expanded.stdout;
        continue;
      }
      const result = await installation.shell('bash', ['-c', command], exported);
      if (again && result.code === 4 && /^error: a client named \w+ exists already\n$/.test(result.stderr)) continue;
      if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}:\n${result.stdout}${result.stderr}`);
      // The key issued by the tour, for the commands that name it.
      values.newKey ??= /\bkl_live_[A-Za-z0-9]{20,}/.exec(result.stdout)?.[0];
      values.keyId ??= /\bkey_[0-9a-z]{26}\b/.exec(result.stdout)?.[0];
    }
  }

  it('run in order against the stack npm start runs, without NATS_URL', async () => {
    run = installation.start();
    await run.ready();
    rootKey = LocalInstallation.rootKey(run.output());
    expect(run.output()).not.toContain('export NATS_URL');
    await tour(false);
  });

  it('run again after a restart, which keeps the NATS address', async () => {
    if (!run) throw new Error('the first run did not start npm start');
    const address = readFileSync(`${installation.home}/.keyledger/nats-url`, 'utf8');
    expect(address).not.toBe('nats://127.0.0.1:4222\n');
    expect([0, 'SIGINT']).toContain(await run.interrupt('SIGINT'));
    run = installation.start();
    await run.ready();
    expect(readFileSync(`${installation.home}/.keyledger/nats-url`, 'utf8')).toBe(address);
    await tour(true);
  });
});
