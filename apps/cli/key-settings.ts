import type { Command } from 'commander';
import type { CreditRefill, RateLimit } from '@keyledger/contracts';
import { collect, commaList, creditAmount, creditsSetting, expiresIn, metaEntry, rateLimitEntry, refillOption } from './cli-options.js';

/** The setting options `keys update` and `keys rotate` share, as commander parses them. */
export interface KeySettingOptions {
  name?: string;
  scopes?: string[];
  allowIp?: string[];
  expiresIn?: string;
  expiry: boolean;
  meta?: Record<string, string>;
  rateLimit?: RateLimit[] | false;
  credits?: number | false;
  refill?: CreditRefill;
}

/** Adds the options that change a key's settings; `of` names the key they apply to ("the key", "the new key"). */
export function withKeySettingOptions(command: Command, of: string): Command {
  return command
    .option('--name <name>', `name of ${of}`)
    .option('--scopes <list>', `scopes of ${of}, replacing them (comma-separated)`, commaList)
    .option('--allow-ip <cidr>', `allowlist of ${of}, replacing it (repeatable)`, collect)
    .option('--expires-in <duration>', `expiry of ${of}, from now`, expiresIn)
    .option('--no-expiry', `${of} does not expire`)
    .option('--meta <key=value>', `metadata of ${of}, replacing it (repeatable)`, metaEntry)
    .option('--rate-limit <limit/window>', `rate limits of ${of}, replacing them (repeatable)`, rateLimitEntry)
    .option('--no-rate-limit', `${of} has no rate limit`)
    .option('--credits <n>', `quota of ${of}: the balance of the current period`, creditAmount)
    .option('--refill <amount/interval>', 'with the quota: AMOUNT/daily or AMOUNT/monthly[@DAY]', refillOption)
    .option('--no-credits', `${of} has no quota`);
}

/** The settings part of a `keys.update` or `keys.rotate` request. */
export function keySettingsChange(command: KeySettingOptions) {
  return {
    name: command.name,
    scopes: command.scopes,
    ipAllowlist: command.allowIp,
    metadata: command.meta,
    expiresAt: command.expiry === false ? null : command.expiresIn,
    rateLimits: command.rateLimit === false ? [] : command.rateLimit,
    credits: command.credits === false ? null : creditsSetting(command.credits, command.refill),
  };
}
