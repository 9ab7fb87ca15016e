import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Only the boundary rules, without type information: linting one file type-aware would
// build the whole workspace's program for it.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports' || ruleId === 'no-restricted-globals',
});

async function boundaryErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return result!.messages.map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

const DOMAIN_FILE = 'libs/key-domain/src/boundary-fixture.ts';
const CONTRACT_FILE = 'libs/contracts/src/boundary-fixture.ts';

describe('module boundaries', () => {
  it.each([
    'node:fs',
    'fs',
    'fs/promises',
    'crypto',
    '@nestjs/common',
    'typeorm',
    'pg',
    '@nats-io/transport-node',
    'pino',
    '@opentelemetry/api',
    'express',
    'zod',
  ])('refuses a domain file importing %s', async (source) => {
    expect(await boundaryErrors(DOMAIN_FILE, `import * as lib from '${source}';\n\nexport const used = lib;\n`)).toEqual([
      expect.stringMatching(/^no-restricted-imports: /),
    ]);
  });

  it.each(['node:fs', 'path', '@nestjs/common', 'typeorm', '@nats-io/jetstream'])('refuses a contract file importing %s', async (source) => {
    expect(await boundaryErrors(CONTRACT_FILE, `import * as lib from '${source}';\n\nexport const used = lib;\n`)).toEqual([
      expect.stringMatching(/^no-restricted-imports: /),
    ]);
  });

  it.each(['process.env.KEY', 'Buffer.from("x")', '__dirname', 'setImmediate'])('refuses a domain file using Node’s %s', async (expression) => {
    expect(await boundaryErrors(DOMAIN_FILE, `export const used = ${expression};\n`)).toEqual([expect.stringMatching(/^no-restricted-globals: /)]);
  });

  it('lets contracts use zod and name gRPC types, but not load gRPC', async () => {
    expect(
      await boundaryErrors(
        CONTRACT_FILE,
        `import { z } from 'zod';\nimport type { Metadata } from '@grpc/grpc-js';\n\nexport const schema = z.string();\nexport type M = Metadata;\n`,
      ),
    ).toEqual([]);
    expect(await boundaryErrors(CONTRACT_FILE, `import { Metadata } from '@grpc/grpc-js';\n\nexport const metadata = new Metadata();\n`)).toEqual([
      expect.stringMatching(/^no-restricted-imports: /),
    ]);
  });

  it('accepts a domain file of plain TypeScript using the contracts and web globals', async () => {
    const source = `import type { KeyStatus } from '@keyledger/contracts';\nimport { decideKey } from './key-decider.js';\n\nexport const status: KeyStatus = 'active';\nexport const host = new URL('https://example.com').hostname;\nexport const decide = decideKey;\n`;
    expect(await boundaryErrors(DOMAIN_FILE, source)).toEqual([]);
  });

  it('leaves adapters free to use Node and the frameworks', async () => {
    expect(
      await boundaryErrors(
        'libs/event-store/src/boundary-fixture.ts',
        `import { readFileSync } from 'node:fs';\nimport { DataSource } from 'typeorm';\n\nexport const used = [readFileSync, DataSource, process.env];\n`,
      ),
    ).toEqual([]);
  });
});

/** The compiler's errors for one file added to a library's tsconfig.lib.json program (what `npm run typecheck` checks). */
function compileErrors(library: string, source: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    `${root}libs/${library}/tsconfig.lib.json`,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const fixture = `${root}libs/${library}/src/typecheck-fixture.ts`;
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    fileName === fixture ? ts.createSourceFile(fileName, source, languageVersion) : getSourceFile(fileName, languageVersion, ...rest);
  const program = ts.createProgram({ rootNames: [fixture], options: config.options, host });
  return program.getSemanticDiagnostics(program.getSourceFile(fixture)).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}

describe('plain TypeScript libraries compile without Node', () => {
  it.each([
    ['key-domain', 'Buffer.from("x")', 'Buffer'],
    ['key-domain', 'process.env.KEY', 'process'],
    ['contracts', 'setImmediate(() => undefined)', 'setImmediate'],
  ])('refuses %s code using %s', (library, expression, name) => {
    expect(compileErrors(library, `export const used = ${expression};\n`)).toEqual([expect.stringContaining(`Cannot find name '${name}'`)]);
  });

  it('accepts plain code using the contracts', () => {
    expect(compileErrors('key-domain', `import { streamIdOf } from '@keyledger/contracts';\n\nexport const stream = streamIdOf('key', 'key_1');\n`)).toEqual(
      [],
    );
  });
});
