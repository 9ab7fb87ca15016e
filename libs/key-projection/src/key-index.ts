import type { CreditsConsumedData, EventEnvelope, KeyDigest, KeyEvent, NetworkEvent, RateLimit } from '@keyledger/contracts';
import { networkAggregateId } from '@keyledger/contracts';
import type { CreditState, IpRange, KeyEnvironment, KeyRecord, KeyRotation, NetworkDenial, RecordedKeyStatus } from '@keyledger/key-domain';
import {
  KEY_ENVIRONMENTS,
  KEY_RETENTION_MS,
  NetworkDenialTable,
  RECORDED_KEY_STATUSES,
  consumeCredits,
  evolveKey,
  retainedUntil,
  takesQuotaSlot,
} from '@keyledger/key-domain';
import { timeOfPrefixedId } from '@keyledger/ids';
import { DigestTable } from './digest-table.js';
import { InternedValues } from './interned-values.js';

// Incident events change nothing but the key's version; applying them keeps the index's version equal to the stream's.
const KEY_EVENTS = new Set([
  'KeyIssued',
  'KeyUpdated',
  'KeySuspended',
  'KeyResumed',
  'KeyRevoked',
  'KeyCreditsToppedUp',
  'KeyRotated',
  'KeyGraceEnded',
  'KeyLeakReported',
  'AnomalyDetected',
  'KeyIncidentHandled',
  'AnomalyAcknowledged',
]);
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_RANGES: readonly IpRange[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
const NO_RATE_LIMITS: readonly RateLimit[] = Object.freeze([]);
const NOT_PACKED = -1;
/** Records kept built, direct-mapped by slot (a power of two); the rest are built on demand. */
const BUILT_RECORDS = 4096;
const NO_SLOT = -1;
const REVOKED = RECORDED_KEY_STATUSES.indexOf('revoked');
/** Forgotten keys are swept out when the events' time enters a new hour: a few scans a day, not one per event. */
export const KEY_SWEEP_INTERVAL_MS = 3_600_000;
/**
 * A key is swept out this long after its retention ends, by the events' time: an event decided
 * just before the end (the decider's own clock) and stored a moment later is still applied.
 */
export const KEY_EVICTION_MARGIN_MS = 3_600_000;

/** What few keys have: kept aside so the many keys without them pay nothing. */
export interface KeyExtras {
  readonly name: string | undefined;
  readonly ipAllowlist: readonly string[];
  readonly ipRanges: readonly IpRange[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Absent in snapshots taken before keys had rate limits. */
  readonly rateLimits?: readonly RateLimit[] | undefined;
  /** Absent in snapshots taken before keys had quotas. */
  readonly credits?: CreditState | undefined;
  /** A hint not of the usual `<prefix>_<env>_…<last 4>` shape. */
  readonly hint: string | undefined;
  /** Absent in snapshots taken before rotations (the grace end is folded into the expiry column). */
  readonly rotatedFrom?: string | undefined;
  readonly rotation?: KeyRotation | undefined;
  readonly leakReportedAt?: number | undefined;
  readonly honeytoken?: true | undefined;
}

/** A KeyIndex's whole state, column by column, as a snapshot holds it. */
export interface KeyIndexColumns {
  readonly keyIds: readonly string[];
  readonly strings: readonly string[];
  readonly scopeLists: readonly (readonly string[])[];
  readonly extras: readonly (readonly [number, KeyExtras])[];
  /** 32 bytes per key. */
  readonly digests: Uint8Array;
  readonly tenants: Int32Array;
  readonly owners: Int32Array;
  readonly prefixes: Int32Array;
  readonly scopes: Int32Array;
  readonly versions: Int32Array;
  readonly pepperVersions: Int32Array;
  readonly hintTails: Int32Array;
  readonly expiries: Float64Array;
  readonly statuses: Uint8Array;
  readonly environments: Uint8Array;
  /** When each revoked key was revoked (epoch ms; NaN when not revoked, or not known). Absent: none known. */
  readonly revokedAts?: Float64Array;
  /** The newest event time the index has applied (epoch ms; 0 before any): its clock for forgetting keys. */
  readonly clock?: number;
  /** The source network denials held. Absent: none. */
  readonly networkDenials?: readonly NetworkDenial[];
  /** Each network stream's version applied, by its aggregate id. Absent: none. */
  readonly networkVersions?: readonly (readonly [string, number])[];
}

/** An event of a key arrived while an earlier one of the same key was never applied. */
export class KeyVersionGapError extends Error {
  constructor(
    readonly keyId: string,
    readonly expected: number,
    readonly received: number,
  ) {
    super(`key ${keyId}: version ${received} arrived, but version ${expected} was never applied`);
    this.name = 'KeyVersionGapError';
  }
}

/**
 * Every key's record in memory, found by digest (to verify) or by id (to manage). Events
 * are applied in stream-version order; a repeated event is ignored, so replays and
 * redeliveries are harmless.
 *
 * A key revoked or expired more than KEY_RETENTION_MS ago is forgotten (`retainedUntil`), so
 * memory holds the live keys and a month of dead ones, not every key ever issued. The index's
 * clock is the time of the newest event it applied, never the wall clock: the same events give
 * the same index, whether applied live, replayed from the store or restored from a snapshot.
 *
 * Held column by column (a typed array per field, repeated values interned, 32-byte digests
 * in a DigestTable) rather than as an object per key: at a million keys an object graph
 * costs about 500 bytes a key, the columns under 200. A KeyRecord is built on demand.
 */
export class KeyIndex {
  private digests = new DigestTable();
  private readonly slotsById = new Map<string, number>();
  private extras = new Map<number, KeyExtras>();
  /**
   * Built records of recently read keys: a busy key is read again and again, and building
   * its record each time would cost more than finding it. Bounded, so memory stays columnar.
   * Direct-mapped (slot modulo the size) rather than a Map: a miss costs a comparison, where
   * with many keys in use a Map paid for an insertion and, now and then, a clear.
   */
  private readonly builtSlots = new Int32Array(BUILT_RECORDS).fill(NO_SLOT);
  private readonly builtRecords: KeyRecord[] = new Array<KeyRecord>(BUILT_RECORDS);
  private readonly strings = new InternedValues<string>((value) => value);
  private readonly scopeLists = new InternedValues<readonly string[]>((scopes) => scopes.join(' '));
  private keyIds: string[] = [];
  private tenants = new Int32Array(1024);
  private owners = new Int32Array(1024);
  private prefixes = new Int32Array(1024);
  private scopes = new Int32Array(1024);
  private versions = new Int32Array(1024);
  private pepperVersions = new Int32Array(1024);
  /** Epoch milliseconds; NaN for a key that never expires. */
  private expiries = new Float64Array(1024);
  /** Index into RECORDED_KEY_STATUSES. */
  private statuses = new Uint8Array(1024);
  /** Index into KEY_ENVIRONMENTS. */
  private environments = new Uint8Array(1024);
  /** The hint's last four characters packed 7 bits each, or NOT_PACKED. */
  private hintTails = new Int32Array(1024);
  /** When each key was revoked (epoch ms), from its KeyRevoked's time; NaN when not revoked or not known. */
  private revokedAts = new Float64Array(1024).fill(Number.NaN);
  /** The newest event time applied (epoch ms). */
  private clock = 0;
  /** The sweep boundary last swept (epoch ms, a multiple of KEY_SWEEP_INTERVAL_MS). */
  private sweptAt = 0;
  /** Keys not revoked, by interned tenant: an upper bound of a tenant's live keys, kept without a scan. */
  private readonly unrevokedByTenant = new Map<number, number>();
  /** Source networks every verifier refuses (SourceNetworkDenied), forgotten by the same clock as keys. */
  readonly networkDenials = new NetworkDenialTable();
  /** Each network stream's version applied: a repeated or older event of it changes nothing. */
  private readonly networkVersions = new Map<string, number>();

  get size(): number {
    return this.keyIds.length;
  }

  /** The state as columns trimmed to the number of keys (views, not copies: encode at once). */
  toColumns(): KeyIndexColumns {
    const count = this.keyIds.length;
    return {
      keyIds: this.keyIds,
      strings: this.strings.all(),
      scopeLists: this.scopeLists.all(),
      extras: [...this.extras],
      digests: this.digests.digestBytes(count),
      tenants: this.tenants.subarray(0, count),
      owners: this.owners.subarray(0, count),
      prefixes: this.prefixes.subarray(0, count),
      scopes: this.scopes.subarray(0, count),
      versions: this.versions.subarray(0, count),
      pepperVersions: this.pepperVersions.subarray(0, count),
      hintTails: this.hintTails.subarray(0, count),
      expiries: this.expiries.subarray(0, count),
      statuses: this.statuses.subarray(0, count),
      environments: this.environments.subarray(0, count),
      revokedAts: this.revokedAts.subarray(0, count),
      clock: this.clock,
      networkDenials: this.networkDenials.list(),
      networkVersions: [...this.networkVersions],
    };
  }

  /** Fills an empty index with exactly the given state (from a snapshot). */
  restore(columns: KeyIndexColumns): void {
    if (this.size > 0) throw new Error('only an empty key index can be restored from a snapshot');
    const count = columns.keyIds.length;
    for (const value of columns.strings) this.strings.idOf(value);
    for (const list of columns.scopeLists) this.scopeLists.idOf(Object.freeze(list.map((scope) => this.strings.valueOf(this.strings.idOf(scope)))));
    while (this.tenants.length < count) this.grow();
    this.keyIds = [...columns.keyIds];
    this.keyIds.forEach((keyId, slot) => this.slotsById.set(keyId, slot));
    for (let slot = 0; slot < count; slot += 1) this.digests.add(slot, columns.digests.subarray(slot * 32, slot * 32 + 32));
    for (const [slot, extras] of columns.extras) this.extras.set(slot, extras);
    this.tenants.set(columns.tenants);
    this.owners.set(columns.owners);
    this.prefixes.set(columns.prefixes);
    this.scopes.set(columns.scopes);
    this.versions.set(columns.versions);
    this.pepperVersions.set(columns.pepperVersions);
    this.hintTails.set(columns.hintTails);
    this.expiries.set(columns.expiries);
    this.statuses.set(columns.statuses);
    this.environments.set(columns.environments);
    if (columns.revokedAts) this.revokedAts.set(columns.revokedAts);
    this.clock = columns.clock ?? 0;
    this.networkDenials.restore(columns.networkDenials ?? []);
    for (const [stream, version] of columns.networkVersions ?? []) this.networkVersions.set(stream, version);
    // Every boundary up to the clock's was swept by the index the snapshot was taken of.
    this.sweptAt = sweepBoundary(this.clock);
    for (let slot = 0; slot < count; slot += 1) if (this.statuses[slot] !== REVOKED) this.countUnrevoked(this.tenants[slot]!, 1);
  }

  /** The key whose digest under `pepperVersion` is `digest`, if any. */
  findByDigest(digest: Uint8Array, pepperVersion: number): KeyRecord | undefined {
    const slot = this.digests.find(digest);
    return slot >= 0 && this.pepperVersions[slot] === pepperVersion ? this.recordAt(slot) : undefined;
  }

  get(keyId: string): KeyRecord | undefined {
    const slot = this.slotsById.get(keyId);
    return slot === undefined ? undefined : this.recordAt(slot);
  }

  /** Every key, in the order they were added (a record is built for each: for scans, not the hot path). */
  *all(): IterableIterator<KeyRecord> {
    for (let slot = 0; slot < this.keyIds.length; slot += 1) yield this.buildRecord(slot);
  }

  /**
   * Keys of a tenant, in key id (creation) order: those after key id `after`, at most `limit`.
   * Records are built only for the keys returned, so paging through a large tenant stays cheap.
   */
  listByTenant(tenant: string, page: { readonly after?: string; readonly limit?: number } = {}): KeyRecord[] {
    const id = this.strings.find(tenant);
    if (id === undefined) return [];
    const { after, limit = Number.POSITIVE_INFINITY } = page;
    const slots: number[] = [];
    for (let slot = 0; slot < this.keyIds.length; slot += 1)
      if (this.tenants[slot] === id && (after === undefined || this.keyIds[slot]! > after)) slots.push(slot);
    slots.sort((a, b) => (this.keyIds[a]! < this.keyIds[b]! ? -1 : 1));
    return slots.slice(0, limit).map((slot) => this.recordAt(slot));
  }

  /** Keys of a tenant not revoked, expired ones included: at once, without a scan. */
  unrevokedKeyCount(tenant: string): number {
    const id = this.strings.find(tenant);
    return id === undefined ? 0 : (this.unrevokedByTenant.get(id) ?? 0);
  }

  /** Keys of a tenant that take a slot of its quota at `now` (`takesQuotaSlot`): a scan of the columns, no record built. */
  liveKeyCount(tenant: string, now: number): number {
    const id = this.strings.find(tenant);
    if (id === undefined) return 0;
    let live = 0;
    for (let slot = 0; slot < this.keyIds.length; slot += 1) {
      if (this.tenants[slot] !== id) continue;
      const expiry = this.expiries[slot]!;
      if (takesQuotaSlot(RECORDED_KEY_STATUSES[this.statuses[slot]!]!, Number.isNaN(expiry) ? undefined : expiry, now)) live += 1;
    }
    return live;
  }

  /**
   * Applies a stored event; returns false when it was not a key event, or one already applied.
   * A key's own events carry its version, and only the version after the one held is applied
   * (1 for a key not held): a repeat, and a genuine but old event replayed after later ones (a
   * sealed KeyResumed re-sent after the KeyRevoked that followed it), change nothing. A version
   * beyond the next throws KeyVersionGapError: an event of the key was never applied, and going
   * on would leave the key wrong for good (a missed revocation verifies), so the caller must
   * stop. CreditsConsumed events (one verifier's stream, many keys) carry no key version: the
   * caller applies each once, in store order.
   */
  apply(event: Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'> & { readonly occurredAt?: string }): boolean {
    const at = event.occurredAt === undefined ? Number.NaN : Date.parse(event.occurredAt);
    if (at > this.clock) this.clock = at;
    const applied =
      event.type === 'CreditsConsumed'
        ? this.consume(event.data as CreditsConsumedData)
        : event.type === 'SourceNetworkDenied' || event.type === 'SourceNetworkAllowed' || event.type === 'SourceAnomalyDetected'
          ? this.applyNetworkEvent(event)
          : this.applyKeyEvent(event, at);
    this.sweepIfDue();
    return applied;
  }

  private applyKeyEvent(event: Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>, at: number): boolean {
    if (!KEY_EVENTS.has(event.type)) return false;
    // Authenticated and checked against its schema by the reader (the store, or the bus's reader).
    const keyEvent = { type: event.type, data: event.data } as KeyEvent;
    const slot = this.slotsById.get(keyEvent.data.keyId);
    const expected = slot === undefined ? 1 : this.versions[slot]! + 1;
    if (event.streamVersion < expected) return false;
    // A key made at least KEY_RETENTION_MS ago (its id says when) may have been forgotten: its
    // later events (a leak report, a revocation of an expired key) change nothing that verifies.
    if (slot === undefined && event.streamVersion > 1 && this.mayHaveForgotten(keyEvent.data.keyId)) return false;
    if (event.streamVersion > expected) throw new KeyVersionGapError(keyEvent.data.keyId, expected, event.streamVersion);
    const next = evolveKey(slot === undefined ? undefined : this.recordAt(slot), keyEvent);
    if (!next) return false;
    // Revocation is terminal and a key's tenant never changes: a key is counted once when it
    // arrives unrevoked, and uncounted once when it is revoked.
    const wasUnrevoked = slot !== undefined && this.statuses[slot] !== REVOKED;
    if (slot === undefined) this.add(next);
    else this.write(slot, next);
    const isUnrevoked = next.status !== 'revoked';
    const written = this.slotsById.get(next.keyId)!;
    if (wasUnrevoked !== isUnrevoked) this.countUnrevoked(this.tenants[written]!, isUnrevoked ? 1 : -1);
    if (wasUnrevoked && !isUnrevoked) this.revokedAts[written] = at;
    return true;
  }

  /**
   * Folds a network stream's event, in its stream's version order as key events are: a repeat or
   * an older event (a denial re-sent after its lift) changes nothing, a gap throws. An
   * enumeration found from the network (SourceAnomalyDetected) denies nothing by itself; it
   * only takes its place in the stream's order.
   */
  private applyNetworkEvent(event: Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>): boolean {
    // Authenticated and checked against its schema by the reader, as key events are.
    const stream = networkAggregateId((event.data as { readonly network: string }).network);
    const expected = (this.networkVersions.get(stream) ?? 0) + 1;
    if (event.streamVersion < expected) return false;
    if (event.streamVersion > expected) throw new KeyVersionGapError(`network-${stream}`, expected, event.streamVersion);
    this.networkVersions.set(stream, event.streamVersion);
    if (event.type !== 'SourceAnomalyDetected') this.networkDenials.apply({ type: event.type, data: event.data } as NetworkEvent);
    return true;
  }

  /** True when a key not held may be one this index forgot: made at least KEY_RETENTION_MS before its clock. */
  private mayHaveForgotten(keyId: string): boolean {
    const madeAt = timeOfPrefixedId(keyId);
    return madeAt !== undefined && madeAt + KEY_RETENTION_MS <= this.clock;
  }

  /** Once the clock enters a new sweep interval, forgets every key whose retention (and margin) ended by its start. */
  private sweepIfDue(): void {
    const boundary = sweepBoundary(this.clock);
    if (boundary <= this.sweptAt) return;
    this.sweptAt = boundary;
    this.forgetUntil(boundary - KEY_EVICTION_MARGIN_MS);
    this.networkDenials.forgetEnded(boundary - KEY_EVICTION_MARGIN_MS);
  }

  private forgettable(slot: number, limit: number): boolean {
    const expiry = this.expiries[slot]!;
    const revokedAt = this.revokedAts[slot]!;
    const until = retainedUntil(
      RECORDED_KEY_STATUSES[this.statuses[slot]!]!,
      Number.isNaN(expiry) ? undefined : expiry,
      Number.isNaN(revokedAt) ? undefined : revokedAt,
    );
    return until !== undefined && until <= limit;
  }

  /**
   * Removes every key retained until `limit` or earlier, keeping the others in the order they
   * were added (slots are renumbered, the digest table rebuilt): a scan of the columns, and a
   * rebuild only when some key goes.
   */
  private forgetUntil(limit: number): void {
    const count = this.keyIds.length;
    let first = 0;
    while (first < count && !this.forgettable(first, limit)) first += 1;
    if (first === count) return;
    const digests = new DigestTable();
    const extras = new Map<number, KeyExtras>();
    let kept = 0;
    for (let slot = 0; slot < count; slot += 1) {
      const keyId = this.keyIds[slot]!;
      if (slot >= first && this.forgettable(slot, limit)) {
        this.slotsById.delete(keyId);
        if (this.statuses[slot] !== REVOKED) this.countUnrevoked(this.tenants[slot]!, -1);
        continue;
      }
      digests.add(kept, this.digests.digestOf(slot));
      const slotExtras = this.extras.get(slot);
      if (slotExtras) extras.set(kept, slotExtras);
      if (kept !== slot) {
        this.keyIds[kept] = keyId;
        this.slotsById.set(keyId, kept);
        for (const column of [this.tenants, this.owners, this.prefixes, this.scopes, this.versions, this.pepperVersions, this.hintTails])
          column[kept] = column[slot]!;
        for (const column of [this.expiries, this.revokedAts]) column[kept] = column[slot]!;
        for (const column of [this.statuses, this.environments]) column[kept] = column[slot]!;
      }
      kept += 1;
    }
    this.keyIds.length = kept;
    this.revokedAts.fill(Number.NaN, kept);
    this.digests = digests;
    this.extras = extras;
    this.builtSlots.fill(NO_SLOT);
  }

  private countUnrevoked(tenant: number, change: 1 | -1): void {
    this.unrevokedByTenant.set(tenant, (this.unrevokedByTenant.get(tenant) ?? 0) + change);
  }

  /** Subtracts a verifier's flushed consumption from each key's quota. */
  private consume(data: CreditsConsumedData): boolean {
    let changed = false;
    for (const [keyId, periodStart, amount] of data.entries) {
      const slot = this.slotsById.get(keyId);
      const extras = slot === undefined ? undefined : this.extras.get(slot);
      if (slot === undefined || !extras?.credits) continue;
      this.extras.set(slot, { ...extras, credits: consumeCredits(extras.credits, periodStart, amount) });
      this.forgetBuilt(slot);
      changed = true;
    }
    return changed;
  }

  private add(record: KeyRecord): void {
    const slot = this.keyIds.length;
    if (slot === this.tenants.length) this.grow();
    this.keyIds.push(record.keyId);
    this.slotsById.set(record.keyId, slot);
    this.digests.add(slot, Buffer.from(record.digest.digest, 'hex'));
    this.pepperVersions[slot] = record.digest.pepperVersion;
    this.prefixes[slot] = this.strings.idOf(record.prefix);
    this.environments[slot] = KEY_ENVIRONMENTS.indexOf(record.environment);
    this.revokedAts[slot] = Number.NaN;
    this.write(slot, record);
  }

  /** Writes what an event may change (a key's id, digest, prefix and environment never change). */
  private write(slot: number, record: KeyRecord): void {
    this.forgetBuilt(slot);
    this.tenants[slot] = this.strings.idOf(record.tenant);
    this.owners[slot] = this.strings.idOf(record.owner);
    this.scopes[slot] = this.scopeListId(record.scopes);
    this.versions[slot] = record.version;
    this.expiries[slot] = record.expiresAt ?? Number.NaN;
    this.statuses[slot] = RECORDED_KEY_STATUSES.indexOf(record.status);
    const tail = packHintTail(record);
    this.hintTails[slot] = tail;
    const hasExtras =
      record.name !== undefined ||
      record.ipAllowlist.length > 0 ||
      Object.keys(record.metadata).length > 0 ||
      record.rateLimits.length > 0 ||
      record.credits !== undefined ||
      record.rotatedFrom !== undefined ||
      record.rotation !== undefined ||
      record.leakReportedAt !== undefined ||
      record.honeytoken === true ||
      tail === NOT_PACKED;
    if (!hasExtras) this.extras.delete(slot);
    else
      this.extras.set(slot, {
        name: record.name,
        ipAllowlist: record.ipAllowlist,
        ipRanges: record.ipRanges,
        metadata: record.metadata,
        rateLimits: record.rateLimits,
        // Folded from this index's record, so it carries what verifiers consumed.
        credits: record.credits,
        hint: tail === NOT_PACKED ? record.hint : undefined,
        ...(record.rotatedFrom === undefined ? {} : { rotatedFrom: record.rotatedFrom }),
        ...(record.rotation === undefined ? {} : { rotation: record.rotation }),
        ...(record.leakReportedAt === undefined ? {} : { leakReportedAt: record.leakReportedAt }),
        ...(record.honeytoken ? { honeytoken: true } : {}),
      });
  }

  private scopeListId(scopes: readonly string[]): number {
    return this.scopeLists.find(scopes.join(' ')) ?? this.scopeLists.idOf(Object.freeze(scopes.map((scope) => this.strings.valueOf(this.strings.idOf(scope)))));
  }

  private recordAt(slot: number): KeyRecord {
    const line = slot & (BUILT_RECORDS - 1);
    if (this.builtSlots[line] === slot) return this.builtRecords[line]!;
    const record = this.buildRecord(slot);
    this.builtSlots[line] = slot;
    this.builtRecords[line] = record;
    return record;
  }

  private forgetBuilt(slot: number): void {
    const line = slot & (BUILT_RECORDS - 1);
    if (this.builtSlots[line] === slot) this.builtSlots[line] = NO_SLOT;
  }

  private buildRecord(slot: number): KeyRecord {
    const extras = this.extras.get(slot);
    const prefix = this.strings.valueOf(this.prefixes[slot]!);
    const environment = KEY_ENVIRONMENTS[this.environments[slot]!]!;
    const expiry = this.expiries[slot]!;
    return new IndexedKeyRecord(
      this.keyIds[slot]!,
      this.strings.valueOf(this.tenants[slot]!),
      this.strings.valueOf(this.owners[slot]!),
      extras?.name,
      environment,
      prefix,
      extras?.hint ?? `${prefix}_${environment}_…${unpackHintTail(this.hintTails[slot]!)}`,
      this.scopeLists.valueOf(this.scopes[slot]!),
      extras?.ipAllowlist ?? NO_STRINGS,
      extras?.ipRanges ?? NO_RANGES,
      Number.isNaN(expiry) ? undefined : expiry,
      extras?.metadata ?? NO_METADATA,
      extras?.rateLimits ?? NO_RATE_LIMITS,
      extras?.credits,
      extras?.rotatedFrom,
      extras?.rotation,
      extras?.leakReportedAt,
      extras?.honeytoken === true ? true : undefined,
      RECORDED_KEY_STATUSES[this.statuses[slot]!]!,
      this.versions[slot]!,
      this.pepperVersions[slot]!,
      this.digests,
      slot,
    );
  }

  private grow(): void {
    const size = this.tenants.length * 2;
    this.tenants = resized(this.tenants, new Int32Array(size));
    this.owners = resized(this.owners, new Int32Array(size));
    this.prefixes = resized(this.prefixes, new Int32Array(size));
    this.scopes = resized(this.scopes, new Int32Array(size));
    this.versions = resized(this.versions, new Int32Array(size));
    this.pepperVersions = resized(this.pepperVersions, new Int32Array(size));
    this.expiries = resized(this.expiries, new Float64Array(size));
    this.statuses = resized(this.statuses, new Uint8Array(size));
    this.environments = resized(this.environments, new Uint8Array(size));
    this.hintTails = resized(this.hintTails, new Int32Array(size));
    this.revokedAts = resized(this.revokedAts, new Float64Array(size).fill(Number.NaN));
  }
}

/** The start of the sweep interval `at` falls in. */
function sweepBoundary(at: number): number {
  return Math.floor(at / KEY_SWEEP_INTERVAL_MS) * KEY_SWEEP_INTERVAL_MS;
}

function resized<T extends Int32Array | Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** The last four characters of a usual hint, 7 bits each; NOT_PACKED for any other hint. */
function packHintTail(record: KeyRecord): number {
  const head = `${record.prefix}_${record.environment}_…`;
  const tail = record.hint.slice(head.length);
  if (!record.hint.startsWith(head) || tail.length !== 4) return NOT_PACKED;
  let packed = 0;
  for (let i = 0; i < 4; i += 1) {
    const code = tail.charCodeAt(i);
    if (code >= 128) return NOT_PACKED;
    packed = (packed << 7) | code;
  }
  return packed;
}

function unpackHintTail(packed: number): string {
  return String.fromCharCode((packed >> 21) & 127, (packed >> 14) & 127, (packed >> 7) & 127, packed & 127);
}

/** A KeyRecord read from the columns; the digest's hex form is only made when asked for. */
class IndexedKeyRecord implements KeyRecord {
  constructor(
    readonly keyId: string,
    readonly tenant: string,
    readonly owner: string,
    readonly name: string | undefined,
    readonly environment: KeyEnvironment,
    readonly prefix: string,
    readonly hint: string,
    readonly scopes: readonly string[],
    readonly ipAllowlist: readonly string[],
    readonly ipRanges: readonly IpRange[],
    readonly expiresAt: number | undefined,
    readonly metadata: Readonly<Record<string, string>>,
    readonly rateLimits: readonly RateLimit[],
    readonly credits: CreditState | undefined,
    readonly rotatedFrom: string | undefined,
    readonly rotation: KeyRotation | undefined,
    readonly leakReportedAt: number | undefined,
    readonly honeytoken: true | undefined,
    readonly status: RecordedKeyStatus,
    readonly version: number,
    readonly pepperVersion: number,
    private readonly digests: DigestTable,
    private readonly slot: number,
  ) {}

  // A getter, so a verification does not pay for hex it never shows. Records folded from
  // this one by evolveKey lose it, which is harmless: they only feed KeyIndex.write.
  get digest(): KeyDigest {
    return { algorithm: 'hmac-sha256', pepperVersion: this.pepperVersion, digest: Buffer.from(this.digests.digestOf(this.slot)).toString('hex') };
  }
}
