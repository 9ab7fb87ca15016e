import type { Command } from 'commander';
import type { NetworkAllowResult, NetworkDenialView } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { detailTable, newTable, print } from './output.js';
import { graceOption } from './cli-options.js';

function denialTable(denials: readonly NetworkDenialView[]): string {
  if (denials.length === 0) return 'no network is denied';
  const table = newTable(['network', 'tenant', 'until', 'reason', 'by', 'finding']);
  for (const denial of denials) table.push([denial.network, denial.tenant, denial.until, denial.reason, denial.deniedBy, denial.findingId ?? '']);
  return table.toString();
}

/**
 * `keyledger networks deny|allow|list`: source networks every verifier refuses (DENIED), for a
 * tenant's keys or (`--tenant '*'`, a root admin key) every tenant's, until they end or are lifted.
 */
export function registerNetworksCommand(program: Command, withClient: WithClient): void {
  const networks = program
    .command('networks')
    .description('source networks every verifier refuses (DENIED): deny one for a while, lift a denial, list those in force');
  networks
    .command('deny <cidr>')
    .description('refuse calls from a network (a CIDR or an address) at every verifier, for a tenant\'s keys (or every tenant\'s with --tenant "*")')
    .requiredOption('--tenant <tenant>', 'the tenant whose keys it may not use, or * for every tenant (root admin key)')
    .requiredOption('--for <duration>', 'how long, e.g. 1h, 30m, 2d (at most 7d)', graceOption)
    .option('--detail <text>', 'why, for people')
    .action(
      withClient(async (client, options, cidr: string, command: { tenant: string; for: number; detail?: string }) => {
        const denial = await client.call<NetworkDenialView>('networks.deny', {
          network: cidr,
          tenant: command.tenant,
          forMs: command.for,
          detail: command.detail,
        });
        print(options.json, denial, () => detailTable({ network: denial.network, tenant: denial.tenant, until: denial.until, by: denial.deniedBy }));
      }),
    );
  networks
    .command('allow <cidr>')
    .description('lift the denial of a network before its end')
    .requiredOption('--tenant <tenant>', 'the tenant the denial is for, or * for every tenant')
    .action(
      withClient(async (client, options, cidr: string, command: { tenant: string }) => {
        const result = await client.call<NetworkAllowResult>('networks.allow', { network: cidr, tenant: command.tenant });
        print(options.json, result, () =>
          result.lifted ? `lifted the denial of ${result.network} for ${result.tenant}` : `${result.network} is not denied for ${result.tenant}`,
        );
      }),
    );
  networks
    .command('list')
    .description('the denials in force, as the verifiers hold them')
    .option('--tenant <tenant>', "one tenant's (with those of every tenant)")
    .action(
      withClient(async (client, options, command: { tenant?: string }) => {
        const denials = await client.call<NetworkDenialView[]>('networks.list', { tenant: command.tenant });
        print(options.json, denials, () => denialTable(denials));
      }),
    );
}
