import type {
  AuditAtRequest,
  AuditCheck,
  AuditCheckRequest,
  AuditKeyAt,
  AuditTrail,
  AuditTrailEntry,
  AuditTrailRequest,
  EventEnvelope,
  KeyEvent,
  VerifyCode,
} from '@keyledger/contracts';
import { ApiError, streamIdOf } from '@keyledger/contracts';
import type { KeyRecord, RuledCode, VerifyConditions } from '@keyledger/key-domain';
import { codeByRules, evolveKey } from '@keyledger/key-domain';
import type { Caller } from '@keyledger/admin-auth';
import { authorizeAdmin, seesTenant } from '@keyledger/admin-auth';
import { toKeyView } from '@keyledger/key-commands';
import type { PostgresEventStore } from '@keyledger/event-store';

/** The parts of a key's record a verification's verdict rests on, each traced to the event that last set it. */
type DecidingField = 'status' | 'expiresAt' | 'ipAllowlist' | 'scopes' | 'environment';
const DECIDING_FIELDS: readonly DecidingField[] = ['status', 'expiresAt', 'ipAllowlist', 'scopes', 'environment'];

/** A key folded from its stream up to an instant, with the event that last set each deciding field. */
export interface KeyStateAt {
  readonly record: KeyRecord | undefined;
  readonly lastEvent: EventEnvelope | undefined;
  readonly setBy: Readonly<Partial<Record<DecidingField, EventEnvelope>>>;
}

/** One event as the trail shows it: its place, type, time and actor, never its data. */
export function trailEntryOf(event: EventEnvelope): AuditTrailEntry {
  return {
    position: event.position,
    version: event.streamVersion,
    eventId: event.eventId,
    type: event.type,
    occurredAt: event.occurredAt,
    actor: event.metadata.actor,
    correlationId: event.metadata.correlationId,
  };
}

/**
 * A key's state at `at` (epoch ms): its stream's events that occurred at or before then, folded
 * by the domain's evolveKey (the same fold the issuer and verifiers use). The fold stops at the
 * first later event rather than skipping it: a record is only ever a prefix of its stream.
 */
export function keyStateAt(events: readonly EventEnvelope[], at: number): KeyStateAt {
  let record: KeyRecord | undefined;
  let lastEvent: EventEnvelope | undefined;
  const setBy: Partial<Record<DecidingField, EventEnvelope>> = {};
  for (const event of events) {
    if (Date.parse(event.occurredAt) > at) break;
    const next = evolveKey(record, { type: event.type, data: event.data } as KeyEvent);
    for (const field of DECIDING_FIELDS) if (next && (!record || next[field] !== record[field])) setBy[field] = event;
    record = next;
    lastEvent = event;
  }
  return { record, lastEvent, setBy };
}

/** The field whose setting event decided each verdict the key's rules can give. */
function decidingField(code: RuledCode): DecidingField | undefined {
  switch (code) {
    case 'VALID':
    case 'REVOKED':
    case 'DISABLED':
      return 'status';
    case 'EXPIRED':
      return 'expiresAt';
    case 'FORBIDDEN_IP':
      return 'ipAllowlist';
    case 'FORBIDDEN_ENVIRONMENT':
      return 'environment';
    case 'INSUFFICIENT_PERMISSIONS':
      return 'scopes';
    // Not the key's own rules: codeByRules never gives these.
    case 'NOT_FOUND':
    case 'MALFORMED':
    case 'UNAVAILABLE':
    case 'RATE_LIMITED':
    case 'USAGE_EXCEEDED':
    // A denied network is the caller's, not the key's: no key event decided it.
    case 'DENIED':
      return undefined;
    default:
      return code satisfies never;
  }
}

