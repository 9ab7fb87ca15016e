import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { KeyView } from '@keyledger/contracts';
import type { KeyledgerClient } from './api-client.js';
import type { KeySettingOptions } from './key-settings.js';
import { keySettingsChange, withKeySettingOptions } from './key-settings.js';
import { keyDetail, print } from './output.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--grace 1h`, `30m`, `7d`, `0s`: a duration in milliseconds. */
export function graceOption(text: string): number {
  const match = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 1h, 30m, 7d or 0s');
  return Number(match[1]) * UNITS[match[2]!]!;
}

type WithClient = <A extends unknown[]>(
  action: (client: KeyledgerClient, options: { json: boolean }, ...args: A) => Promise<number | void>,
) => (...args: A) => Promise<void>;

interface RotateOptions extends KeySettingOptions {
  grace?: number;
  quietPeriod?: number | 'none';
  emergency: boolean;
}

/** `--quiet-period 15m` or `none`. */
function quietPeriodOption(text: string): number | 'none' {
  if (text.trim() === 'none') return 'none';
  const ms = graceOption(text);
  if (ms < 1000) throw new InvalidArgumentError('expected a duration of at least 1s, or none');
  return ms;
}

interface RotateAnswer {
  readonly keyId: string;
  readonly key: string;
  readonly view: KeyView;
  readonly previous: KeyView;
  readonly fence?: unknown;
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
      }),
    );
}
