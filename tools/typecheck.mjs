// `npm run typecheck` (also run by `npm test`): type-checks the workspace with tsconfig.json,
// then each library tagged type:domain or type:contract with its own tsconfig.lib.json, whose
// `"types": []` leaves out Node's types: there `Buffer` or `process` does not compile. One
// process, so the programs share their parsed files.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { librariesTagged } from './project-tags.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const PLAIN_TAGS = ['type:domain', 'type:contract'];
const NODE_TYPES = `${join('node_modules', '@types', 'node')}/`;

const sourceFiles = new Map();
function cachingHost(options) {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const key = `${fileName}\0${JSON.stringify(languageVersion)}`;
    if (!sourceFiles.has(key)) sourceFiles.set(key, getSourceFile(fileName, languageVersion, ...rest));
    return sourceFiles.get(key);
  };
  return host;
}

/**
 * A declaration file can pull Node's types into a plain program on its own
 * (`/// <reference types="node" />`, as @grpc/proto-loader's does): then the compiler accepts
 * `Buffer`, so every name the program's own files use is checked not to be Node's.
 */
function nodeNamesUsed(program, files) {
  if (!program.getSourceFiles().some((file) => file.fileName.includes(NODE_TYPES))) return [];
  const checker = program.getTypeChecker();
  const found = [];
  for (const file of files) {
    const visit = (node) => {
      if (ts.isIdentifier(node)) {
        const declarations = checker.getSymbolAtLocation(node)?.declarations ?? [];
        if (declarations.length > 0 && declarations.every((declaration) => declaration.getSourceFile().fileName.includes(NODE_TYPES))) {
          const { line, character } = file.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${relative(root, file.fileName)}(${line + 1},${character + 1}): uses Node's ${node.text}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found;
}

const formatHost = { getCanonicalFileName: (name) => name, getCurrentDirectory: () => root, getNewLine: () => '\n' };
const format = process.stdout.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;

/**
 * A program's errors. A library's program checks only the library's own files: those it
 * imports from other libraries are checked by their own program.
 */
function check(configPath, library) {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, configPath), { noEmit: true }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) return [`${configPath}: cannot be read`];
  const problems = [];
  if (library && config.options.types?.length !== 0) problems.push(`${configPath}: a ${PLAIN_TAGS.join(' or ')} library compiles with "types": []`);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host: cachingHost(config.options) });
  const own = library ? program.getSourceFiles().filter((file) => relative(root, file.fileName).startsWith(`${library}/`)) : undefined;
  const diagnostics = [
    ...config.errors,
    ...(own
      ? [
          ...program.getOptionsDiagnostics(),
          ...program.getGlobalDiagnostics(),
          ...own.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
        ]
      : ts.getPreEmitDiagnostics(program)),
  ];
  if (diagnostics.length > 0) problems.push(format(diagnostics, formatHost).trimEnd());
  if (own) problems.push(...nodeNamesUsed(program, own));
  return problems;
}

const problems = [];
problems.push(...check('tsconfig.json'));
for (const library of librariesTagged(...PLAIN_TAGS)) {
  const configPath = join(library, 'tsconfig.lib.json');
  if (existsSync(join(root, configPath))) problems.push(...check(configPath, library));
  else problems.push(`${library}: missing tsconfig.lib.json (see libs/key-domain/tsconfig.lib.json)`);
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
