// `npm test`: installs what is missing, builds, type-checks, lints, then runs the unit,
// integration and e2e tests against real Postgres and NATS JetStream (reused when
// reachable, otherwise started here). `npm test -- <jest args>` skips the static checks
// and passes the arguments to Jest, e.g. `npm test -- --selectProjects unit`.
// KEYLEDGER_TEST_PROBE_LOCAL=false skips the servers on the default local ports, as on a
// fresh machine: the tests then run against an embedded Postgres and a local nats-server.
// KEYLEDGER_TEST_E2E_WORKERS (default 2): how many e2e test files run at once.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDependencies } from './ensure-deps.mjs';
import { runToExit } from './run-process.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const jestArgs = process.argv.slice(2);
const log = (message) => process.stdout.write(`[test] ${message}\n`);

async function run(title, command, args, env = process.env) {
  log(title);
  const code = await runToExit(command, args, { cwd: root, env });
  if (code !== 0) {
    log(`${title}: failed`);
    process.exit(code);
  }
}

await ensureDependencies(root);
const { build } = await import('./build.mjs');
log(`built ${await build()} files`);
const bin = (name) => join(root, 'node_modules', '.bin', name);
if (jestArgs.length === 0) {
  await run('type-check', process.execPath, [join(root, 'tools', 'typecheck.mjs')]);
  await run('project graph', bin('nx'), ['show', 'projects'], { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' });
  await run('lint', bin('eslint'), ['.']);
}

const { ensureNginx } = await import('./ensure-nginx.mjs');
const nginx = await ensureNginx(root, log);
const { ensureStack } = await import('./local-stack.mjs');
const stack = await ensureStack({ root, dataDir: join(root, '.keyledger', 'test'), probeDefaults: process.env.KEYLEDGER_TEST_PROBE_LOCAL !== 'false', log });
const jestEnv = { ...process.env, KEYLEDGER_TEST_DATABASE_URL: stack.databaseUrl, KEYLEDGER_TEST_NATS_URL: stack.natsUrl, KEYLEDGER_TEST_NGINX: nginx };
const jest = (args) => runToExit(process.execPath, [join(root, 'tools/run-jest.mjs'), ...args], { cwd: root, env: jestEnv });
let code;
if (jestArgs.length > 0) {
  log('jest');
  code = await jest(jestArgs);
} else {
  // Jest gives a 2-core machine one worker. The unit tests touch no server, so they take both
  // cores. Some integration tests hold a transaction that every reader of the shared server
  // waits behind, so those run one at a time. The e2e tests mostly wait (services starting,
  // events flowing), so two run side by side in about half the time.
  const e2eWorkers = process.env.KEYLEDGER_TEST_E2E_WORKERS ?? '2';
  const steps = [
    ['jest: unit tests, 2 at a time', ['--selectProjects', 'unit', '--maxWorkers=2']],
    ['jest: integration tests', ['--selectProjects', 'integration']],
    [`jest: e2e tests, ${e2eWorkers} at a time`, ['--selectProjects', 'e2e', `--maxWorkers=${e2eWorkers}`]],
  ];
  code = 0;
  // Every step runs even after one fails, so a run reports every failure at once.
  for (const [title, args] of steps) {
    log(title);
    const stepCode = await jest(args);
    if (code === 0) code = stepCode;
  }
}
await stack.stop();
process.exit(code);
