import type { KeyEvent } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { evolveKey } from '@keyledger/key-domain';

/** One event of a key's stream with the instant it occurred (epoch ms). */
export interface TimedKeyEvent {
  readonly event: KeyEvent;
  readonly at: number;
}

/** What a key's record alone does not say: since when it holds each scope, and since when it is suspended. */
export interface KeyTimeline {
  /** Each scope the key holds now, with the instant since which it has held it without a break. */
  readonly scopesHeldSince: ReadonlyMap<string, number>;
  /** When the key's current suspension began; undefined when it is not suspended. */
  readonly suspendedAt: number | undefined;
}

/** The timeline of a key never changed after its issue: every scope held, and never suspended, since then. */
export function issuedTimeline(record: Pick<KeyRecord, 'scopes'>, issuedAt: number): KeyTimeline {
  return { scopesHeldSince: new Map(record.scopes.map((scope) => [scope, issuedAt])), suspendedAt: undefined };
}

/**
 * Folds a key's stream (in order) by the domain's evolveKey, noting when each current scope was
 * last granted and when the current suspension began: a scope granted yesterday is not unused for
 * 90 days, whatever the key's age.
 */
export function keyTimeline(events: readonly TimedKeyEvent[]): KeyTimeline {
  let record: KeyRecord | undefined;
  const heldSince = new Map<string, number>();
  let suspendedAt: number | undefined;
  for (const { event, at } of events) {
    const next = evolveKey(record, event);
    if (!next) continue;
    for (const scope of heldSince.keys()) if (!next.scopes.includes(scope)) heldSince.delete(scope);
    for (const scope of next.scopes) if (!heldSince.has(scope)) heldSince.set(scope, at);
    if (next.status !== 'suspended') suspendedAt = undefined;
    else if (record?.status !== 'suspended') suspendedAt = at;
    record = next;
  }
  return { scopesHeldSince: heldSince, suspendedAt };
}
