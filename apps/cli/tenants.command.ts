import type { Command } from 'commander';
import type { NotificationWebhookView } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { detailTable, print } from './output.js';

/**
 * `keyledger tenants notification-webhook set|remove`: the HTTPS URL a tenant's notifications
 * (incidents on its keys, enumerations from source networks) are also POSTed to, signed.
 */
export function registerTenantsCommand(program: Command, withClient: WithClient): void {
  const tenants = program.command('tenants').description("a tenant's own settings: the webhook its notifications are POSTed to");
  const webhook = tenants.command('notification-webhook').description("the tenant's notification webhook");
  webhook
    .command('set')
    .description(
      "register the tenant's HTTPS notification webhook: every notification is also POSTed there, signed (header Keyledger-Signature); prints the signing secret once",
    )
    .requiredOption('--tenant <tenant>')
    .requiredOption('--url <https-url>', 'https:// only; a 2xx answer acknowledges a notification, anything else is retried')
    .action(
      withClient(async (client, options, command: { tenant: string; url: string }) => {
        const view = await client.call<NotificationWebhookView>('tenants.register-notification-webhook', { tenant: command.tenant, url: command.url });
        print(options.json, view, () => `${detailTable({ tenant: view.tenant, url: view.url ?? '' })}\n\nsigning secret (shown once): ${view.secret ?? ''}`);
      }),
    );
  webhook
    .command('remove')
    .description("remove the tenant's notification webhook: notifications stay on NATS only")
    .requiredOption('--tenant <tenant>')
    .action(
      withClient(async (client, options, command: { tenant: string }) => {
        const view = await client.call<NotificationWebhookView>('tenants.remove-notification-webhook', { tenant: command.tenant });
        print(options.json, view, () => detailTable({ tenant: view.tenant, url: 'none' }));
      }),
    );
}
