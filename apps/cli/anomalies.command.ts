import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type {
  AnomalyAckResult,
  AnomalyEvidence,
  AnomalyExplanation,
  AnomalyFinding,
  AnomalyFindingsPage,
  AnomalyHandling,
  SourceAnomalyExplanation,
  SourceAnomalyFinding,
} from '@keyledger/contracts';
import { ANOMALY_DETECTORS, ANOMALY_KINDS, ANOMALY_SEVERITIES, MAX_ANOMALY_FINDINGS } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { registerAnomalyThresholdsCommand } from './anomaly-thresholds.command.js';
import { detailTable, newTable, print } from './output.js';
import { sinceOption } from './usage.command.js';

/** `--limit 50`: a whole number from 1 to the auditor's maximum. */
function limitOption(text: string): number {
  const n = /^\d{1,4}$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_ANOMALY_FINDINGS)) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_ANOMALY_FINDINGS}`);
  return n;
}

/** What the incident policy did, in a few words: `suspend`, `rotate → key_…`, `none (honeytoken)`, or pending. */
export function handlingText(handled: AnomalyHandling | null): string {
  if (handled === null) return 'pending';
  const reason = handled.reason ? ` (${handled.reason})` : '';
  const replaced = handled.replacedBy ? ` → ${handled.replacedBy}` : '';
  const asked = handled.policy === handled.action ? '' : `, policy ${handled.policy}`;
  return `${handled.action}${reason}${replaced}${asked}`;
}

/** Who acknowledged a finding and when, or `no`. */
export function ackText(finding: AnomalyFinding): string {
  return finding.acknowledged ? `${finding.acknowledged.by} at ${finding.acknowledged.at}` : 'no';
}

/** What the policy did about a source finding: the network denied until when, or only told. */
export function denialText(source: SourceAnomalyFinding): string {
  return source.denied ? `deny until ${source.denied.until}` : 'notify';
}

/** The list as tables (keys' findings, then source networks'), one finding a row, with a heading that says how many and whether more matched. */
export function findingsTable(page: AnomalyFindingsPage): string {
  const sources = page.sources ?? [];
  const counted = `${page.findings.length} finding(s)${sources.length > 0 ? ` and ${sources.length} from source networks` : ''}`;
  const heading = `${counted}${page.truncated ? ' (more matched: narrow with --since, --key, --kind, --detector or raise --limit)' : ''}`;
  const parts = [heading];
  if (page.findings.length > 0) parts.push(keyFindingsTable(page.findings));
  if (sources.length > 0) {
    const table = newTable(['id', 'network', 'tenant', 'detector', 'severity', 'detail', 'when', 'policy did']);
    for (const source of sources)
      table.push([source.id, source.network, source.tenant, source.detector, source.severity, source.detail, source.recordedAt, denialText(source)]);
    parts.push(table.toString());
  }
  return parts.join('\n');
}

function keyFindingsTable(findings: readonly AnomalyFinding[]): string {
  const table = newTable(['id', 'key id', 'tenant', 'kind', 'severity', 'detail', 'when', 'policy did', 'acknowledged']);
  for (const finding of findings)
    table.push([
      finding.id,
      finding.keyId,
      finding.tenant,
      finding.kind,
      finding.severity,
      finding.detail ?? '',
      finding.recordedAt,
      handlingText(finding.handled),
      ackText(finding),
    ]);
  return table.toString();
}

/** A finding and its evidence, field by field. */
export function explanationText(explanation: AnomalyExplanation | SourceAnomalyExplanation): string {
  if ('source' in explanation) return sourceExplanationText(explanation);
  const { finding, detector, key } = explanation;
  const call = finding.call;
  return detailTable({
    id: finding.id,
    'key id': finding.keyId,
    tenant: finding.tenant,
    kind: finding.kind,
    severity: finding.severity,
    detail: finding.detail ?? '',
    'detected at': finding.detectedAt,
    'recorded at': `${finding.recordedAt} by ${finding.recordedBy}`,
    detector: detector.name,
    watches: detector.watches,
    ...(finding.evidence === null ? {} : { 'evidence (as seen)': evidenceText(finding.evidence) }),
    ...(detector.defaultThresholds === null ? {} : { 'thresholds (defaults)': detector.defaultThresholds }),
    ...(call
      ? { call: `${call.at} from ${call.ip ?? 'unknown address'} over ${call.transport ?? 'unknown transport'}, scopes ${call.scopes.join(' ') || '(none)'}` }
      : {}),
    'policy did': handlingText(finding.handled),
    ...(finding.handled ? { 'handled at': finding.handled.at } : {}),
    acknowledged: ackText(finding),
    ...(finding.acknowledged?.note ? { note: finding.acknowledged.note } : {}),
    'key now': key ? `${key.status}${key.honeytoken ? ', honeytoken' : ''}, owner ${key.owner}, hint ${key.hint}` : 'not found',
  });
}

/** `usualDenied 0.04, denied 3, windowMs 60000`: each entry as the detector named it. */
function evidenceText(evidence: AnomalyEvidence): string {
  return Object.entries(evidence)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
}

function sourceExplanationText({ source, detector }: SourceAnomalyExplanation): string {
  return detailTable({
    id: source.id,
    network: source.network,
    tenant: source.tenant,
    severity: source.severity,
    detail: source.detail,
    'detected at': source.detectedAt,
    'recorded at': `${source.recordedAt} by ${source.recordedBy}`,
    detector: detector.name,
    watches: detector.watches,
    ...(detector.defaultThresholds === null ? {} : { 'thresholds (defaults)': detector.defaultThresholds }),
    'policy did': denialText(source),
  });
}

function ackResultText(result: AnomalyAckResult): string {
  const what = result.outcome === 'ACKNOWLEDGED' ? 'acknowledged' : 'already acknowledged (nothing recorded)';
  return detailTable({
    outcome: what,
    finding: result.findingId,
    'key id': result.keyId,
    by: result.acknowledged.by,
    at: result.acknowledged.at,
    note: result.acknowledged.note ?? '',
  });
}

interface ListOptions {
  tenant?: string;
  since?: string;
  key?: string;
  kind?: string;
  severity?: string;
  detector?: string;
  unacked?: boolean;
  limit?: number;
}

/**
 * `keyledger anomalies list|explain|ack|thresholds`: the anomaly detector's findings (and reported
 * anomalies), what the incident policy did about each, their acknowledgement by operators, and
 * the thresholds a tenant sets for its keys.
 */
export function registerAnomaliesCommand(program: Command, withClient: WithClient): void {
  const anomalies = program
    .command('anomalies')
    .description("anomaly findings on keys and from source networks: list them, explain one, acknowledge one; a tenant's thresholds");
  anomalies
    .command('list')
    .description('findings, newest first, with what the incident policy did and whether they are acknowledged')
    .option('--tenant <tenant>', "the tenant (default: the admin key's own; a root admin key without it: every tenant)")
    .addOption(new Option('--since <when>', 'a duration back from now (24h, 7d) or an ISO time (default: 24h)').argParser(sinceOption))
    .option('--key <keyId>', 'only the findings on this key')
    .addOption(new Option('--kind <kind>').choices(ANOMALY_KINDS))
    .addOption(new Option('--severity <severity>').choices(ANOMALY_SEVERITIES))
    .addOption(new Option('--detector <detector>', 'only the findings of this detector (enumeration: source networks)').choices(ANOMALY_DETECTORS))
    .option('--unacked', 'only key findings nobody acknowledged (source findings are not acknowledged)')
    .option('--limit <n>', `findings at most (1 to ${MAX_ANOMALY_FINDINGS}, default 100)`, limitOption)
    .action(
      withClient(async (client, options, command: ListOptions) => {
        const page = await client.call<AnomalyFindingsPage>('anomalies.list', {
          tenant: command.tenant,
          since: command.since,
          keyId: command.key,
          kind: command.kind,
          severity: command.severity,
          detector: command.detector,
          unacked: command.unacked,
          limit: command.limit,
        });
        print(options.json, page, () => findingsTable(page));
      }),
    );

  anomalies
    .command('explain <id>')
    .description(
      "one finding and its evidence: the numbers the detector judged (the key's baseline among them), the detector and its default thresholds, the call, what the policy did, the acknowledgement",
    )
    .action(
      withClient(async (client, options, id: string) => {
        const explanation = await client.call<AnomalyExplanation | SourceAnomalyExplanation>('anomalies.explain', { id });
        print(options.json, explanation, () => explanationText(explanation));
      }),
    );

  anomalies
    .command('ack <id>')
    .description('acknowledge a finding (needs keyledger:keys:write); a second acknowledgement records nothing')
    .option('--note <text>', 'why, for whoever reads it later')
    .action(
      withClient(async (client, options, id: string, command: { note?: string }) => {
        const result = await client.call<AnomalyAckResult>('anomalies.ack', { id, note: command.note });
        print(options.json, result, () => ackResultText(result));
      }),
    );

  registerAnomalyThresholdsCommand(anomalies, withClient);
}
