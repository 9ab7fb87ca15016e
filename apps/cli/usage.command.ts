import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { KeyUsage, SourceUsage, TenantUsage, UsageTotals } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { durationMs } from './cli-options.js';
import { detailTable, newTable, print } from './output.js';

/** `24h`, `7d`, `30m`, `2w` back from now, or an ISO 8601 time, as an ISO time. */
export function sinceOption(text: string): string {
  const ms = durationMs(text, ['m', 'h', 'd', 'w']);
  if (ms !== undefined) return new Date(Date.now() - ms).toISOString();
  if (!Number.isNaN(Date.parse(text)) && /^\d{4}-\d\d-\d\dT/.test(text)) return new Date(text).toISOString();
  throw new InvalidArgumentError('expected a duration such as 24h, 7d, 30m, or an ISO 8601 time');
}

interface UsageOptions {
  since?: string;
  until?: string;
  by: 'minute' | 'hour' | 'day';
  tenant?: string;
  top?: boolean;
  limit: number;
}

const totalsRow = (t: UsageTotals): string[] => [String(t.calls), String(t.valid), String(t.invalid), String(t.cost)];

function sourcesTable(sources: readonly SourceUsage[]): string {
  const table = newTable(['source ip', 'calls', 'invalid']);
  for (const s of sources) table.push([s.ip || '(none)', String(s.calls), String(s.invalid)]);
  return table.toString();
}

function keyUsageText(usage: KeyUsage): string {
  const buckets = newTable([usage.by, 'calls', 'valid', 'invalid', 'credits', 'codes']);
  for (const b of usage.buckets)
    buckets.push([
      b.start,
      ...totalsRow(b),
      Object.entries(b.codes)
        .map(([code, n]) => `${code} ${n}`)
        .join(', '),
    ]);
  const head = detailTable({
    'key id': usage.keyId,
    tenant: usage.tenant ?? '',
    window: `${usage.since} – ${usage.until}`,
    calls: String(usage.totals.calls),
    valid: String(usage.totals.valid),
    invalid: String(usage.totals.invalid),
    credits: String(usage.totals.cost),
    'last used': usage.lastUsedAt ?? 'never',
  });
  return [head, usage.buckets.length > 0 ? buckets.toString() : '(no calls in the window)', sourcesTable(usage.topSources)].join('\n');
}

function tenantUsageText(usage: TenantUsage): string {
  const keys = newTable(['key id', 'calls', 'valid', 'invalid', 'credits', 'last used']);
  for (const k of usage.topKeys) keys.push([k.keyId, ...totalsRow(k), k.lastUsedAt ?? '']);
  const head = detailTable({
    tenant: usage.tenant,
    window: `${usage.since} – ${usage.until}`,
    calls: String(usage.totals.calls),
    valid: String(usage.totals.valid),
    invalid: String(usage.totals.invalid),
    credits: String(usage.totals.cost),
  });
  return [head, keys.toString(), sourcesTable(usage.topSources)].join('\n');
}

/**
 * `keyledger usage ID [--since 24h] [--by minute|hour|day]`: one key's calls, bucketed, with
 * its top source addresses; `keyledger usage --tenant T --top`: a tenant's most used keys and
 * top source addresses. Both ask the auditor over NATS with the admin key.
 */
export function registerUsageCommand(program: Command, withClient: WithClient): void {
  program
    .command('usage [keyId]')
    .description("a key's usage (calls by minute, hour or day, top source addresses), or with --tenant --top a tenant's most used keys and sources")
    .addOption(new Option('--since <when>', 'start of the window: a duration back from now (24h, 7d) or an ISO time (default: 24h)').argParser(sinceOption))
    .addOption(new Option('--until <when>', 'end of the window (default: now)').argParser(sinceOption))
    .addOption(new Option('--by <granularity>', 'bucket size').choices(['minute', 'hour', 'day']).default('hour'))
    .option('--tenant <tenant>', "a tenant's usage instead of a key's")
    .option('--top', "list the tenant's most used keys and top sources")
    .addOption(new Option('--limit <n>', 'how many keys and sources to list').default(10).argParser(Number))
    .action(
      withClient(async (client, options, keyId: string | undefined, command: UsageOptions) => {
        const since = command.since ?? sinceOption('24h');
        if (keyId && !command.tenant) {
          const usage = await client.call<KeyUsage>('usage.key', { keyId, since, until: command.until, by: command.by });
          print(options.json, usage, () => keyUsageText(usage));
          return 0;
        }
        if (command.tenant && command.top && !keyId) {
          const usage = await client.call<TenantUsage>('usage.tenant', { tenant: command.tenant, since, until: command.until, limit: command.limit });
          print(options.json, usage, () => tenantUsageText(usage));
          return 0;
        }
        process.stderr.write('error: give a key id, or --tenant <tenant> --top\n');
        return 1;
      }),
    );
}
