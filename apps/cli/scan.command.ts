import type { Command } from 'commander';
import type { IncidentReportResult } from '@keyledger/contracts';
import type { LeakFinding } from '@keyledger/leak-scanner';
import { scanForKeys } from '@keyledger/leak-scanner';
import type { KeyledgerClient, WithClient } from './api-client.js';
import { CliApiError } from './api-client.js';
import { newKeyNote, reportSummary } from './incidents.command.js';
import { newTable, print } from './output.js';

/** What `--report` got back for a finding's key: the issuer's answer, or the error that refused it. */
type ReportOutcome = IncidentReportResult | { readonly outcome: 'ERROR'; readonly error: string };

/** A finding as printed: never the key, only where it is and its hint (and, with --report, what the report did). */
function shown({ key: _key, ...finding }: LeakFinding, report?: ReportOutcome): Omit<LeakFinding, 'key'> & { report?: ReportOutcome } {
  return report ? { ...finding, report } : finding;
}

function findingsTable(findings: readonly LeakFinding[], reports?: ReadonlyMap<string, ReportOutcome>): string {
  if (findings.length === 0) return 'no Keyledger keys found';
  const table = newTable(['file', 'line', 'commit', 'key', ...(reports ? ['key id', 'report'] : [])]);
  for (const f of findings) {
    const report = reports?.get(f.key);
    const reported = report
      ? [report.outcome === 'ERROR' ? '' : (report.keyId ?? ''), report.outcome === 'ERROR' ? `not reported: ${report.error}` : reportSummary(report)]
      : [];
    table.push([f.file, `${f.line}:${f.column}`, f.commit?.slice(0, 12) ?? '(working tree)', f.hint, ...reported]);
  }
  return `${table.toString()}\n${findings.length} key${findings.length === 1 ? '' : 's'} found`;
}

interface ScanOptions {
  history: boolean;
  maxFileBytes: number;
  report: boolean;
  repository?: string;
}

/**
 * Reports each distinct key found once, at its first place (the working tree before the
 * history), as the leak scanner found it: file, line, column, commit, and the repository named.
 */
async function reportFindings(client: KeyledgerClient, findings: readonly LeakFinding[], repository: string | undefined): Promise<Map<string, ReportOutcome>> {
  const reports = new Map<string, ReportOutcome>();
  for (const finding of findings) {
    if (reports.has(finding.key)) continue;
    const source = {
      file: finding.file,
      line: finding.line,
      column: finding.column,
      ...(finding.commit ? { commit: finding.commit } : {}),
      ...(repository ? { repository } : {}),
    };
    try {
      reports.set(finding.key, await client.call<IncidentReportResult>('keys.report-leak', { key: finding.key, source }));
    } catch (error) {
      // One key refused (a file name the API does not take, say) does not stop the others.
      if (!(error instanceof CliApiError)) throw error;
      reports.set(finding.key, { outcome: 'ERROR', error: error.message });
    }
  }
  return reports;
}

/**
 * `keyledger scan PATH`: finds Keyledger keys in files and in the git history, offline, by
 * format and checksum. Exit 1 when any is found, so it can fail a CI job or a pre-commit hook.
 * With `--report` it reports each key found to the issuer as leaked (the tenant's incident
 * policy then applies) and prints what became of each report.
 */
export function registerScanCommand(program: Command, json: () => boolean, withClient: WithClient): void {
  const report = withClient(async (client, options, findings: readonly LeakFinding[], repository: string | undefined) => {
    const reports = await reportFindings(client, findings, repository);
    print(
      options.json,
      findings.map((finding) => shown(finding, reports.get(finding.key))),
      () => {
        // One line per report whose rotation left a new key somewhere (or nowhere): what the user must know next.
        const notes = [
          ...new Set([...reports.values()].map((report) => (report.outcome === 'ERROR' ? undefined : newKeyNote(report))).filter((note) => note !== undefined)),
        ];
        return [findingsTable(findings, reports), ...notes].join('\n');
      },
    );
    return findings.length > 0 ? 1 : 0;
  });
  program
    .command('scan <path>')
    .description('find Keyledger keys in files and git history (exit 1 when found); prints hints, never keys')
    .option('--no-history', 'only the files, not the git history')
    .option('--max-file-bytes <bytes>', 'skip larger files', (v) => Number(v), 10 * 1024 * 1024)
    .option('--report', 'report each key found as leaked to the issuer (needs an admin key with keyledger:leaks:report)', false)
    .option('--repository <name>', 'with --report: the repository to name in the reports (URL, org/name)')
    .action(async (path: string, command: ScanOptions) => {
      const findings = await scanForKeys(path, { history: command.history, maxFileBytes: command.maxFileBytes });
      if (command.report && findings.length > 0) return report(findings, command.repository);
      print(
        json(),
        findings.map((finding) => shown(finding)),
        () => findingsTable(findings),
      );
      process.exitCode = findings.length > 0 ? 1 : 0;
    });
}
