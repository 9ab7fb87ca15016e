import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { RotationPolicySettings, RotationPolicyView } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { graceOption, quietPeriodOption } from './cli-options.js';
import { detailTable, print } from './output.js';
import { addPolicyGet } from './policy-get.command.js';
import { CliUsageError } from './cli-failure.js';

/** The shortest maximum age the CLI sets without --force: the rotator replaces every key older than it, each time. */
export const MIN_SENSIBLE_MAX_AGE_MS = 3_600_000;

/** `none`: not set at this level. (Commander treats a parser's null as no value, hence the word.) */
type DurationOrNone = number | 'none';

/** `--max-age 90d` or `none`. */
function maxAgeOption(text: string): DurationOrNone {
  if (text.trim() === 'none') return 'none';
  const ms = graceOption(text);
  if (ms <= 0) throw new InvalidArgumentError('expected a positive duration or none');
  return ms;
}

/** `--grace 24h`, `0s` or `none`. */
function graceOrNone(text: string): DurationOrNone {
  return text.trim() === 'none' ? 'none' : graceOption(text);
}

const settingOf = (value: DurationOrNone | undefined): number | null => (value === undefined || value === 'none' ? null : value);

/** `90d`, `1h`, `45s`: a duration as people write it; `unset` for null. */
export function formatDuration(ms: number | null, unset: string): string {
  if (ms === null) return unset;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function policyText(view: RotationPolicyView): string {
  const row = (settings: RotationPolicySettings, unsetAge: string, unsetGrace: string, unsetQuiet: string): string =>
    `max age ${formatDuration(settings.maxAgeMs, unsetAge)}, grace ${formatDuration(settings.graceMs, unsetGrace)}, quiet period ${formatDuration(settings.quietPeriodMs, unsetQuiet)}`;
  return detailTable({
    tenant: view.tenant,
    owner: view.owner ?? '(tenant policy)',
    'set here': row(view.policy, 'not set', 'not set', 'not set'),
    applies: row(view.effective, 'never rotated by age', 'installation default', 'none (full grace)'),
  });
}

/** `keyledger rotation-policy set|get`: maximum key age, grace and quiet period per tenant or owner. */
export function registerRotationPolicyCommand(program: Command, withClient: WithClient): void {
  const policy = program.command('rotation-policy').description('rotation policies per tenant and per owner: maximum key age, grace period and quiet period');
  policy
    .command('set')
    .description('set the policy of a tenant (or of one owner with --owner); unset fields fall back to the tenant, then the installation')
    .requiredOption('--tenant <tenant>')
    .option('--owner <owner>')
    .option('--max-age <duration>', 'rotate keys older than this, e.g. 90d, or none', maxAgeOption)
    .option('--grace <duration>', 'grace of those rotations, e.g. 24h, or none (the installation default)', graceOrNone)
    .option('--force', `accept a --max-age under ${formatDuration(MIN_SENSIBLE_MAX_AGE_MS, '')}`)
    .option('--quiet-period <duration>', 'end a rotated key’s grace early once it is unused this long, e.g. 15m; none leaves it unset at this level (an owner then takes the tenant’s)', quietPeriodOption)
    .action(
      withClient(
        async (
          client,
          options,
          command: { tenant: string; owner?: string; maxAge?: DurationOrNone; grace?: DurationOrNone; quietPeriod?: DurationOrNone; force?: boolean },
        ) => {
          const maxAge = command.maxAge;
          if (typeof maxAge === 'number' && maxAge < MIN_SENSIBLE_MAX_AGE_MS && !command.force)
            throw new CliUsageError(
              `--max-age ${formatDuration(maxAge, '')} would rotate every key of ${command.owner ?? command.tenant} that often, each new key reaching only owners with a public key or a webhook; the least the CLI accepts is ${formatDuration(MIN_SENSIBLE_MAX_AGE_MS, '')} (add --force if you mean it)`,
            );
          const view = await client.call<RotationPolicyView>('rotation-policy.set', {
            tenant: command.tenant,
            owner: command.owner,
            maxAgeMs: settingOf(command.maxAge),
            graceMs: settingOf(command.grace),
            quietPeriodMs: settingOf(command.quietPeriod),
          });
          print(options.json, view, () => policyText(view));
        },
      ),
    );
  addPolicyGet(policy, withClient, 'rotation-policy.get', policyText);
}
