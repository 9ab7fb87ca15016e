import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI_DIR = fileURLToPath(new URL('../dist/cli/', import.meta.url));

/** The bundle files a start of the CLI loads: its entry and every chunk it imports statically, transitively. */
function loadedAtStart(entry = 'main.js', seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const code = readFileSync(`${CLI_DIR}${entry}`, 'utf8');
  for (const [, chunk] of code.matchAll(/^(?:import|export)\s[^;]*?from\s*"\.\/([^"]+\.js)"/gm)) loadedAtStart(chunk, seen);
  for (const [, chunk] of code.matchAll(/^import\s*"\.\/([^"]+\.js)"/gm)) loadedAtStart(chunk, seen);
  return seen;
}

/**
 * Every `keyledger` call is a process start: what its bundle loads before parsing the command
 * line is paid by `--help` and `keys verify` alike. The store, tracing and logging libraries are
 * for the few commands that need them, loaded on use (esbuild marks each bundled package with a
 * `// node_modules/<package>/…` line, which is what is looked for here).
 */
describe('the keyledger command at start', () => {
  it('loads no database, tracing or logging library before it knows the command', () => {
    const files = [...loadedAtStart()];
    expect(files.length).toBeGreaterThan(0);
    const packages = new Set(files.flatMap((file) => [...readFileSync(`${CLI_DIR}${file}`, 'utf8').matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((match) => match[1]!)));
    expect([...packages].filter((name) => /^(typeorm|pg|pino|prom-client|@opentelemetry\/sdk-node|@nestjs\/.*)$/.test(name))).toEqual([]);
    // The bundle is what is checked: the NATS client is there, as every networked command needs it.
    expect(packages).toContain('@nats-io/nats-core');
  });
});
