import type { Command } from 'commander';
import type { RotationUsage } from '@keyledger/contracts';
import type { WithClient } from './api-client.js';
import { detailTable, newTable, print } from './output.js';
import { formatDuration } from './rotation-policy.command.js';

function graceText(usage: RotationUsage): string {
  if (usage.emergency) return 'none (emergency: revoked at once)';
  if (usage.graceEnded) return `ended early at ${usage.graceEnded.at} (${usage.graceEnded.reason}); was until ${usage.graceEndsAt}`;
  return `until ${usage.graceEndsAt}`;
}

function rotationUsageText(usage: RotationUsage): string {
  const head = detailTable({
    'old key': usage.keyId,
    'new key': usage.replacedBy,
    tenant: usage.tenant,
    owner: usage.owner,
    'rotated at': usage.rotatedAt ?? 'unknown',
    grace: graceText(usage),
    'quiet period': usage.quietPeriodMs === null ? 'none (the grace runs its full length)' : formatDuration(usage.quietPeriodMs, ''),
    'old key now': `${usage.status}${usage.expiresAt ? ` (expires ${usage.expiresAt})` : ''}`,
    'last used': usage.lastUsedAt ?? 'never',
    'calls since rotation': `${usage.sinceRotation.calls} (${usage.sinceRotation.invalid} invalid)`,
    'usage known until': usage.ingestedUntil ?? 'unknown',
  });
  if (usage.sinceRotation.sources.length === 0) return `${head}\n(nobody used the old key since the rotation)`;
  const sources = newTable(['source ip', 'calls', 'invalid', 'last seen']);
  for (const s of usage.sinceRotation.sources) sources.push([s.ip || '(none)', String(s.calls), String(s.invalid), s.lastSeenAt ?? 'unknown']);
  return `${head}\n${sources.toString()}`;
}

/** `keyledger keys rotation ID`: a rotation (by the old key or the new one) and who still uses the old key. */
export function registerRotationUsageCommand(keys: Command, withClient: WithClient): void {
  keys
    .command('rotation <keyId>')
    .description('show the rotation of a key (old or new id) and who still uses the old key: source addresses, calls and last seen')
    .action(
      withClient(async (client, options, keyId: string) => {
        const usage = await client.call<RotationUsage>('usage.rotation', { keyId });
        print(options.json, usage, () => rotationUsageText(usage));
      }),
    );
}
