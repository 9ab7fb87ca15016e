import type { KeyUsed, UsageTally } from '@keyledger/contracts';
import { MAX_USAGE_BATCH_SPAN_MS, columnarUsageBatch } from '@keyledger/contracts';

/** A batch ready to publish: its id (the message's `Nats-Msg-Id`) and its JSON. */
export interface EncodedUsageBatch {
  readonly batchId: string;
  readonly records: number;
  readonly payload: string;
}

/** What a batch says besides its records. */
export interface UsageBatchHeader {
  /** The verifier instance that answered the verifications. */
  readonly instance: string;
  /** When the batch is formed (ms since the epoch). */
  readonly createdAt: number;
  /** A new, unique batch id for each message. */
  readonly newBatchId: () => string;
}

/** Records that share every field but their time: the first of them (whose fields are the group's), and each record's time. */
interface Group {
  readonly first: KeyUsed;
  readonly at: number[];
}

/** Groups of one key or fingerprint compared field by field before the exact key is built. */
const SCAN_LIMIT = 8;

/**
 * The records of one usage batch as it forms, grouped by everything but their time. Most
 * records of a batch repeat one of a few others of the same key, so a record is looked up by
 * its key id (or fingerprint) in a Map (V8 keeps a string's hash, so a key id from the key index
 * is hashed once) and compared field by field with that key's first SCAN_LIMIT groups; a key
 * with more groups in the batch (many addresses, say) is looked up further by `usageGroupKey`,
 * a string of every field, which costs a few hundred nanoseconds to build and hash. The lookup
 * only narrows: a record joins a group only with every field equal. `encode` writes the version 3
 * batch (`usageBatchV3Schema`: the groups as columns, each distinct value once), split into as
 * many messages as its size needs.
 */
export class UsageGroups {
  /** Every group, in the order of their first records. */
  private readonly groups: Group[] = [];
  /** The first SCAN_LIMIT groups of each key id, fingerprint, or '' (neither). */
  private readonly byName = new Map<string, Group[]>();
  /** The other groups, by `usageGroupKey`. */
  private readonly byKey = new Map<string, Group>();
  private count = 0;
  /** Counts of verifications of strings that named no key, published with the batch (`UnknownKeyTally`). */
  private tallies: readonly UsageTally[] = [];
  private earliest = Number.POSITIVE_INFINITY;
  private latest = Number.NEGATIVE_INFINITY;
  private sealed = false;

  /** How many records were added. */
  get records(): number {
    return this.count;
  }

  /** True when a record at `at` can join: the batch then still spans at most MAX_USAGE_BATCH_SPAN_MS. */
  admits(at: number): boolean {
    return Math.max(this.latest, at) - Math.min(this.earliest, at) <= MAX_USAGE_BATCH_SPAN_MS;
  }

  /** Adds a record (the caller checks `admits` first). */
  add(record: KeyUsed): void {
    if (this.sealed) throw new Error('a sealed usage batch takes no more records');
    this.join(record);
    this.count += 1;
    if (record.at < this.earliest) this.earliest = record.at;
    if (record.at > this.latest) this.latest = record.at;
  }

  private join(record: KeyUsed): void {
    const name = record.keyId ?? record.fingerprint ?? '';
    let scanned = this.byName.get(name);
    if (scanned === undefined) {
      scanned = [];
      this.byName.set(name, scanned);
    }
    for (const group of scanned) {
      if (sameButTime(group.first, record)) {
        group.at.push(record.at);
        return;
      }
    }
    // Equal records fail the same scan, so a group is found either there or by its key, never both.
    if (scanned.length < SCAN_LIMIT) {
      scanned.push(this.newGroup(record));
      return;
    }
    const key = usageGroupKey(record);
    const group = this.byKey.get(key);
    if (group === undefined) this.byKey.set(key, this.newGroup(record));
    else group.at.push(record.at);
  }

  private newGroup(record: KeyUsed): Group {
    // Room for one time: most groups of a varied batch keep one record, and `[]` would reserve 17.
    const group: Group = { first: record, at: [record.at] };
    this.groups.push(group);
    return group;
  }

  /** Publishes these tallies with the batch, in messages of their own. */
  addTallies(tallies: readonly UsageTally[]): void {
    if (this.sealed) throw new Error('a sealed usage batch takes no more tallies');
    this.tallies = this.tallies.length === 0 ? tallies : [...this.tallies, ...tallies];
  }

  /** True when the batch holds neither records nor tallies. */
  get empty(): boolean {
    return this.count === 0 && this.tallies.length === 0;
  }

  /**
   * Takes no more records, and lets go of what finding a group needs (the lookups), keeping what
   * `encode` needs (each group's first record and times): a batch waiting to be published (many
   * of them while JetStream is unreachable) holds little more than its JSON would.
   */
  seal(): void {
    this.sealed = true;
    this.byName.clear();
    this.byKey.clear();
  }

