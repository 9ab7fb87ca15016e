import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNewKey, keyHint } from '@keyledger/key-domain';
import { scanForKeys } from './leak-scanner.js';

const key = (): string => formatNewKey('kl', 'live', (n) => randomBytes(n));

describe('scanning files and git history for keys', () => {
  let root: string;
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', root, '-c', 'user.email=test@example.com', '-c', 'user.name=test', ...args])
      .toString()
      .trim();

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'keyledger-scan-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds keys in files with their line, and skips binaries, node_modules and large files', async () => {
    const [inConfig, inSource, inBinary, inModules, inLarge] = [key(), key(), key(), key(), key()];
    writeFileSync(join(root, 'config.env'), `# settings\nAPI_KEY=${inConfig}\n`);
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'client.ts'), `const a = 1;\n\nconst key = '${inSource}';\n`);
    writeFileSync(join(root, 'blob.bin'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(inBinary)]));
    mkdirSync(join(root, 'node_modules'));
    writeFileSync(join(root, 'node_modules', 'x.js'), inModules);
    writeFileSync(join(root, 'large.txt'), `${inLarge}\n${'x'.repeat(2000)}`);
    const findings = await scanForKeys(root, { history: true, maxFileBytes: 1000 });
    expect(findings.map(({ file, line, hint }) => ({ file, line, hint })).sort((a, b) => a.file.localeCompare(b.file))).toEqual([
      { file: 'config.env', line: 2, hint: keyHint(inConfig) },
      { file: join('src', 'client.ts'), line: 3, hint: keyHint(inSource) },
    ]);
  });

  it('finds a key committed and deleted since, with the commit that added it', async () => {
    const leaked = key();
    git('init', '-q');
    writeFileSync(join(root, 'README.md'), 'hello\n');
    git('add', '.');
    git('commit', '-qm', 'first');
    writeFileSync(join(root, 'deploy.yaml'), `env:\n  - name: KEY\n    value: ${leaked}\n`);
    git('add', '.');
    git('commit', '-qm', 'oops');
    const leakingCommit = git('rev-parse', 'HEAD');
    rmSync(join(root, 'deploy.yaml'));
    git('commit', '-qam', 'remove the key');
    expect(await scanForKeys(root, { history: false })).toEqual([]);
    const findings = await scanForKeys(root, { history: true });
    expect(findings).toEqual([{ file: 'deploy.yaml', line: 3, column: 12, hint: keyHint(leaked), key: leaked, commit: leakingCommit }]);
  });

  it('reads a directory that is not a git repository without its history', async () => {
    writeFileSync(join(root, 'a.txt'), key());
    expect(await scanForKeys(root, { history: true })).toHaveLength(1);
  });
});
