// Compiles every TypeScript source (not the specs) to ESM in dist/ with SWC, rewriting the
// @keyledger/* path aliases of tsconfig.base.json to relative imports Node can load.
// Type checking is a separate step (`npm run typecheck`); this one is fast on purpose.
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['libs', 'services', 'apps', 'bench', 'test/support', 'tools/src'];

async function* typescriptFiles(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return; // an optional source folder that does not exist yet
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* typescriptFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

export async function build() {
  const { transformFile } = await import('@swc/core');
  const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));
  const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
  const options = {
    ...swcrc,
    swcrc: false,
    jsc: { ...swcrc.jsc, baseUrl: root, paths: tsconfig.compilerOptions.paths },
  };
  await rm(join(root, 'dist'), { recursive: true, force: true });
  let count = 0;
  for (const dir of SOURCE_DIRS) {
    for await (const file of typescriptFiles(join(root, dir))) {
      const out = join(root, 'dist', relative(root, file)).replace(/\.ts$/, '.js');
      const { code, map } = await transformFile(file, { ...options, filename: file, sourceFileName: relative(dirname(out), file), outputPath: out });
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${code}\n//# sourceMappingURL=${out.split('/').pop()}.map\n`);
      if (map) await writeFile(`${out}.map`, map);
      count += 1;
    }
  }
  await bundleCli();
  return count;
}

/**
 * The `keyledger` command as one bundle (dist/cli/): a call is a process start, and loading some
 * two hundred modules one by one cost more than everything else it does. What only some commands
 * need (tracing, the bus library) stays in chunks loaded on use.
 */
async function bundleCli() {
  const { build: bundle } = await import('esbuild');
  await bundle({
    // The threads of `audit verify` load their script beside the code that starts them.
    entryPoints: { main: join(root, 'dist/apps/cli/main.js'), 'leaf-range.worker': join(root, 'dist/libs/transparency-log/src/leaf-range.worker.js') },
    outdir: join(root, 'dist/cli'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    // Errors are told apart by name (NATS's TimeoutError, NoRespondersError …): keep them.
    keepNames: true,
    logLevel: 'warning',
    // Bundled CommonJS packages call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __keyledgerRequire } from 'node:module'; const require = __keyledgerRequire(import.meta.url);" },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = await build();
  console.log(`built ${count} files into dist/`);
}