  /**
   * The batch as messages of at most `maxBytes` each (a single record is sent whatever its
   * size): one when it fits, else its records halved, splitting a group where the halves meet,
   * until each half fits. Each message is a batch of its own, with its own id and `since`.
   */
  encode(header: UsageBatchHeader, maxBytes: number): EncodedUsageBatch[] {
    const messages = this.count === 0 ? [] : encodeGroups(this.groups, this.count, header, maxBytes);
    return this.tallies.length === 0 ? messages : [...messages, ...encodeTallies(this.tallies, header, maxBytes)];
  }
}

/**
 * Tallies as batches of their own (no groups; `since` is the batch's `createdAt`), halved until
 * each message fits in `maxBytes`. They count no records: a message's `records` is 0.
 */
function encodeTallies(tallies: readonly UsageTally[], header: UsageBatchHeader, maxBytes: number): EncodedUsageBatch[] {
  if (tallies.length > MAX_TALLIES_PER_MESSAGE) {
    const half = Math.ceil(tallies.length / 2);
    return [...encodeTallies(tallies.slice(0, half), header, maxBytes), ...encodeTallies(tallies.slice(half), header, maxBytes)];
  }
  const batchId = header.newBatchId();
  const payload = JSON.stringify(columnarUsageBatch({ batchId, instance: header.instance, createdAt: header.createdAt }, [], tallies));
  if (tallies.length > 1 && Buffer.byteLength(payload) > maxBytes) {
    const half = Math.ceil(tallies.length / 2);
    return [...encodeTallies(tallies.slice(0, half), header, maxBytes), ...encodeTallies(tallies.slice(half), header, maxBytes)];
  }
  return [{ batchId, records: 0, payload }];
}

/** A batch message's tallies at most (the schema's MAX_USAGE_BATCH_TALLIES). */
const MAX_TALLIES_PER_MESSAGE = 10_000;

function encodeGroups(groups: readonly Group[], records: number, header: UsageBatchHeader, maxBytes: number): EncodedUsageBatch[] {
  const batchId = header.newBatchId();
  const payload = payloadOf(groups, batchId, header);
  if (records === 1 || Buffer.byteLength(payload) <= maxBytes) return [{ batchId, records, payload }];
  const half = Math.ceil(records / 2);
  const [first, second] = divide(groups, half);
  return [...encodeGroups(first, half, header, maxBytes), ...encodeGroups(second, records - half, header, maxBytes)];
}

function payloadOf(groups: readonly Group[], batchId: string, header: UsageBatchHeader): string {
  const batch = columnarUsageBatch(
    { batchId, instance: header.instance, createdAt: header.createdAt },
    groups.map((group) => ({ fields: group.first, at: group.at })),
  );
  return JSON.stringify(batch);
}

/** The groups' first `count` records, and the rest. */
function divide(groups: readonly Group[], count: number): [Group[], Group[]] {
  const first: Group[] = [];
  const second: Group[] = [];
  let left = count;
  for (const group of groups) {
    if (left >= group.at.length) first.push(group);
    else if (left === 0) second.push(group);
    else {
      first.push({ ...group, at: group.at.slice(0, left) });
      second.push({ ...group, at: group.at.slice(left) });
    }
    left = Math.max(0, left - group.at.length);
  }
  return [first, second];
}

function sameButTime(a: KeyUsed, b: KeyUsed): boolean {
  if (a.keyId !== b.keyId || a.fingerprint !== b.fingerprint || a.tenant !== b.tenant || a.ip !== b.ip) return false;
  if (a.code !== b.code || a.cost !== b.cost || a.transport !== b.transport || a.honeytoken !== b.honeytoken) return false;
  if (a.scopes === b.scopes) return true;
  if (a.scopes.length !== b.scopes.length) return false;
  for (let i = 0; i < a.scopes.length; i += 1) if (a.scopes[i] !== b.scopes[i]) return false;
  return true;
}

/**
 * A string that is the same for two records exactly when they are equal in everything but
 * `at` (`UsageGroups` builds it only for a key with many groups in a batch). The address and
 * the scopes come from requests and may hold any character, so every string is written as its
 * length, a colon and itself, and a missing one as `-` (which no length starts with): no
 * content can make two different records meet.
 */
export function usageGroupKey(record: KeyUsed): string {
  let key = `${text(record.keyId)}${text(record.fingerprint)}${text(record.tenant)}${text(record.ip)}${text(record.code)}${text(record.transport)}${record.honeytoken ? 'h' : ''}${record.cost};${record.scopes.length}`;
  for (const scope of record.scopes) key += `:${scope.length}:${scope}`;
  return key;
}

function text(value: string | undefined): string {
  return value === undefined ? '-' : `${value.length}:${value}`;
}
