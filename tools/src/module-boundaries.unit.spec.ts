import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

// Only the boundary rules, without type information: linting one file type-aware would
// build the whole workspace's program for it.
const eslint = new ESLint({
  cwd: fileURLToPath(new URL('../..', import.meta.url)),
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
