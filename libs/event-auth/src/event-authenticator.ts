import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { EventSeal, LastUsedAnswer, LastUsedRequest } from '@keyledger/contracts';
import type { VersionedSecret } from '@keyledger/key-secrets';
import type { EventContentFields } from './event-content.js';
import { canonicalJson } from './canonical-json.js';
import { canonicalEventContent, eventContent } from './event-content.js';

/** HKDF labels: one subkey per purpose, so a stored MAC can never pass as a published one. */
const STORED_INFO = 'keyledger stored event v1';
const PUBLISHED_INFO = 'keyledger published event v1';
const ANNOUNCEMENT_INFO = 'keyledger verifier announcement v1';
const USAGE_ANSWER_INFO = 'keyledger usage answer v1';
const RELAY_HEARTBEAT_INFO = 'keyledger relay heartbeat v1';
const USAGE_BATCH_INFO = 'keyledger usage batch v1';
const SECURITY_ALERT_INFO = 'keyledger security alert v1';
const TENANT_NOTIFICATION_INFO = 'keyledger tenant notification v1';

/**
 * What a verifier announces on `<prefix>.v1.verifiers.applied`: the store position it has
 * applied. Revocation fences and credit releases believe it, so it is sealed like an event.
 */
export interface VerifierAnnouncementFields {
  readonly instance: string;
  readonly transactionId: string;
  readonly position: string;
  readonly at: string;
}

/**
 * What the relay leader announces on `<prefix>.v1.relay.heartbeat`: the newest authentic store
 * position and the time just before it was read. Key projections judge their freshness by it,
 * so it is sealed: a stranger's head far ahead would freeze them, one at their position would
 * make a stale one look current.
 */
export interface RelayHeartbeatFields {
  readonly transactionId: string;
  readonly position: string;
  readonly at: string;
}

/** The `auth_version` column is a smallint. */
export const MAX_EVENT_KEY_VERSION = 32_767;

/** What an event's stored MAC covers: what its hash covers, not where the database put it. */
export type AuthenticatedEventFields = EventContentFields;

/** What a published event's MAC covers: the whole envelope, its place in the log included. */
export interface PublishedEventFields extends AuthenticatedEventFields {
  readonly position: string;
  readonly transactionId: string;
  readonly hash: string;
}

/** A stored event's MAC and the version of the event key that made it. */
export interface StoredEventMac {
  readonly version: number;
  readonly mac: Buffer;
}

/** A MAC's verdict: `ok`, or why not. */
export type MacCheck = 'ok' | 'bad-mac' | 'unknown-key-version';

/**
 * Authenticates events with HMAC-SHA256 under `KEYLEDGER_EVENT_KEYS`: the store seals each
 * event it appends and checks the seal on every read, the relay seals each message it
 * publishes and every consumer checks that. Whoever lacks the key (NATS without credentials,
 * SQL without the services' secrets) cannot make an event any Keyledger process accepts.
 *
 * Each key version yields one subkey per purpose (HKDF-SHA256, one label each). New MACs use the
 * first (current) version; older versions only verify, so a new key can be put first while
 * events sealed before keep verifying. A version not configured never verifies.
 */
export class EventAuthenticator {
  private readonly stored: ReadonlyMap<number, Buffer>;
  private readonly published: ReadonlyMap<number, Buffer>;
  private readonly announcements: ReadonlyMap<number, Buffer>;
  private readonly usageAnswers: ReadonlyMap<number, Buffer>;
  private readonly heartbeats: ReadonlyMap<number, Buffer>;
  private readonly usageBatches: ReadonlyMap<number, Buffer>;
  private readonly securityAlerts: ReadonlyMap<number, Buffer>;
  private readonly notifications: ReadonlyMap<number, Buffer>;
  /** The version new MACs are made with. */
  readonly currentVersion: number;

  constructor(keys: readonly VersionedSecret[]) {
    if (keys.length === 0) throw new RangeError('at least one event key is required');
    for (const key of keys)
      if (!Number.isInteger(key.version) || key.version < 0 || key.version > MAX_EVENT_KEY_VERSION)
        throw new RangeError(`event key versions are 0..${MAX_EVENT_KEY_VERSION}`);
    this.stored = new Map(keys.map((key) => [key.version, derive(key.secret, STORED_INFO)]));
    this.published = new Map(keys.map((key) => [key.version, derive(key.secret, PUBLISHED_INFO)]));
    this.announcements = new Map(keys.map((key) => [key.version, derive(key.secret, ANNOUNCEMENT_INFO)]));
    this.usageAnswers = new Map(keys.map((key) => [key.version, derive(key.secret, USAGE_ANSWER_INFO)]));
    this.heartbeats = new Map(keys.map((key) => [key.version, derive(key.secret, RELAY_HEARTBEAT_INFO)]));
    this.usageBatches = new Map(keys.map((key) => [key.version, derive(key.secret, USAGE_BATCH_INFO)]));
    this.securityAlerts = new Map(keys.map((key) => [key.version, derive(key.secret, SECURITY_ALERT_INFO)]));
    this.notifications = new Map(keys.map((key) => [key.version, derive(key.secret, TENANT_NOTIFICATION_INFO)]));
    this.currentVersion = keys[0]!.version;
  }

