// The container's entrypoint: runs one Keyledger program, dist/{services,apps}/<name>/main.js, named
// by the first argument (`docker run keyledger verifier`, Kubernetes `args: [verifier]`) or,
// when there is none, by KEYLEDGER_SERVICE. The remaining arguments go to the program, so
// `docker run keyledger cli status` runs the CLI. The program runs in this process (no shell,
// no child): it receives SIGTERM itself and exits 0 after its shutdown hooks.
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Services (and the migration job) in dist/services, other programs (the CLI) in dist/apps.
const folders = ['../dist/services/', '../dist/apps/'].map((folder) => new URL(folder, import.meta.url));
const [first, ...rest] = process.argv.slice(2);
const name = first ?? process.env.KEYLEDGER_SERVICE;

/** The programs this image can run: every dist/{services,apps}/<name>/main.js. */
function available() {
  return folders
    .flatMap((folder) => {
      try {
        return readdirSync(folder, { withFileTypes: true })
          .filter((entry) => entry.isDirectory() && existsSync(new URL(`${entry.name}/main.js`, folder)))
          .map((entry) => entry.name);
      } catch (error) {
        if (error.code === 'ENOENT') return []; // not built
        throw error;
      }
    })
    .sort();
}

const program = name && /^[a-z][a-z0-9-]*$/.test(name) ? folders.map((folder) => new URL(`${name}/main.js`, folder)).find((url) => existsSync(url)) : undefined;
if (!program) {
  const known = available();
  process.stderr.write(
    `keyledger: ${name ? `no program named ${JSON.stringify(name)}` : 'name a program to run'}; ` +
      `this image runs ${known.length > 0 ? known.join(', ') : 'nothing: dist/ is missing (run the build)'}\n` +
      'usage: <program> [arguments], or set KEYLEDGER_SERVICE=<program>\n',
  );
  process.exit(64); // EX_USAGE
}

const main = fileURLToPath(program);
// The program sees itself as the script being run, with only its own arguments.
process.argv = [process.argv[0], main, ...rest];
process.title = `keyledger-${name}`;
await import(main);
