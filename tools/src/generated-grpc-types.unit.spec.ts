import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const committed = join(root, 'libs', 'contracts', 'src', 'generated', 'grpc');

/** Every file under a directory, by its path relative to it, with its text. */
function filesUnder(dir: string): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return Object.fromEntries(files.map((entry) => [relative(dir, join(entry.parentPath, entry.name)), readFileSync(join(entry.parentPath, entry.name), 'utf8')]));
}

describe('the generated gRPC types', () => {
  it('are what the generator makes of the .proto files now (after changing one, run npm run generate:grpc)', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'keyledger-grpc-types-'));
    try {
      execFileSync(process.execPath, [join(root, 'tools', 'generate-grpc-types.mjs'), fresh], { stdio: 'pipe' });
      expect(filesUnder(committed)).toEqual(filesUnder(fresh));
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