  /** The MAC the store writes beside an event it appends. */
  sealStored(event: AuthenticatedEventFields): StoredEventMac {
    return { version: this.currentVersion, mac: hmac(this.stored.get(this.currentVersion)!, storedContent(event)) };
  }

  /** Checks a stored event's MAC (constant time). */
  checkStored(event: AuthenticatedEventFields, mac: StoredEventMac): MacCheck {
    return this.checkStoredContent(storedContent(event), mac);
  }

  /** `checkStored` of an event whose canonical content text (`canonicalEventContent`, or its UTF-8) is already at hand: a verifier that needs that text for the hash chain too makes it once. */
  checkStoredContent(content: string | Uint8Array, mac: StoredEventMac): MacCheck {
    return check(this.stored.get(mac.version), content, mac.mac);
  }

  /** The seal the relay puts on the message of an event it publishes. */
  sealPublished(event: PublishedEventFields): EventSeal {
    return { v: this.currentVersion, mac: hmac(this.published.get(this.currentVersion)!, publishedContent(event)).toString('base64') };
  }

  /** Checks a published message's seal (constant time). */
  checkPublished(event: PublishedEventFields, seal: EventSeal): MacCheck {
    return check(this.published.get(seal.v), publishedContent(event), Buffer.from(seal.mac, 'base64'));
  }

  /** The seal a verifier puts on the announcement of the position it has applied. */
  sealAnnouncement(announcement: VerifierAnnouncementFields): EventSeal {
    return { v: this.currentVersion, mac: hmac(this.announcements.get(this.currentVersion)!, announcementContent(announcement)).toString('base64') };
  }

  /** Checks an announcement's seal (constant time). */
  checkAnnouncement(announcement: VerifierAnnouncementFields, seal: EventSeal): MacCheck {
    return check(this.announcements.get(seal.v), announcementContent(announcement), Buffer.from(seal.mac, 'base64'));
  }

  /**
   * The seal the auditor puts on its answer to a `usage.last-used` request: over the answer and
   * the request it answers (nonce and key ids), so the answer to another request never passes.
   */
  sealUsageAnswer(request: LastUsedRequest, answer: LastUsedAnswer): EventSeal {
    return { v: this.currentVersion, mac: hmac(this.usageAnswers.get(this.currentVersion)!, usageAnswerContent(request, answer)).toString('base64') };
  }

  /** Checks a `usage.last-used` answer's seal against the request the rotator sent (constant time). */
  checkUsageAnswer(request: LastUsedRequest, answer: LastUsedAnswer, seal: EventSeal): MacCheck {
    return check(this.usageAnswers.get(seal.v), usageAnswerContent(request, answer), Buffer.from(seal.mac, 'base64'));
  }

  /** The seal the relay leader puts on its heartbeat. */
  sealHeartbeat(heartbeat: RelayHeartbeatFields): EventSeal {
    return { v: this.currentVersion, mac: hmac(this.heartbeats.get(this.currentVersion)!, heartbeatContent(heartbeat)).toString('base64') };
  }

  /** Checks a relay heartbeat's seal (constant time). */
  checkHeartbeat(heartbeat: RelayHeartbeatFields, seal: EventSeal): MacCheck {
    return check(this.heartbeats.get(seal.v), heartbeatContent(heartbeat), Buffer.from(seal.mac, 'base64'));
  }

  /**
   * The seal a verifier puts on a usage batch message: over the key version, the batch id it
   * publishes the message under (`Nats-Msg-Id`) and the exact bytes of its body, so neither a
   * changed byte nor a genuine body re-sent under another id passes. Once per message, never
   * per verification.
   */
  sealUsageBatch(batchId: string, payload: Uint8Array): EventSeal {
    const version = this.currentVersion;
    return { v: version, mac: usageBatchMac(this.usageBatches.get(version)!, version, batchId, payload).toString('base64') };
  }

