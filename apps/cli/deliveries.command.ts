import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { DeliveryKeyError, DeliverySigner } from '@keyledger/key-delivery';
import { VersionedSecretConfigError, parseDeliverySigningKeys } from '@keyledger/key-secrets';
import { CliUsageError, findLocalPath, isSystemError } from './nats-credentials.js';

/** Where `npm start` keeps a local installation's delivery signing keys. */
const LOCAL_SIGNING_KEYS = join('.keyledger', 'delivery-signing-keys');
/** The ConfigMap a Kubernetes installation gives its clients the public keys in. */
const CONFIG_MAP = 'keyledger-delivery-public-keys';

/**
 * The signing keys, from `KEYLEDGER_DELIVERY_SIGNING_KEYS` or a file: never from an argument,
 * which any user of the machine could read in the process list.
 */
async function signingKeys(file: string | undefined): Promise<string> {
  const env = process.env['KEYLEDGER_DELIVERY_SIGNING_KEYS'];
  if (file === undefined && env) return env;
  const path = file ?? findLocalPath(LOCAL_SIGNING_KEYS);
  if (path === undefined)
    throw new CliUsageError(`set KEYLEDGER_DELIVERY_SIGNING_KEYS or pass --signing-keys-file (no ${LOCAL_SIGNING_KEYS} of a local installation found)`);
  return (await readFile(path, 'utf8')).trim();
}

/** YAML's double-quoted scalars are JSON strings. */
const quoted = (text: string): string => JSON.stringify(text);

function configMap(publicKeys: string, namespace: string): string {
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${CONFIG_MAP}`,
    `  namespace: ${namespace}`,
    '  labels:',
    '    app.kubernetes.io/part-of: keyledger',
    'data:',
    `  KEYLEDGER_DELIVERY_PUBLIC_KEYS: ${quoted(publicKeys)}`,
    '',
  ].join('\n');
}

/**
 * `keyledger deliveries public-key`: the public keys that check key deliveries, derived from the
 * issuer's and rotator's signing keys, for clients (LiveKey's `deliveryPublicKeys`) and webhook
 * receivers. Public: it can be published anywhere.
 */
export function registerDeliveriesCommand(program: Command): void {
  const group = program.command('deliveries').description('key deliveries to owners (sealed, signed)');
  group
    .command('public-key')
    .description(
      'print the public keys deliveries are signed with (<version>:<base64>, current first), from KEYLEDGER_DELIVERY_SIGNING_KEYS or a local installation',
    )
    .addOption(
      new Option('--signing-keys-file <file>', `a file holding the signing keys (default: KEYLEDGER_DELIVERY_SIGNING_KEYS, else ${LOCAL_SIGNING_KEYS})`),
    )
    .addOption(new Option('--kubernetes-namespace <namespace>', `print them as the ConfigMap ${CONFIG_MAP} of this namespace (kubectl apply -f -)`))
    .action(async (command: { signingKeysFile?: string; kubernetesNamespace?: string }) => {
      try {
        const namespace = command.kubernetesNamespace;
        if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
          throw new CliUsageError(`${JSON.stringify(namespace)} is not a Kubernetes namespace`);
        const publicKeys = new DeliverySigner(parseDeliverySigningKeys(await signingKeys(command.signingKeysFile))).publicKeys();
        process.stdout.write(namespace === undefined ? `${publicKeys}\n` : configMap(publicKeys, namespace));
      } catch (error) {
        if (!(error instanceof VersionedSecretConfigError || error instanceof DeliveryKeyError || error instanceof CliUsageError || isSystemError(error)))
          throw error;
        process.stderr.write(`error: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
}
