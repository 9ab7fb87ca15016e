import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileImportGraph, importCycles, isTestFile, projectImportGraph } from './import-graph.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const graphOf = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));

describe('import cycles', () => {
  it('names the files of a cycle, and finds none in a graph without one', () => {
    const cyclic = graphOf({
      'key-commands.ts': ['admin-authenticator.ts', 'key-view.ts'],
      'admin-authenticator.ts': ['command-metadata.ts'],
      'command-metadata.ts': ['key-commands.ts'],
      'key-view.ts': [],
    });
    expect(importCycles(cyclic)).toEqual([['key-commands.ts', 'admin-authenticator.ts', 'command-metadata.ts', 'key-commands.ts']]);
    expect(importCycles(graphOf({ 'a.ts': ['b.ts', 'c.ts'], 'b.ts': ['c.ts'], 'c.ts': [] }))).toEqual([]);
  });

  it('finds a file importing itself, and cycles between projects', () => {
    expect(importCycles(graphOf({ 'a.ts': ['a.ts'] }))).toEqual([['a.ts', 'a.ts']]);
    const projects = projectImportGraph(
      graphOf({
        'libs/a/src/x.ts': ['libs/b/src/index.ts'],
        'libs/b/src/index.ts': ['libs/b/src/y.ts'],
        'libs/b/src/y.ts': ['libs/a/src/index.ts'],
        'libs/a/src/index.ts': [],
      }),
    );
    expect(importCycles(projects).map((cycle) => cycle.length)).toEqual([3]);
  });

  it('finds no cycle between the files of libs/, services/ and apps/', () => {
    const files = fileImportGraph(ROOT);
    expect(files.size).toBeGreaterThan(100);
    expect(importCycles(files).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  // Without their tests: integration specs use libs/testing, which builds every schema from the
  // migrations of the libraries under test, so test code points back at what it tests by design.
  it('finds no cycle between the projects', () => {
    const projects = projectImportGraph(fileImportGraph(ROOT), (file) => !isTestFile(file));
    expect(projects.size).toBeGreaterThan(20);
    expect(importCycles(projects).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });
});