  /**
   * The seal a service puts on a security alert it raises: over the key version and the exact
   * bytes of the message's body, so whoever may publish on the alert subject but holds no event
   * key (a NATS user, a row written by SQL) cannot raise or alter one.
   */
  sealSecurityAlert(payload: Uint8Array): EventSeal {
    const version = this.currentVersion;
    return { v: version, mac: versionedMac(this.securityAlerts.get(version)!, version, payload).toString('base64') };
  }

  /** Checks a security alert's seal against its body's bytes (constant time). */
  checkSecurityAlert(payload: Uint8Array, seal: EventSeal): MacCheck {
    return checkVersioned(this.securityAlerts, payload, seal);
  }

  /**
   * The seal a service puts on a tenant notification it publishes: over the key version and the
   * body's exact bytes. The rotator POSTs notifications to tenants' webhooks signed with their
   * secrets, so one a NATS user without the event keys made up must not pass as Keyledger's.
   */
  sealNotification(payload: Uint8Array): EventSeal {
    const version = this.currentVersion;
    return { v: version, mac: versionedMac(this.notifications.get(version)!, version, payload).toString('base64') };
  }

  /** Checks a tenant notification's seal against its body's bytes (constant time). */
  checkNotification(payload: Uint8Array, seal: EventSeal): MacCheck {
    return checkVersioned(this.notifications, payload, seal);
  }

  /** Checks a usage batch message's seal against the id it came under and its body's bytes (constant time). */
  checkUsageBatch(batchId: string, payload: Uint8Array, seal: EventSeal): MacCheck {
    const key = this.usageBatches.get(seal.v);
    if (!key) return 'unknown-key-version';
    return sameMac(usageBatchMac(key, seal.v, batchId, payload), Buffer.from(seal.mac, 'base64')) ? 'ok' : 'bad-mac';
  }
}

function derive(secret: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
}

function hmac(key: Buffer, content: string | Uint8Array): Buffer {
  const mac = createHmac('sha256', key);
  return (typeof content === 'string' ? mac.update(content, 'utf8') : mac.update(content)).digest();
}

function check(key: Buffer | undefined, content: string | Uint8Array, mac: Buffer): MacCheck {
  if (!key) return 'unknown-key-version';
  return sameMac(hmac(key, content), mac) ? 'ok' : 'bad-mac';
}

function sameMac(expected: Buffer, mac: Buffer): boolean {
  return mac.length === expected.length && timingSafeEqual(expected, mac);
}

// The header line is canonical JSON, which escapes every line break, so the first one ends it:
// no choice of batch id can move bytes between the id and the body.
function usageBatchMac(key: Buffer, version: number, batchId: string, payload: Uint8Array): Buffer {
  return createHmac('sha256', key)
    .update(`${canonicalJson({ v: version, batchId })}\n`, 'utf8')
    .update(payload)
    .digest();
}

function checkVersioned(keys: ReadonlyMap<number, Buffer>, payload: Uint8Array, seal: EventSeal): MacCheck {
  const key = keys.get(seal.v);
  if (!key) return 'unknown-key-version';
  return sameMac(versionedMac(key, seal.v, payload), Buffer.from(seal.mac, 'base64')) ? 'ok' : 'bad-mac';
}

function versionedMac(key: Buffer, version: number, payload: Uint8Array): Buffer {
  return createHmac('sha256', key)
    .update(`${canonicalJson({ v: version })}\n`, 'utf8')
    .update(payload)
    .digest();
}

function storedContent(event: AuthenticatedEventFields): string {
  return canonicalEventContent(event);
}

function publishedContent(event: PublishedEventFields): string {
  return canonicalJson({ ...eventContent(event), position: event.position, transactionId: event.transactionId, hash: event.hash });
}

function announcementContent(announcement: VerifierAnnouncementFields): string {
  return canonicalJson({ instance: announcement.instance, transactionId: announcement.transactionId, position: announcement.position, at: announcement.at });
}

function heartbeatContent(heartbeat: RelayHeartbeatFields): string {
  return canonicalJson({ transactionId: heartbeat.transactionId, position: heartbeat.position, at: heartbeat.at });
}

// Named fields only: whatever else an object carries is neither sealed nor believed.
function usageAnswerContent(request: LastUsedRequest, answer: LastUsedAnswer): string {
  return canonicalJson({
    request: { nonce: request.nonce, keyIds: request.keyIds },
    answer: { ingestedUntil: answer.ingestedUntil, keys: answer.keys.map((entry) => ({ keyId: entry.keyId, lastUsedAt: entry.lastUsedAt })) },
  });
}
