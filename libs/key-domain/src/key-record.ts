import type { KeyDigest, KeyEvent, RateLimit } from '@keyledger/contracts';
import type { KeyRotation } from './rotation.js';
import { capExpiry } from './rotation.js';
import type { KeyEnvironment } from './key-format.js';
import type { IpRange } from './ip-allowlist.js';
import { parseCidr } from './ip-allowlist.js';
import type { RecordedKeyStatus } from './key-status.js';
import type { CreditState } from './credits.js';
import { creditStateOf, topUpCredits } from './credits.js';

/**
 * Everything known about one key, folded from its events. The verifier keeps one per key
 * in memory, the issuer folds one per command; both use `evolveKey`.
 */
export interface KeyRecord {
  readonly keyId: string;
  readonly tenant: string;
  readonly owner: string;
  readonly name: string | undefined;
  readonly environment: KeyEnvironment;
  readonly prefix: string;
  readonly digest: KeyDigest;
  readonly hint: string;
  readonly scopes: readonly string[];
  readonly ipAllowlist: readonly string[];
  /** Parsed once here so a verification never parses a CIDR. */
  readonly ipRanges: readonly IpRange[];
  /** Epoch milliseconds, or undefined for a key that never expires. */
  readonly expiresAt: number | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  /** Sorted by window length; empty for a key without limits. */
  readonly rateLimits: readonly RateLimit[];
  /**
   * The quota, undefined for a key without one. Folded from the key's stream alone it has
   * consumed nothing; the projections add the verifiers' CreditsConsumed events.
   */
  readonly credits: CreditState | undefined;
  /** The key this one replaced, for a key issued by a rotation. */
  readonly rotatedFrom: string | undefined;
  /** Set once the key is rotated; `expiresAt` is then at most the grace end. */
  readonly rotation: KeyRotation | undefined;
  readonly status: RecordedKeyStatus;
  /** When the key was first reported leaked (epoch ms); undefined for a key never reported. */
  readonly leakReportedAt?: number | undefined;
  /** A key issued never to be used: every verification of it answers NOT_FOUND and is a critical anomaly. */
  readonly honeytoken?: true | undefined;
  /** Version of the key's stream this record reflects. */
  readonly version: number;
}

/** The parsed form of an allowlist, as a KeyRecord keeps it. */
export function allowlistRanges(cidrs: readonly string[]): IpRange[] {
  return cidrs.map(parseCidr).filter((range): range is IpRange => range !== undefined);
}

/** Folds one event into a key's record; `undefined` before KeyIssued. */
export function evolveKey(record: KeyRecord | undefined, event: KeyEvent): KeyRecord | undefined {
  if (event.type === 'KeyIssued') {
    const data = event.data;
    return {
      keyId: data.keyId,
      tenant: data.tenant,
      owner: data.owner,
      name: data.name,
      environment: data.environment,
      prefix: data.prefix,
      digest: data.digest,
      hint: data.hint,
      scopes: data.scopes,
      ipAllowlist: data.ipAllowlist,
      ipRanges: allowlistRanges(data.ipAllowlist),
      expiresAt: data.expiresAt === undefined ? undefined : Date.parse(data.expiresAt),
      metadata: data.metadata,
      rateLimits: data.rateLimits ?? [],
      credits: data.credits ? creditStateOf(data.credits) : undefined,
      rotatedFrom: data.rotatedFrom,
      rotation: undefined,
      status: 'active',
      ...(data.honeytoken ? { honeytoken: true } : {}),
      version: 1,
    };
  }
  if (!record) return undefined; // an event for a key never issued: nothing to fold onto
  const version = record.version + 1;
  switch (event.type) {
    case 'KeyUpdated': {
      const change = event.data;
      return {
        ...record,
        name: change.name ?? record.name,
        scopes: change.scopes ?? record.scopes,
        ipAllowlist: change.ipAllowlist ?? record.ipAllowlist,
        ipRanges: change.ipAllowlist ? allowlistRanges(change.ipAllowlist) : record.ipRanges,
        metadata: change.metadata ?? record.metadata,
        rateLimits: change.rateLimits ?? record.rateLimits,
        credits: change.credits === undefined ? record.credits : change.credits === null ? undefined : creditStateOf(change.credits),
        expiresAt:
          change.expiresAt === undefined ? record.expiresAt : capExpiry(change.expiresAt === null ? undefined : Date.parse(change.expiresAt), record.rotation),
        version,
      };
    }
    case 'KeySuspended':
      return { ...record, status: 'suspended', version };
    case 'KeyResumed':
      return { ...record, status: 'active', version };
    case 'KeyRevoked':
      return { ...record, status: 'revoked', version };
    case 'KeyRotated': {
      const rotation: KeyRotation = {
        replacedBy: event.data.replacedBy,
        graceEndsAt: Date.parse(event.data.graceEndsAt),
        emergency: event.data.emergency === true,
        ...(event.data.rotatedAt === undefined ? {} : { rotatedAt: Date.parse(event.data.rotatedAt) }),
        ...(event.data.quietPeriodMs === undefined ? {} : { quietPeriodMs: event.data.quietPeriodMs }),
      };
      return { ...record, rotation, expiresAt: capExpiry(record.expiresAt, rotation), version };
    }
    case 'KeyGraceEnded': {
      // Only a rotated key has a grace to end; the decider never records it otherwise.
      if (!record.rotation) return { ...record, version };
      const rotation: KeyRotation = {
        ...record.rotation,
        graceEnded: {
          at: Date.parse(event.data.endedAt),
          reason: event.data.reason,
          lastUsedAt: event.data.lastUsedAt === undefined ? undefined : Date.parse(event.data.lastUsedAt),
        },
      };
      return { ...record, rotation, expiresAt: capExpiry(record.expiresAt, rotation), version };
    }
    case 'KeyCreditsToppedUp':
      return { ...record, credits: record.credits && topUpCredits(record.credits, event.data.periodStart, event.data.amount), version };
    // The first report stays: a key once leaked is leaked, whatever is done about it (its actions are their own events).
    case 'KeyLeakReported':
      return { ...record, leakReportedAt: record.leakReportedAt ?? Date.parse(event.data.at), version };
    // Anomalies, what was done about incidents and their acknowledgements change nothing of the key itself: the actions are their own events.
    case 'AnomalyDetected':
    case 'KeyIncidentHandled':
    case 'AnomalyAcknowledged':
      return { ...record, version };
    default:
      return event satisfies never;
  }
}
