import type { EventEnvelope, KeyEvent } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { evolveKey } from '@keyledger/key-domain';
import { digestIndexKey } from '@keyledger/key-secrets';

const NONE: readonly string[] = Object.freeze([]);
const NO_RANGES: KeyRecord['ipRanges'] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

const KEY_EVENTS = new Set(['KeyIssued', 'KeyUpdated', 'KeySuspended', 'KeyResumed', 'KeyRevoked']);

/**
 * Every key's record in memory, found by digest (to verify) or by id (to manage). Events
 * are applied in stream-version order; a repeated event is ignored, so replays and
 * redeliveries are harmless.
 */
export class KeyIndex {
  private readonly byDigest = new Map<string, KeyRecord>();
  private readonly byId = new Map<string, KeyRecord>();
  /** Repeated strings (tenants, owners, scopes) are shared, not copied per key. */
  private readonly strings = new Map<string, string>();
  /** Identical scope lists and empty collections are shared too: most keys repeat them. */
  private readonly scopeLists = new Map<string, readonly string[]>();

  get size(): number {
    return this.byId.size;
  }

  findByDigest(indexKey: string): KeyRecord | undefined {
    return this.byDigest.get(indexKey);
  }

  get(keyId: string): KeyRecord | undefined {
    return this.byId.get(keyId);
  }

  /** Keys of a tenant, in key id (creation) order. */
  listByTenant(tenant: string): KeyRecord[] {
    return [...this.byId.values()].filter((record) => record.tenant === tenant).sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
  }

  /** Applies a stored event; returns false when it was not a key event or was already applied. */
  apply(event: Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>): boolean {
    if (!KEY_EVENTS.has(event.type)) return false;
    // Trusted: events come from our own store (directly or through the relay).
    const keyEvent = { type: event.type, data: event.data } as KeyEvent;
    const current = this.byId.get(keyEvent.data.keyId);
    if (current && event.streamVersion <= current.version) return false;
    const next = evolveKey(current, keyEvent);
    if (!next) return false;
    const record = this.intern(next);
    this.byId.set(record.keyId, record);
    this.byDigest.set(digestIndexKey(record.digest), record);
    return true;
  }

  private share(value: string): string {
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    this.strings.set(value, value);
    return value;
  }

  private shareScopes(scopes: readonly string[]): readonly string[] {
    const id = scopes.join(' ');
    const known = this.scopeLists.get(id);
    if (known) return known;
    const shared = Object.freeze(scopes.map((scope) => this.share(scope)));
    this.scopeLists.set(id, shared);
    return shared;
  }

  private intern(record: KeyRecord): KeyRecord {
    return {
      ...record,
      tenant: this.share(record.tenant),
      owner: this.share(record.owner),
      prefix: this.share(record.prefix),
      scopes: this.shareScopes(record.scopes),
      ipAllowlist: record.ipAllowlist.length === 0 ? NONE : record.ipAllowlist,
      ipRanges: record.ipRanges.length === 0 ? NO_RANGES : record.ipRanges,
      metadata: Object.keys(record.metadata).length === 0 ? NO_METADATA : record.metadata,
    };
  }
}
