import type { Command } from 'commander';
import Table from 'cli-table3';
import type { LeakFinding } from '@keyledger/leak-scanner';
import { scanForKeys } from '@keyledger/leak-scanner';
import { print } from './output.js';

/** A finding as printed: never the key, only where it is and its hint. */
function shown({ key: _key, ...finding }: LeakFinding): Omit<LeakFinding, 'key'> {
  return finding;
}

function findingsTable(findings: readonly LeakFinding[]): string {
  if (findings.length === 0) return 'no Keyledger keys found';
  const table = new Table({ head: ['file', 'line', 'commit', 'key'] });
  for (const f of findings) table.push([f.file, `${f.line}:${f.column}`, f.commit?.slice(0, 12) ?? '(working tree)', f.hint]);
  return `${table.toString()}\n${findings.length} key${findings.length === 1 ? '' : 's'} found`;
}

/**
 * `keyledger scan PATH`: finds Keyledger keys in files and in the git history, offline, by
 * format and checksum. Exit 1 when any is found, so it can fail a CI job or a pre-commit hook.
 */
export function registerScanCommand(program: Command, json: () => boolean): void {
  program
    .command('scan <path>')
    .description('find Keyledger keys in files and git history (exit 1 when found); prints hints, never keys')
    .option('--no-history', 'only the files, not the git history')
    .option('--max-file-bytes <bytes>', 'skip larger files', (v) => Number(v), 10 * 1024 * 1024)
    .action(async (path: string, command: { history: boolean; maxFileBytes: number }) => {
      const findings = await scanForKeys(path, { history: command.history, maxFileBytes: command.maxFileBytes });
      print(json(), findings.map(shown), () => findingsTable(findings));
      process.exitCode = findings.length > 0 ? 1 : 0;
    });
}
