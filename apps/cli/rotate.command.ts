import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { KeyView } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { graceOption, quietPeriodOption } from './cli-options.js';
import type { KeySettingOptions } from './key-settings.js';
import { keySettingsChange, withKeySettingOptions } from './key-settings.js';
import { keyDetail, print } from './output.js';
import { EXIT_CODES } from './cli-failure.js';

interface RotateOptions extends KeySettingOptions {
  grace?: number;
  quietPeriod?: number | 'none';
  emergency: boolean;
}

interface RotateAnswer {
  readonly keyId: string;
  readonly key: string;
  readonly view: KeyView;
  readonly previous: KeyView;
  /** An emergency rotation's wait for the verifiers to refuse the old key. */
  readonly fence?: { readonly complete: boolean; readonly waitedMs: number; readonly verifiers: readonly { instance: string; applied: boolean }[] };
}

/** `keyledger keys rotate ID`: replaces a key, prints the new key once and when the old one stops working. */
export function registerRotateCommand(keys: Command, withClient: WithClient): void {
  withKeySettingOptions(keys.command('rotate <keyId>'), 'the new key')
    .description('replace a key by a new one with the same settings; prints the new key once')
    .option('--grace <duration>', 'how long the old key stays valid, e.g. 1h (default: the installation’s, 24h)', graceOption)
    .option(
      '--quiet-period <duration>',
      'end the old key’s grace early once it is unused this long, e.g. 15m, or none (default: the rotation policy’s)',
      quietPeriodOption,
    )
    .option('--emergency', 'revoke the old key at once (no grace)', false)
    .action(
      withClient(async (client, options, keyId: string, command: RotateOptions) => {
        if (command.emergency && command.grace !== undefined && command.grace > 0)
          throw new InvalidArgumentError('an emergency rotation has no grace period: drop --grace or --emergency');
        const answer = await client.call<RotateAnswer>('keys.rotate', {
          keyId,
          graceMs: command.grace,
          ...(command.quietPeriod === undefined ? {} : { quietPeriodMs: command.quietPeriod === 'none' ? null : command.quietPeriod }),
          emergency: command.emergency,
          ...keySettingsChange(command),
        });
        const until = answer.previous.rotation?.emergency ? 'revoked now' : `valid until ${answer.previous.rotation?.graceEndsAt ?? '?'}`;
        print(options.json, answer, () => `${keyDetail(answer.view)}\n\nold key ${answer.previous.keyId}: ${until}\nkey (shown once): ${answer.key}`);
        // The new key is printed above (it is shown once), yet the old one may still verify somewhere: say so and fail.
        if (answer.fence && !answer.fence.complete) {
          const unconfirmed = answer.fence.verifiers.filter((verifier) => !verifier.applied).map((verifier) => verifier.instance);
          process.stderr.write(
            `error: VERIFIERS_UNCONFIRMED: the old key ${answer.previous.keyId} is revoked, but verifier(s) ${unconfirmed.join(', ')} did not confirm it within ${answer.fence.waitedMs} ms; they may accept it until they catch up\n`,
          );
          return EXIT_CODES.retry;
        }
      }),
    );
}
