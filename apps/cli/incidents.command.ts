import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { AnomalyRule, IncidentPolicyView, IncidentReportResult, LeakSource } from '@keyledger/contracts';
import { ANOMALY_KINDS, ANOMALY_POLICY_ACTIONS, ANOMALY_SEVERITIES, ENUMERATION_POLICY_ACTIONS, LEAK_POLICY_ACTIONS } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { detailTable, print } from './output.js';
import { addPolicyGet } from './policy-get.command.js';
import { graceOption, plaintextArgument } from './cli-options.js';
import { formatDuration } from './rotation-policy.command.js';

/** `--line 12`: a positive whole number. */
function positiveNumber(value: string): number {
  const n = /^\d{1,9}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(n >= 1)) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return n;
}

/** What a report's outcome means for people, in a few words. */
export function reportSummary(result: IncidentReportResult): string {
  switch (result.outcome) {
    case 'NOT_FOUND':
      return 'unknown key (nothing recorded)';
    case 'MALFORMED':
      return 'not a key (nothing recorded)';
    case 'REPORTED':
    case 'ALREADY_REPORTED': {
      const what = result.outcome === 'REPORTED' ? 'reported' : 'already reported there';
      const handled = result.handled;
      if (handled) return `${what}; ${handled.action}${handled.reason ? ` (${handled.reason})` : ''}${handled.replacedBy ? ` → ${handled.replacedBy}` : ''}`;
      return `${what}; ${result.pendingAction ?? '?'} pending`;
    }
    default:
      return result.outcome satisfies never;
  }
}

/**
 * Where a rotation's new key went: to the owner, by which channels, or to nobody, with what to do
 * then; undefined when the report rotates nothing.
 */
export function newKeyNote(result: IncidentReportResult): string | undefined {
  const channels = result.newKeyDelivery;
  if (channels === undefined) return undefined;
  const newKey = result.handled?.replacedBy ? `the new key ${result.handled.replacedBy}` : 'the new key';
  if (channels.length > 0) return `${newKey} is delivered to owner ${result.owner} (${channels.join(' and ')}) until it acknowledges`;
  return (
    `nobody holds the plaintext of ${newKey}: owner ${result.owner} has no public key or webhook registered. ` +
    `Register one (keyledger owners register-public-key --tenant ${result.tenant} --owner ${result.owner} --public-key FILE, or register-webhook), ` +
    `then rotate ${result.handled?.replacedBy ?? 'the new key'} again (keyledger keys rotate ID) to deliver a fresh key`
  );
}

function reportText(result: IncidentReportResult): string {
  const note = newKeyNote(result);
  return (
    detailTable({
      outcome: reportSummary(result),
      ...(result.keyId ? { 'key id': result.keyId, tenant: result.tenant, owner: result.owner, hint: result.hint, incident: result.incidentId } : {}),
    }) + (note ? `\n${note}` : '')
  );
}

/** A report for `keys.report-leak` found a key: exit 0; an unknown or malformed one: exit 1. */
const reportExitCode = (result: IncidentReportResult): number => (result.outcome === 'REPORTED' || result.outcome === 'ALREADY_REPORTED' ? 0 : 1);

interface LeakSourceOptions {
  file?: string;
  line?: number;
  column?: number;
  commit?: string;
  repository?: string;
  url?: string;
  description?: string;
}

/** The place given by the options; those left out are undefined, which JSON leaves out of the request. */
function leakSource({ file, line, column, commit, repository, url, description }: LeakSourceOptions): LeakSource {
  return { file, line, column, commit, repository, url, description };
}

/**
 * Collects `--anomaly-rule [DETECTOR][:SEVERITY]=ACTION` (repeatable, in order): `probing:high=suspend`,
 * `high=suspend` (any detector), `honeytoken=notify` (any severity), `any=notify`. The detector and
 * the action are checked by the issuer, which names the ones it knows.
 */
