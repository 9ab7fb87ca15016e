import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from './test-context.js';

/** The `keyledger` command as `npx keyledger` runs it (it loads the built CLI from dist/). */
const CLI = fileURLToPath(new URL('../../../bin/keyledger.mjs', import.meta.url)).replace(/\/dist\/bin\//, '/bin/');

/** How a run of the CLI ended. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** `KEYLEDGER_ADMIN_KEY`; none when undefined. */
  readonly adminKey?: string | undefined;
  /** Written to the command's standard input, which is then closed. */
  readonly input?: string | undefined;
  /** More environment, e.g. OTEL_* variables; it wins over the settings above. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs `keyledger ARGS…` as a user would, against the test context's NATS and subject prefix.
 * A failing command resolves with its exit code rather than rejecting: tests assert on it.
 */
export function runCli(ctx: TestContext, args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: ctx.natsUrl, KEYLEDGER_SUBJECT_PREFIX: ctx.topology.subjectPrefix };
  delete env['KEYLEDGER_ADMIN_KEY'];
  if (options.adminKey !== undefined) env['KEYLEDGER_ADMIN_KEY'] = options.adminKey;
  Object.assign(env, options.env);
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** A long-running `keyledger ARGS…` (a server such as `keyledger witness serve`), its output piped; the caller stops it. */
export function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
