import Table from 'cli-table3';
import { formatRefill } from '@keyledger/key-domain';
import { formatRateLimit } from './cli-options.js';
import type { KeyView, VerifyResult } from './cli-types.js';

/**
 * Colour only for a person at a terminal: never into a file or a pipe, never with NO_COLOR set
 * (no-color.org) or on a dumb terminal.
 */
export function useColour(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
}

const COLOUR = useColour(process.stdout, process.env);

/** Every table the CLI prints: headings and borders coloured only when `useColour` says so. */
export function newTable(head?: readonly string[]): Table.Table {
  return new Table({
    ...(head ? { head: [...head] } : {}),
    style: COLOUR ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] },
  });
}

/** Prints for people (a table) or for scripts (`--json`, one JSON document). */
export function print(json: boolean, value: unknown, table: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${table()}\n`);
}

/** A key's status as a person needs it: a rotated key still in use says until when; a honeytoken says so. */
export function statusLabel(key: KeyView): string {
  const leaked = `${key.honeytoken ? ', HONEYTOKEN' : ''}${key.leakReportedAt ? ', LEAKED' : ''}`;
  if (key.rotation && key.status === 'active') return `active${leaked}, replaced: in grace until ${key.rotation.graceEndsAt}`;
  return `${key.status}${leaked}`;
}

export function keyTable(keys: readonly KeyView[]): string {
  const table = newTable(['key id', 'tenant', 'owner', 'status', 'hint', 'scopes', 'expires']);
  for (const key of keys) table.push([key.keyId, key.tenant, key.owner, statusLabel(key), key.hint, key.scopes.join(' ') || '(none)', key.expiresAt ?? 'never']);
  return table.toString();
}

export function detailTable(rows: Record<string, unknown>): string {
  const table = newTable();
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
    status: statusLabel(key),
    hint: key.hint,
    scopes: key.scopes.join(' ') || '(none)',
    'ip allowlist': key.ipAllowlist.join(' ') || '(any)',
    expires: key.expiresAt ?? 'never',
    'rate limits': key.rateLimits.map(formatRateLimit).join(' ') || '(none)',
    credits: key.credits ? `${key.credits.remaining} remaining${key.credits.refill ? `, refill ${formatRefill(key.credits.refill)}` : ''}` : '(none)',
    metadata: Object.entries(key.metadata).map(([name, value]) => `${name}=${value}`).join(' ') || '(none)',
    ...(key.honeytoken ? { honeytoken: 'yes: never to be used; every verification answers NOT_FOUND and is a critical anomaly' } : {}),
    ...(key.leakReportedAt ? { 'reported leaked': key.leakReportedAt } : {}),
    ...(key.rotatedFrom ? { 'rotated from': key.rotatedFrom } : {}),
    ...(key.rotation
      ? { 'replaced by': `${key.rotation.replacedBy} (${key.rotation.emergency ? 'emergency' : `grace until ${key.rotation.graceEndsAt}`})` }
      : {}),
    version: key.version,
  });
}

/** A verification answer for people: absent fields left out, lists and metadata as words, never raw JSON. */
export function verifyDetail(result: VerifyResult): string {
  return detailTable({
    result: result.valid ? 'VALID' : result.reason ? `${result.code} (${result.reason === 'ip' ? 'the caller is outside its IP allowlist' : 'another environment'})` : result.code,
    ...(result.keyId === undefined ? {} : { 'key id': result.keyId }),
    ...(result.tenant === undefined ? {} : { tenant: result.tenant }),
    ...(result.owner === undefined ? {} : { owner: result.owner }),
    ...(result.env === undefined ? {} : { environment: result.env }),
    ...(result.scopes === undefined ? {} : { scopes: result.scopes.join(' ') || '(none)' }),
    ...(result.expiresAt === undefined ? {} : { expires: result.expiresAt ?? 'never' }),
    ...(result.meta === undefined || Object.keys(result.meta).length === 0
      ? {}
      : { metadata: Object.entries(result.meta).map(([name, value]) => `${name}=${value}`).join(' ') }),
    ...(result.remaining === undefined ? {} : { 'credits left': String(result.remaining) }),
    ...(result.reset === undefined ? {} : { 'limit resets': result.reset }),
  });
}