export function anomalyRuleEntry(value: string, previous: AnomalyRule[] = []): AnomalyRule[] {
  const match = /^([a-z-]+)(?::([a-z]+))?=([a-z-]+)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected [DETECTOR][:SEVERITY]=ACTION, e.g. probing:high=suspend, high=suspend or honeytoken=notify');
  const [, first = '', second, action = ''] = match;
  const severityOf = (text: string): AnomalyRule['minSeverity'] => {
    if (!(ANOMALY_SEVERITIES as readonly string[]).includes(text))
      throw new InvalidArgumentError(`unknown severity "${text}": one of ${ANOMALY_SEVERITIES.join(', ')}`);
    return text as AnomalyRule['minSeverity'];
  };
  // One word before `=` is a severity when it names one, `any` for every finding, else a detector.
  const severity = second !== undefined ? severityOf(second) : (ANOMALY_SEVERITIES as readonly string[]).includes(first) ? severityOf(first) : undefined;
  const detector = second === undefined && severity !== undefined ? undefined : first === 'any' ? undefined : first;
  return [
    ...previous,
    {
      ...(detector === undefined ? {} : { detector: detector as AnomalyRule['detector'] }),
      ...(severity === undefined ? {} : { minSeverity: severity }),
      action: action as AnomalyRule['action'],
    },
  ];
}

/** A rule as `--anomaly-rule` takes it. */
export function formatAnomalyRule(rule: AnomalyRule): string {
  const left = [rule.detector, rule.minSeverity].filter((part) => part !== undefined).join(':');
  return `${left === '' ? 'any' : left}=${rule.action}`;
}

function rulesText(rules: readonly AnomalyRule[] | null): string {
  if (rules === null) return 'not set';
  return rules.length === 0 ? 'none' : rules.map(formatAnomalyRule).join(', ');
}

function policyText(view: IncidentPolicyView): string {
  const grace = (ms: number | null): string => formatDuration(ms, 'not set');
  return detailTable({
    tenant: view.tenant,
    owner: view.owner ?? '(tenant policy)',
    'set here': `on leak ${view.policy.onLeak ?? 'not set'}, on anomaly ${view.policy.onAnomaly ?? 'not set'}, grace ${grace(view.policy.graceMs)}`,
    applies: `on leak ${view.effective.onLeak}, on anomaly ${view.effective.onAnomaly}, grace ${grace(view.effective.graceMs)}`,
    'anomaly rules set': rulesText(view.policy.anomalyRules),
    'anomaly rules apply': `${rulesText(view.effective.anomalyRules)}, then on anomaly ${view.effective.onAnomaly}`,
    ...(view.owner === null
      ? {
          'enumeration set': `${view.policy.onEnumeration ?? 'not set'}, deny for ${grace(view.policy.denyForMs)}`,
          'enumeration applies': `${view.effective.onEnumeration}, deny for ${grace(view.effective.denyForMs)}`,
        }
      : {}),
  });
}

/**
 * `keyledger keys report-leak`, `keys report-anomaly` and `incident-policy set|get`: incidents on
 * keys and what the tenant wants done about them.
 */
