import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from './test-context.js';

// The repository root, whether this runs from source (tests) or from dist/ (benchmarks).
const ROOT = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/dist\/$/, '/');

/** Path of a built service entry point; the test runner builds dist/ before the tests. */
export function builtService(service: string): string {
  const path = `${ROOT}dist/services/${service}/main.js`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` (npm test does it) before this test`);
  return path;
}

/** V8 settings a service runs with in every deployment (deploy/kustomize, tools/start.mjs). */
const SERVICE_NODE_FLAGS: Record<string, readonly string[]> = { verifier: ['--max-semi-space-size=64'] };

/**
 * Starts a built service as a real OS process against the test context's schema and streams.
 * Ports default to 0 (any free port), so replicas and parallel test files never collide.
 * `nodeFlags` are added to the service's own (e.g. `--cpu-prof`, which NODE_OPTIONS refuses).
 */
export function spawnService(ctx: TestContext, service: string, env: Record<string, string> = {}, nodeFlags: readonly string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...(SERVICE_NODE_FLAGS[service] ?? []), ...nodeFlags, builtService(service)], {
    env: { ...process.env, ...ctx.serviceEnv, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: process.env['TEST_SERVICE_LOG_LEVEL'] ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: Buffer[] = [];
  outputs.set(child, output);
  child.stderr?.on('data', (chunk: Buffer) => {
    output.push(chunk);
    if (process.env['TEST_LOG_LEVEL']) process.stderr.write(chunk);
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output.push(chunk);
    if (process.env['TEST_LOG_LEVEL']) process.stdout.write(chunk);
  });
  // A service that crashes mid-test otherwise shows only as a symptom elsewhere ("no responders",
  // a timeout); its last words say why. Exit 78 is a refused configuration, which tests provoke.
  child.once('exit', (code) => {
    if (code !== null && code !== 0 && code !== EX_CONFIG)
      process.stderr.write(`\n${service} (pid ${child.pid}) exited with code ${code}; its last output:\n${serviceOutput(child).slice(-4000)}\n`);
  });
  return child;
}

const EX_CONFIG = 78;

const outputs = new WeakMap<ChildProcess, Buffer[]>();

/** Everything a spawned service wrote to stdout and stderr so far (its logs). */
export function serviceOutput(child: ChildProcess): string {
  return Buffer.concat(outputs.get(child) ?? []).toString('utf8');
}

export function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Stops processes as a test's clean-up must before its schema is dropped (which would wait on
 * their sessions): SIGTERM to each, then SIGKILL to any still running after `graceMs`.
 */
export async function stopProcesses(children: readonly ChildProcess[], graceMs = 10_000): Promise<void> {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map(async (child) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await waitForExit(child);
      clearTimeout(timer);
    }),
  );
}
