import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { OwnerPublicKeyView, OwnerWebhookView } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { detailTable, print } from './output.js';

/** `--public-key` names a file (PEM or base64) when one exists at that path, else it is the key itself. */
function publicKeyArgument(value: string): string {
  return existsSync(value) ? readFileSync(value, 'utf8') : value;
}

/**
 * `keyledger owners register-public-key`: the X25519 key an owner's new keys are sealed to;
 * `keyledger owners register-webhook`: an HTTPS URL they are also POSTed to, signed.
 */
export function registerOwnersCommand(program: Command, withClient: WithClient): void {
  const owners = program.command('owners').description('owners of keys: the public keys their new keys are sealed to, and their webhooks');
  owners
    .command('register-public-key')
    .description("register an owner's X25519 public key; its rotated keys are then delivered sealed to it")
    .requiredOption('--tenant <tenant>')
    .requiredOption('--owner <owner>')
    .requiredOption('--public-key <file|base64>', 'a PEM or base64 file, or base64 of the raw 32 bytes')
    .action(
      withClient(async (client, options, command: { tenant: string; owner: string; publicKey: string }) => {
        const view = await client.call<OwnerPublicKeyView>('owners.register-public-key', {
          tenant: command.tenant,
          owner: command.owner,
          publicKey: publicKeyArgument(command.publicKey),
        });
        print(options.json, view, () => detailTable({ tenant: view.tenant, owner: view.owner, 'public key': view.publicKey }));
      }),
    );
  owners
    .command('register-webhook')
    .description(
      "register an owner's HTTPS webhook: its rotated keys are also POSTed there, sealed to its public key and signed (header Keyledger-Signature); prints the signing secret once",
    )
    .requiredOption('--tenant <tenant>')
    .requiredOption('--owner <owner>')
    .requiredOption('--url <https-url>', 'https:// only; a 2xx answer acknowledges the key, anything else is retried')
    .action(
      withClient(async (client, options, command: { tenant: string; owner: string; url: string }) => {
        const view = await client.call<OwnerWebhookView>('owners.register-webhook', { tenant: command.tenant, owner: command.owner, url: command.url });
        print(
          options.json,
          view,
          () => `${detailTable({ tenant: view.tenant, owner: view.owner, url: view.url })}\n\nsigning secret (shown once): ${view.secret}`,
        );
      }),
    );
}
