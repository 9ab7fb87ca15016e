import type { Command } from 'commander';
import type { WithClient } from './api-client.js';
import { print } from './output.js';

/** `<policy> get --tenant T [--owner O]`: a tenant's or an owner's policy, for each kind of policy. */
export function addPolicyGet<V>(policy: Command, withClient: WithClient, operation: string, text: (view: V) => string): void {
  policy
    .command('get')
    .requiredOption('--tenant <tenant>')
    .option('--owner <owner>')
    .action(
      withClient(async (client, options, command: { tenant: string; owner?: string }) => {
        const view = await client.call<V>(operation, { tenant: command.tenant, owner: command.owner });
        print(options.json, view, () => text(view));
      }),
    );
}
