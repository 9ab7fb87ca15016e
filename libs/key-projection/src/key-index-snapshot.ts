import { allowlistRanges } from '@keyledger/key-domain';
import type { NetworkDenial } from '@keyledger/key-domain';
import type { KeyExtras, KeyIndex, KeyIndexColumns } from './key-index.js';

/**
 * Bumped whenever the layout below changes, and whenever the index learns a key event it used
 * to skip: a snapshot of another format is not read. A writer that did not know an event still
 * moved its position past it, so its snapshot would hide that event from a newer reader for
 * good (2: KeyGraceEnded ends a grace early; the incident events count in a key's version; 3: each
 * revoked key's revocation time and the index's clock, by which keys are forgotten; 4: a
 * honeytoken's mark, in the extras: read from an older snapshot, a honeytoken would be a key
 * like any other and answer VALID; 5: source network denials and their streams' versions, in
 * the header: read from an older snapshot, a denied network would verify).
 * Other optional fields added to the extras (JSON in the header) alone need not change it: an
 * older snapshot reads them as absent.
 */
export const KEY_INDEX_SNAPSHOT_FORMAT = 5;
const MAGIC = 0x4b4c5831; // "KLX1"

type NumericColumn =
  'tenants' | 'owners' | 'prefixes' | 'scopes' | 'versions' | 'pepperVersions' | 'hintTails' | 'expiries' | 'statuses' | 'environments' | 'revokedAts';
/** Fixed-width columns in file order, with their element type. */
const COLUMNS: readonly [NumericColumn, Int32ArrayConstructor | Float64ArrayConstructor | Uint8ArrayConstructor][] = [
  ['tenants', Int32Array],
  ['owners', Int32Array],
  ['prefixes', Int32Array],
  ['scopes', Int32Array],
  ['versions', Int32Array],
  ['pepperVersions', Int32Array],
  ['hintTails', Int32Array],
  ['expiries', Float64Array],
  ['statuses', Uint8Array],
  ['environments', Uint8Array],
  ['revokedAts', Float64Array],
];

interface SnapshotHeader {
  readonly count: number;
  readonly keyIds: readonly string[];
  readonly strings: readonly string[];
  readonly scopeLists: readonly (readonly string[])[];
  readonly extras: readonly (readonly [number, Omit<KeyExtras, 'ipRanges'>])[];
  /** The index's clock (epoch ms). */
  readonly clock: number;
  readonly networkDenials: readonly NetworkDenial[];
  readonly networkVersions: readonly (readonly [string, number])[];
}

/** Thrown for bytes that are not a key index snapshot of this format. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/**
 * A KeyIndex as bytes: magic, a JSON header (key ids, interned values, the rare extras),
 * then each fixed-width column as raw little-endian bytes, so loading a million keys is a
 * few memory copies instead of a million event folds. Typed arrays use the platform's byte
 * order, which is little-endian on every platform Node runs Keyledger on (x64, arm64).
 */
export function encodeKeyIndex(index: KeyIndex): Buffer {
  const columns = index.toColumns();
  const header: SnapshotHeader = {
    count: columns.keyIds.length,
    keyIds: columns.keyIds,
    strings: columns.strings,
    scopeLists: columns.scopeLists,
    // Parsed ranges are rebuilt from the allowlist on load.
    extras: columns.extras.map(([slot, { ipRanges: _ranges, ...rest }]) => [slot, rest] as const),
    clock: columns.clock ?? 0,
    networkDenials: columns.networkDenials ?? [],
    networkVersions: columns.networkVersions ?? [],
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(MAGIC, 0);
  prefix.writeUInt32LE(headerBytes.length, 4);
  const parts: Uint8Array[] = [prefix, headerBytes, columns.digests];
  for (const [name] of COLUMNS) {
    const column = columns[name] ?? new Float64Array(columns.keyIds.length).fill(Number.NaN);
    parts.push(new Uint8Array(column.buffer, column.byteOffset, column.byteLength));
  }
  return Buffer.concat(parts);
}

/** Fills an empty index from snapshot bytes; SnapshotFormatError when they are not one. */
export function decodeKeyIndex(bytes: Buffer, into: KeyIndex): void {
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== MAGIC) throw new SnapshotFormatError('not a key index snapshot');
  const headerEnd = 8 + bytes.readUInt32LE(4);
  if (headerEnd > bytes.length) throw new SnapshotFormatError('truncated snapshot header');
  const header = JSON.parse(bytes.toString('utf8', 8, headerEnd)) as SnapshotHeader;
  const count = header.count;
  if (!Number.isSafeInteger(count) || count < 0 || header.keyIds.length !== count) throw new SnapshotFormatError('inconsistent key count');
  let offset = headerEnd;
  const take = (length: number): Uint8Array => {
    if (offset + length > bytes.length) throw new SnapshotFormatError('truncated snapshot column');
    // A copy, so each column starts aligned for its element type.
    const copy = new Uint8Array(bytes.subarray(offset, offset + length));
    offset += length;
    return copy;
  };
  const digests = take(count * 32);
  const numeric: Partial<Record<NumericColumn, Int32Array | Float64Array | Uint8Array>> = {};
  for (const [name, Type] of COLUMNS) numeric[name] = new Type(take(count * Type.BYTES_PER_ELEMENT).buffer as ArrayBuffer);
  if (offset !== bytes.length) throw new SnapshotFormatError('trailing bytes after the last column');
  const columns = {
    keyIds: header.keyIds,
    strings: header.strings,
    scopeLists: header.scopeLists,
    extras: header.extras.map(([slot, extras]) => [slot, { ...extras, ipRanges: allowlistRanges(extras.ipAllowlist) }] as const),
    digests,
    ...numeric,
    clock: Number.isFinite(header.clock) ? header.clock : 0,
    networkDenials: Array.isArray(header.networkDenials) ? header.networkDenials : [],
    networkVersions: Array.isArray(header.networkVersions) ? header.networkVersions : [],
  } as KeyIndexColumns;
  into.restore(columns);
}