export function registerIncidentCommands(program: Command, keys: Command, withClient: WithClient): void {
  keys
    .command('report-leak [key]')
    .description('report a leaked key (its plaintext, - to read it from stdin, or --key-id) and where it was found; the incident policy applies')
    .option('--key-id <id>', 'report by key id instead of the plaintext (needs keyledger:keys:write)')
    .option('--file <path>', 'the file it was found in')
    .option('--line <n>', 'its line', positiveNumber)
    .option('--column <n>', 'its column', positiveNumber)
    .option('--commit <sha>', 'the commit that added it')
    .option('--repository <name>', 'the repository (URL, org/name or path)')
    .option('--url <url>', 'a web page it was found on')
    .option('--description <text>', 'where it was found, in words')
    .action(
      withClient(async (client, options, key: string | undefined, command: LeakSourceOptions & { keyId?: string }) => {
        if ((key === undefined) === (command.keyId === undefined)) throw new InvalidArgumentError('give either the key or --key-id');
        const plaintext = key === undefined ? undefined : plaintextArgument(key);
        const result = await client.call<IncidentReportResult>('keys.report-leak', {
          ...(plaintext === undefined ? { keyId: command.keyId } : { key: plaintext }),
          source: leakSource(command),
        });
        print(options.json, result, () => reportText(result));
        return reportExitCode(result);
      }),
    );

  keys
    .command('report-anomaly <keyId>')
    .description('report unusual use of a key; the incident policy applies (the anomaly detector records its own)')
    .addOption(new Option('--kind <kind>').choices(ANOMALY_KINDS).makeOptionMandatory())
    .addOption(new Option('--severity <severity>').choices(ANOMALY_SEVERITIES).makeOptionMandatory())
    .option('--detail <text>', 'what was seen')
    .action(
      withClient(async (client, options, keyId: string, command: { kind: string; severity: string; detail?: string }) => {
        const result = await client.call<IncidentReportResult>('keys.report-anomaly', {
          keyId,
          kind: command.kind,
          severity: command.severity,
          detail: command.detail,
        });
        print(options.json, result, () => reportText(result));
      }),
    );

  const policy = program.command('incident-policy').description('incident policies per tenant and per owner: what a leak report or an anomaly does to a key');
  policy
    .command('set')
    .description('set the policy of a tenant (or of one owner with --owner); options left out fall back to the tenant, then the defaults')
    .requiredOption('--tenant <tenant>')
    .option('--owner <owner>')
    .addOption(new Option('--on-leak <action>', 'what a leak report does (default rotate)').choices(LEAK_POLICY_ACTIONS))
    .addOption(new Option('--on-anomaly <action>', 'what an anomaly does (default notify)').choices(ANOMALY_POLICY_ACTIONS))
    .option('--grace <duration>', 'grace of the rotations they trigger, e.g. 1h (default 1h)', graceOption)
    .addOption(
      new Option(
        '--on-enumeration <action>',
        'what an enumeration from a source network for the tenant does: deny it at every verifier (default notify)',
      ).choices(ENUMERATION_POLICY_ACTIONS),
    )
    .option('--deny-for <duration>', 'how long such a denial lasts, e.g. 1h (default 1h, at most 7d)', graceOption)
    .option(
      '--anomaly-rule <rule>',
      'an anomaly finding by detector and lowest severity, [DETECTOR][:SEVERITY]=ACTION, e.g. probing:high=suspend or high=rotate (repeatable; the first that matches wins, else --on-anomaly)',
      anomalyRuleEntry,
    )
    .option('--no-anomaly-rules', "set no anomaly rules here (an owner: the tenant's do not apply to its keys)")
    .action(
      withClient(
        async (
          client,
          options,
          command: {
            tenant: string;
            owner?: string;
            onLeak?: string;
            onAnomaly?: string;
            grace?: number;
            onEnumeration?: string;
            denyFor?: number;
            anomalyRule?: AnomalyRule[];
            anomalyRules: boolean;
          },
        ) => {
          if (command.anomalyRule !== undefined && !command.anomalyRules) throw new InvalidArgumentError('give --anomaly-rule or --no-anomaly-rules, not both');
          const view = await client.call<IncidentPolicyView>('incident-policy.set', {
            tenant: command.tenant,
            owner: command.owner,
            onLeak: command.onLeak ?? null,
            onAnomaly: command.onAnomaly ?? null,
            graceMs: command.grace ?? null,
            ...(command.onEnumeration === undefined ? {} : { onEnumeration: command.onEnumeration }),
            ...(command.denyFor === undefined ? {} : { denyForMs: command.denyFor }),
            ...(command.anomalyRules ? (command.anomalyRule === undefined ? {} : { anomalyRules: command.anomalyRule }) : { anomalyRules: [] }),
          });
          print(options.json, view, () => policyText(view));
        },
      ),
    );
  addPolicyGet(policy, withClient, 'incident-policy.get', policyText);
}
