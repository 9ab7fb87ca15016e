import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Who imports whom: each node (a file, or a project) and the nodes it imports. */
export type ImportGraph = ReadonlyMap<string, ReadonlySet<string>>;

/** The source folders of the workspace's projects, and how deep a project's folder is (`libs/<name>`). */
const PROJECT_ROOTS = ['libs', 'services', 'apps'] as const;

function tsFilesUnder(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : tsFilesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The `@keyledger/*` aliases of tsconfig.base.json, to the file each names. */
function aliases(root: string): Map<string, string> {
  const config = ts.readConfigFile(path.join(root, 'tsconfig.base.json'), (file) => ts.sys.readFile(file)).config as {
    compilerOptions: { paths: Record<string, [string]> };
  };
  return new Map(Object.entries(config.compilerOptions.paths).map(([alias, [target]]) => [alias, path.join(root, target)]));
}

/** The file a relative specifier names (ESM: `./x.js` is `./x.ts`, a folder its index.ts). */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((candidate) => existsSync(candidate));
}

/**
 * The file-level import graph of every .ts file under libs/, services/ and apps/: relative
 * imports and `@keyledger/*` aliases (to the library's index.ts), type-only imports and
 * re-exports included, paths relative to `root`.
 */
export function fileImportGraph(root: string): ImportGraph {
  const aliased = aliases(root);
  const graph = new Map<string, Set<string>>();
  for (const file of PROJECT_ROOTS.flatMap((folder) => tsFilesUnder(path.join(root, folder)))) {
    const imported = new Set<string>();
    for (const { fileName: specifier } of ts.preProcessFile(readFileSync(file, 'utf8'), true, false).importedFiles) {
      const target = specifier.startsWith('.') ? resolveRelative(file, specifier) : aliased.get(specifier);
      if (target) imported.add(path.relative(root, target));
    }
    graph.set(path.relative(root, file), imported);
  }
  return graph;
}

/** The project a workspace file belongs to (`libs/key-domain`), if any. */
export function projectOf(file: string): string | undefined {
  const [folder, name] = file.split(path.sep);
  return (PROJECT_ROOTS as readonly (string | undefined)[]).includes(folder) && name ? `${folder}/${name}` : undefined;
}

/** Whether a file is test code (a spec, or a test-support folder), as nx.json's `production` input leaves out. */
export function isTestFile(file: string): boolean {
  return file.endsWith('.spec.ts') || file.split(path.sep).includes('test-support');
}

/**
 * The project-level graph of a file-level one: a project imports another when one of its files
 * imports one of the other's. `files` chooses which files count (all, by default).
 */
export function projectImportGraph(files: ImportGraph, counts: (file: string) => boolean = () => true): ImportGraph {
  const graph = new Map<string, Set<string>>();
  for (const [file, imports] of files) {
    const from = projectOf(file);
    if (!from || !counts(file)) continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const target of imports) {
      const to = projectOf(target);
      if (to && to !== from) edges.add(to);
    }
  }
  return graph;
}

/**
 * Every import cycle of a graph, one per strongly connected component (Tarjan), each given as a
 * path that starts and ends at the same node, e.g. `[a, b, a]`.
 */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    // In the order the walk found them, so a cycle is named from where the walk entered it.
    if (component.length > 1 || graph.get(node)?.has(node)) components.push(component.reverse());
  };
  for (const node of graph.keys()) if (!index.has(node)) connect(node);
  return components.map((component) => cycleWithin(graph, new Set(component)));
}

/** One cycle through a strongly connected component, found by walking its edges from its first member. */
function cycleWithin(graph: ImportGraph, members: ReadonlySet<string>): string[] {
  const [start] = members;
  const walk = (node: string, trail: string[]): string[] | undefined => {
    for (const next of graph.get(node) ?? []) {
      if (next === start) return [...trail, next];
      if (members.has(next) && !trail.includes(next)) {
        const found = walk(next, [...trail, next]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(start!, [start!]) ?? [start!, start!];
}
