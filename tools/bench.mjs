// `npm run bench [name…]`: builds, finds or starts Postgres and NATS, then runs each
// benchmark in bench/ (or the named ones) one after another and prints its figures.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDependencies } from './ensure-deps.mjs';
import { runToExit } from './run-process.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
await ensureDependencies(root);
const { build } = await import('./build.mjs');
await build();
const { ensureStack } = await import('./local-stack.mjs');
const stack = await ensureStack({ root, dataDir: join(root, '.keyledger', 'test'), probeDefaults: true, log: (m) => process.stderr.write(`[bench] ${m}\n`) });
const available = readdirSync(join(root, 'bench')).filter((file) => file.endsWith('.ts') && file !== 'bench-support.ts').map((file) => file.replace(/\.ts$/, ''));
const selected = process.argv.length > 2 ? process.argv.slice(2) : available;
let failed = false;
for (const name of selected) {
  if (!available.includes(name)) throw new Error(`no benchmark ${name}; available: ${available.join(', ')}`);
  const code = await runToExit(process.execPath, ['--expose-gc', join(root, 'dist', 'bench', `${name}.js`)], {
    env: { ...process.env, KEYLEDGER_TEST_DATABASE_URL: stack.databaseUrl, KEYLEDGER_TEST_NATS_URL: stack.natsUrl },
  });
  failed ||= code !== 0;
  console.log('');
}
await stack.stop();
process.exit(failed ? 1 : 0);
