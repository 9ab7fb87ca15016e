import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freePortRun } from './free-port.js';

/** The checkout: npm start runs its package.json's script, the CLI its bin/. */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/dist\/?$/, '');
const READY = 'all services ready; Ctrl-C stops them';
const START_TIMEOUT_MS = 90_000;

/** How a run of a command ended. */
export interface CommandRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One `npm start` of a local installation, in its own process group as a terminal's foreground job. */
export interface NpmStartRun {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves once every service is ready; rejects when npm start exits first or takes too long. */
  ready(): Promise<void>;
  /** Sends `signal` to the whole process group, as a terminal's Ctrl-C does, and waits for npm to exit. */
  interrupt(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
  /** Resolves with npm's exit code, or the signal it ended with (npm ends with the Ctrl-C it passed on), once it has exited. */
  exited(): Promise<number | NodeJS.Signals>;
}

/**
 * A local installation of its own for a test of `npm start`: KEYLEDGER_HOME at
 * `<home>/.keyledger` (inside the checkout, so `npx keyledger` run in `home` finds the checkout's
 * bin, and the CLI finds the installation there), free HTTP ports, gRPC on free ports, and the
 * NATS address recorded at a free port, so it never takes the default ports of servers already
 * running on the machine. Nothing of the caller's environment that names a server or a secret
 * is passed on.
 */
export class LocalInstallation {
  private constructor(
    readonly home: string,
    readonly httpPortBase: number,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The checkout the installation runs from, where the README's commands are typed. */
  static readonly checkout = ROOT;

  static async create(name: string): Promise<LocalInstallation> {
    const home = join(ROOT, '.keyledger', 'e2e', `${name}-${process.pid}`);
    await rm(home, { recursive: true, force: true });
    await mkdir(join(home, '.keyledger'), { recursive: true });
    await writeFile(join(home, '.keyledger', 'nats-url'), `nats://127.0.0.1:${await freePort()}\n`);
    const env: NodeJS.ProcessEnv = {};
    for (const [variable, value] of Object.entries(process.env))
      if (!/^(KEYLEDGER_|NATS_|DATABASE_URL$|OTEL_|HTTP_|GRPC_)/.test(variable)) env[variable] = value;
    const httpPortBase = await freePortRun(6);
    Object.assign(env, { KEYLEDGER_HOME: join(home, '.keyledger'), KEYLEDGER_HTTP_PORT_BASE: String(httpPortBase), GRPC_PORT: '0' });
    return new LocalInstallation(home, httpPortBase, env);
  }

  /** The HTTP port of a service (issuer 1 … relay 6 above the base, as npm start assigns them). */
  port(service: 'issuer' | 'verifier' | 'rotator' | 'auditor' | 'anomaly-detector' | 'relay'): number {
    return this.httpPortBase + ['issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'relay'].indexOf(service) + 1;
  }

  /** `npm start -- --no-build` (the tests run the dist/ they built; a build would remove it under the other tests). */
  start(): NpmStartRun {
    let output = '';
    const child = spawn('npm', ['start', '--', '--no-build'], { cwd: ROOT, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exit = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 1)));
    return {
      child,
      output: () => output,
      ready: async () => {
        const deadline = Date.now() + START_TIMEOUT_MS;
        while (!output.includes(READY)) {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited (${child.exitCode ?? child.signalCode}):\n${output}`);
          if (Date.now() > deadline) throw new Error(`npm start was not ready after ${START_TIMEOUT_MS / 1000} s:\n${output}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
      interrupt: async (signal = 'SIGINT') => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
        return exit;
      },
      exited: () => exit,
    };
  }

  /** The root admin key the issuer printed on the installation's first start. */
  static rootKey(output: string): string {
    const match = /Root admin key \(shown once, store it now\):\n\[issuer\]\s+(\S+)/.exec(output);
    if (!match?.[1]) throw new Error(`no root admin key in the output of npm start:\n${output}`);
    return match[1];
  }

  /** `keyledger ARGS…` run in the installation's folder, as `npx keyledger` runs it, without NATS_URL. */
  cli(args: readonly string[], adminKey?: string): Promise<CommandRun> {
    return this.shell(process.execPath, [join(ROOT, 'bin', 'keyledger.mjs'), ...args], adminKey === undefined ? {} : { KEYLEDGER_ADMIN_KEY: adminKey });
  }

  /** A command run in the installation's folder (or `cwd`) with its environment and `extra`. */
  shell(command: string, args: readonly string[], extra: Readonly<Record<string, string>> = {}, cwd = this.home): Promise<CommandRun> {
    return new Promise((resolve) => {
      execFile(command, args, { cwd, env: { ...this.env, ...extra } }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** The pids of every server and service npm start recorded for this installation (to check none is left running). */
  recordedPids(): number[] {
    const dir = join(this.home, '.keyledger');
    const read = (file: string): string | undefined => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : undefined);
    const pids: number[] = [];
    const postmaster = read(join('postgres', 'postmaster.pid'));
    if (postmaster) pids.push(Number(postmaster.split('\n')[0]));
    const nats = read('nats-server.json');
    if (nats) pids.push((JSON.parse(nats) as { pid: number }).pid);
    const services = read('services.json');
    if (services) pids.push(...(JSON.parse(services) as { services: { pid: number }[] }).services.map(({ pid }) => pid));
    const owner = read('stack-owner.json');
    if (owner) pids.push((JSON.parse(owner) as { pid: number }).pid);
    return pids;
  }

  async remove(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

/** Whether a process with this pid is running. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