function reasonFor(code: RuledCode, state: KeyStateAt, by: EventEnvelope | undefined, at: string): string {
  const event = by ? `event ${by.eventId} (${by.type}, position ${by.position}, by ${by.metadata.actor})` : 'no event';
  const when = by?.occurredAt ?? at;
  switch (code) {
    case 'VALID':
      return `active since ${when}, ${event}`;
    case 'REVOKED':
      return `revoked at ${when} by ${event}`;
    case 'DISABLED':
      return `suspended at ${when} by ${event}`;
    case 'EXPIRED': {
      const expiresAt = state.record?.expiresAt;
      return `expired at ${expiresAt === undefined ? '?' : new Date(expiresAt).toISOString()}, the expiry set by ${event}`;
    }
    case 'FORBIDDEN_IP':
      return `the address is outside the IP allowlist set by ${event}`;
    case 'FORBIDDEN_ENVIRONMENT':
      return `the key is of another environment (${event})`;
    case 'INSUFFICIENT_PERMISSIONS':
      return `the scopes asked exceed those set by ${event}`;
    default:
      return state.record?.honeytoken ? 'a honeytoken: every verification of it answers NOT_FOUND, as for a key that does not exist' : `not issued at ${at}`;
  }
}

/**
 * The verdict the key's own rules (libs/key-domain `codeByRules`: status, expiry, environment,
 * IP allowlist, scopes) give a verification at `at`, on its state then, with the event that
 * decided it. Rate limits and quotas are left out: they depend on the verifiers' counters.
 */
export function checkAt(keyId: string, events: readonly EventEnvelope[], at: number, conditions: VerifyConditions): AuditCheck {
  const state = keyStateAt(events, at);
  const ruled = codeByRules(state.record, conditions, at);
  const field = state.record ? decidingField(ruled) : undefined;
  const by = field ? state.setBy[field] : undefined;
  const code: VerifyCode = ruled === 'FORBIDDEN_IP' || ruled === 'FORBIDDEN_ENVIRONMENT' ? 'FORBIDDEN' : ruled;
  const instant = new Date(at).toISOString();
  return {
    keyId,
    at: instant,
    valid: code === 'VALID',
    code,
    reason: reasonFor(ruled, state, by, instant),
    decidedBy: by ? trailEntryOf(by) : null,
  };
}

/**
 * A key's history for admins, read from its stream in the event store (so every event's MAC
 * and chain is checked on the way: EventIntegrityError rather than an answer built on a forged
 * row). Tenant-scoped like every admin read: a key of a tenant the caller may not see is
 * KEY_NOT_FOUND, and reading needs `keyledger:keys:read` for the key's tenant.
 */
export class KeyHistory {
  constructor(private readonly store: Pick<PostgresEventStore, 'readStream'>) {}

  async trail(request: AuditTrailRequest, caller: Caller): Promise<AuditTrail> {
    const { tenant, events } = await this.readKey(request.keyId, caller);
    return { keyId: request.keyId, tenant, events: events.map(trailEntryOf) };
  }

  async at(request: AuditAtRequest, caller: Caller): Promise<AuditKeyAt> {
    const { events } = await this.readKey(request.keyId, caller);
    const at = Date.parse(request.at);
    const state = keyStateAt(events, at);
    return {
      keyId: request.keyId,
      at: new Date(at).toISOString(),
      key: state.record ? toKeyView(state.record, at) : null,
      lastEvent: state.lastEvent ? trailEntryOf(state.lastEvent) : null,
    };
  }

  async check(request: AuditCheckRequest, caller: Caller): Promise<AuditCheck> {
    const { events } = await this.readKey(request.keyId, caller);
    return checkAt(request.keyId, events, Date.parse(request.at), { scopes: request.scopes, ip: request.ip, environment: request.env });
  }

  private async readKey(keyId: string, caller: Caller): Promise<{ tenant: string; events: readonly EventEnvelope[] }> {
    const events = await this.store.readStream(streamIdOf('key', keyId));
    const first = events[0];
    const issued = first ? evolveKey(undefined, { type: first.type, data: first.data } as KeyEvent) : undefined;
    if (!issued || !seesTenant(caller, issued.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${keyId} does not exist`);
    authorizeAdmin(caller, issued.tenant, 'read');
    return { tenant: issued.tenant, events };
  }
}
