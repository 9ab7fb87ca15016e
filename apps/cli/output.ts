import Table from 'cli-table3';
import { formatRefill } from '@keyledger/key-domain';
import { formatRateLimit } from './cli-options.js';
import type { KeyView } from './cli-types.js';

/** Prints for people (a table) or for scripts (`--json`, one JSON document). */
export function print(json: boolean, value: unknown, table: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${table()}\n`);
}

export function keyTable(keys: readonly KeyView[]): string {
  const table = new Table({ head: ['key id', 'tenant', 'owner', 'status', 'hint', 'scopes', 'expires'] });
  for (const key of keys) table.push([key.keyId, key.tenant, key.owner, key.status, key.hint, key.scopes.join(' '), key.expiresAt ?? 'never']);
  return table.toString();
}

export function detailTable(rows: Record<string, unknown>): string {
  const table = new Table();
  for (const [field, value] of Object.entries(rows)) table.push({ [field]: typeof value === 'string' ? value : JSON.stringify(value) });
  return table.toString();
}

export function keyDetail(key: KeyView): string {
  return detailTable({
    'key id': key.keyId,
    tenant: key.tenant,
    owner: key.owner,
    name: key.name ?? '',
    environment: key.environment,
    status: key.status,
    hint: key.hint,
    scopes: key.scopes.join(' ') || '(none)',
    'ip allowlist': key.ipAllowlist.join(' ') || '(any)',
    expires: key.expiresAt ?? 'never',
    'rate limits': key.rateLimits.map(formatRateLimit).join(' ') || '(none)',
    credits: key.credits ? `${key.credits.remaining} remaining${key.credits.refill ? `, refill ${formatRefill(key.credits.refill)}` : ''}` : '(none)',
    metadata: key.metadata,
    ...(key.rotatedFrom ? { 'rotated from': key.rotatedFrom } : {}),
    ...(key.rotation
      ? { 'replaced by': `${key.rotation.replacedBy} (${key.rotation.emergency ? 'emergency' : `grace until ${key.rotation.graceEndsAt}`})` }
      : {}),
    version: key.version,
  });
}
