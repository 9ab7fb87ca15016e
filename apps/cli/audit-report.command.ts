import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { AuditReport, PermissionFinding } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { toCsv } from './csv.js';
import { newTable } from './output.js';

type ReportFormat = 'table' | 'json' | 'csv';

/** `--unused-days 90`: a whole number of days, 1 to 3650 (the auditor checks it again). */
function daysOption(text: string): number {
  const days = Number(text);
  if (!/^\d{1,4}$/.test(text.trim()) || days < 1 || days > 3650) throw new InvalidArgumentError('expected a whole number of days from 1 to 3650');
  return days;
}

function evidenceText(finding: PermissionFinding): string {
  return JSON.stringify(finding.evidence);
}

function reportTable(report: AuditReport): string {
  const scope = report.tenant === null ? 'every tenant' : `tenant ${report.tenant}`;
  const usage = report.usage.complete
    ? `usage since ${report.usage.since}`
    : `usage kept only since ${report.usage.retainedSince} (USAGE_RETENTION_DAYS), not the whole window since ${report.usage.since}`;
  const heading = `permission audit of ${scope} at ${report.generatedAt}: ${report.findings.length} finding(s); unused: ${report.unusedDays} days, ${usage}; stale suspension: over ${report.staleSuspendedDays} days`;
  if (report.findings.length === 0) return heading;
  const table = newTable(['finding', 'key id', 'tenant', 'owner', 'evidence']);
  for (const finding of report.findings) table.push([finding.kind, finding.keyId, finding.tenant, finding.owner, finding.summary]);
  return `${heading}\n${table.toString()}`;
}

/** One row per finding; the evidence as JSON in the last column, for a script to take apart. */
function reportCsv(report: AuditReport): string {
  return toCsv(
    ['finding', 'key_id', 'tenant', 'owner', 'summary', 'evidence'],
    report.findings.map((finding) => [finding.kind, finding.keyId, finding.tenant, finding.owner, finding.summary, evidenceText(finding)]),
  );
}

/**
 * `keyledger audit report`: the auditor's permission audit of a tenant's keys (unused keys and
 * scopes, no expiry, rotation overdue, no IP restriction, long suspensions, broad admin keys).
 */
export function registerAuditReportCommand(group: Command, withClient: WithClient): void {
  group
    .command('report')
    .description(
      "the permission audit of a tenant's live keys, from the auditor: unused keys and scopes, keys without expiry or IP restriction, rotation overdue, long suspensions, broad admin keys",
    )
    .option('--tenant <tenant>', "the tenant (default: the admin key's own; a root admin key without it: every tenant)")
    .addOption(new Option('--format <format>', 'table, json or csv').choices(['table', 'json', 'csv']).default('table'))
    .option('--unused-days <days>', 'a key or scope without a valid verification for this many days is unused', daysOption, 90)
    .option('--stale-suspended-days <days>', 'a key suspended for more than this many days is reported', daysOption, 30)
    .action(
      withClient(async (client, options, command: { tenant?: string; format: ReportFormat; unusedDays: number; staleSuspendedDays: number }) => {
        const report = await client.call<AuditReport>('audit.report', {
          ...(command.tenant === undefined ? {} : { tenant: command.tenant }),
          unusedDays: command.unusedDays,
          staleSuspendedDays: command.staleSuspendedDays,
        });
        const format: ReportFormat = options.json ? 'json' : command.format;
        if (format === 'csv') process.stdout.write(reportCsv(report));
        else process.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : `${reportTable(report)}\n`);
      }),
    );
}
