import type { CreditsSetting, KeyDigest, KeyEvent, KeyUpdatedData, RateLimit } from '@keyledger/contracts';
import { MAX_QUIET_PERIOD_MS, MIN_QUIET_PERIOD_MS } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';
import type { KeyEnvironment } from './key-format.js';
import { isValidKeyPrefix } from './key-format.js';
import { MAX_ALLOWLIST_ENTRIES, formatCidr, parseCidr } from './ip-allowlist.js';
import type { KeyRecord } from './key-record.js';
import type { KeyStatus } from './key-status.js';
import { statusAt } from './key-status.js';
import { MAX_SCOPES, isGrantableScope } from './scopes.js';
import { normaliseRateLimits } from './rate-limits.js';
import { creditPeriodStart, recordCredits, remainingCredits } from './credits.js';
import { graceEnd } from './rotation.js';
import { quietGraceDecision } from './quiet-grace.js';
import { KEY_RETENTION_MS, mayBringBack } from './key-retention.js';

/** Issue a new key. The caller has generated the key and computed its digest and hint. */
export interface IssueKey {
  readonly type: 'IssueKey';
  readonly keyId: string;
  readonly tenant: string;
  readonly owner: string;
  readonly name?: string | undefined;
  readonly environment: KeyEnvironment;
  readonly prefix: string;
  readonly digest: KeyDigest;
  readonly hint: string;
  readonly scopes: readonly string[];
  readonly ipAllowlist: readonly string[];
  readonly expiresAt?: Date | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly rateLimits?: readonly RateLimit[] | undefined;
  readonly credits?: CreditsSetting | undefined;
  /** For the replacement a rotation issues: the key it replaces. */
  readonly rotatedFrom?: string | undefined;
  /** A key never to be used: a tripwire whose every verification answers NOT_FOUND and is reported. */
  readonly honeytoken?: boolean | undefined;
}

/** Change some of a key's settings; fields left undefined stay as they are. */
export interface UpdateKey {
  readonly type: 'UpdateKey';
  readonly keyId: string;
  readonly name?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly ipAllowlist?: readonly string[] | undefined;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** null removes the expiry. */
  readonly expiresAt?: Date | null | undefined;
  /** Replaces every rate limit; [] removes them. */
  readonly rateLimits?: readonly RateLimit[] | undefined;
  /** Sets the quota and its balance for the current period; null removes it. */
  readonly credits?: CreditsSetting | null | undefined;
}

/** Add credits to the balance of the current period. */
export interface TopUpCredits {
  readonly type: 'TopUpCredits';
  readonly keyId: string;
  readonly amount: number;
}

export interface SuspendKey {
  readonly type: 'SuspendKey';
  readonly keyId: string;
  readonly reason?: string | undefined;
}

export interface ResumeKey {
  readonly type: 'ResumeKey';
  readonly keyId: string;
}

export interface RevokeKey {
  readonly type: 'RevokeKey';
  readonly keyId: string;
  readonly reason: string;
}

/**
 * Rotate a key: record on it that `replacedBy` replaces it and when its grace ends. The
 * replacement itself is an IssueKey on its own stream (see `replacementOf`), appended after.
 */
export interface RotateKey {
  readonly type: 'RotateKey';
  readonly keyId: string;
  readonly replacedBy: string;
  readonly graceMs: number;
  /** Revoke the old key at once instead of giving it a grace period. */
  readonly emergency: boolean;
  /** The old key's grace ends early once it is unused this long (recorded with the rotation); undefined: never early. */
  readonly quietPeriodMs?: number | undefined;
}

/**
 * End a rotated key's grace now because it has been unused for its quiet period, given what
 * the auditor knows of its use (see `quietGraceDecision`). Refused (INVALID_TRANSITION) unless
 * the rule says so against the key's current record: a second replica deciding the same is refused.
 */
export interface EndQuietGrace {
  readonly type: 'EndQuietGrace';
  readonly keyId: string;
  /** Epoch ms; undefined: never used. */
  readonly lastUsedAt: number | undefined;
  /** Epoch ms; undefined: unknown. */
  readonly ingestedUntil: number | undefined;
  readonly usageLagMs: number;
}

export type KeyCommand = IssueKey | UpdateKey | TopUpCredits | SuspendKey | ResumeKey | RevokeKey | RotateKey | EndQuietGrace;

/** What a rotation may change on the replacement; fields left undefined are copied from the old key. */
export interface ReplacementSettings {
  readonly keyId: string;
  readonly digest: KeyDigest;
  readonly hint: string;
  readonly name?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly ipAllowlist?: readonly string[] | undefined;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** null: no expiry; undefined: the old key's own expiry (not its grace end). */
  readonly expiresAt?: Date | null | undefined;
  readonly rateLimits?: readonly RateLimit[] | undefined;
  /** null: no quota; undefined: the old key's refill and the balance it has left now. */
  readonly credits?: CreditsSetting | null | undefined;
}

/**
 * The IssueKey of a rotated key's replacement: everything the old key has (tenant, owner,
 * environment, prefix, scopes, allowlist, metadata, limits, the quota with what remains of
 * it) unless the rotation changes it. `ownExpiry` is the old key's expiry before the rotation
 * capped it to the grace end.
 */
export function replacementOf(old: KeyRecord, settings: ReplacementSettings, ownExpiry: number | undefined, now: Date): IssueKey {
  const credits =
    settings.credits !== undefined
      ? (settings.credits ?? undefined)
      : old.credits && { remaining: remainingCredits(old.credits, now.getTime()), ...(old.credits.refill ? { refill: old.credits.refill } : {}) };
  return {
    type: 'IssueKey',
    keyId: settings.keyId,
    tenant: old.tenant,
    owner: old.owner,
    name: settings.name ?? old.name,
    environment: old.environment,
    prefix: old.prefix,
    digest: settings.digest,
    hint: settings.hint,
    scopes: settings.scopes ?? old.scopes,
    ipAllowlist: settings.ipAllowlist ?? old.ipAllowlist,
    expiresAt: settings.expiresAt === undefined ? (ownExpiry === undefined ? undefined : new Date(ownExpiry)) : (settings.expiresAt ?? undefined),
    metadata: settings.metadata ?? old.metadata,
    rateLimits: settings.rateLimits ?? old.rateLimits,
    credits,
    rotatedFrom: old.keyId,
  };
}

function invalid(message: string): never {
  throw new DomainError('INVALID_ARGUMENT', message);
}

function normaliseScopes(scopes: readonly string[]): string[] {
  if (scopes.length > MAX_SCOPES) invalid(`at most ${MAX_SCOPES} scopes`);
  const bad = scopes.filter((scope) => !isGrantableScope(scope));
  if (bad.length > 0) invalid(`invalid scopes: ${bad.map((scope) => JSON.stringify(scope)).join(', ')}`);
  return [...new Set(scopes)].sort();
}

function normaliseAllowlist(cidrs: readonly string[]): string[] {
  if (cidrs.length > MAX_ALLOWLIST_ENTRIES) invalid(`at most ${MAX_ALLOWLIST_ENTRIES} allowlist entries`);
  return [
    ...new Set(
      cidrs.map((cidr) => {
        const range = parseCidr(cidr);
        return range ? formatCidr(range) : invalid(`invalid IP range ${JSON.stringify(cidr)}: expected an address or CIDR`);
      }),
    ),
  ];
}

function requireFutureExpiry(expiresAt: Date, now: Date): string {
  if (Number.isNaN(expiresAt.getTime())) invalid('expiry is not a valid time');
  if (expiresAt.getTime() <= now.getTime()) invalid('expiry must be in the future');
  return expiresAt.toISOString();
}

function decideIssue(command: IssueKey, record: KeyRecord | undefined, now: Date): KeyEvent[] {
  if (record) throw new DomainError('KEY_ALREADY_EXISTS', `key ${command.keyId} already exists`);
  if (!isValidKeyPrefix(command.prefix)) invalid(`invalid key prefix ${JSON.stringify(command.prefix)}`);
  if (command.honeytoken && command.rotatedFrom !== undefined) invalid('a rotation never issues a honeytoken');
  const data = {
    keyId: command.keyId,
    tenant: command.tenant,
    owner: command.owner,
    ...(command.name === undefined ? {} : { name: command.name }),
    environment: command.environment,
    prefix: command.prefix,
    digest: command.digest,
    hint: command.hint,
    scopes: normaliseScopes(command.scopes),
    ipAllowlist: normaliseAllowlist(command.ipAllowlist),
    ...(command.expiresAt === undefined ? {} : { expiresAt: requireFutureExpiry(command.expiresAt, now) }),
    metadata: { ...command.metadata },
    ...(command.rateLimits?.length ? { rateLimits: normaliseRateLimits(command.rateLimits) } : {}),
    ...(command.credits ? { credits: recordCredits(command.credits, now.getTime()) } : {}),
    ...(command.rotatedFrom === undefined ? {} : { rotatedFrom: command.rotatedFrom }),
    ...(command.honeytoken ? { honeytoken: true as const } : {}),
  };
  return [{ type: 'KeyIssued', data }];
}

function decideUpdate(command: UpdateKey, record: KeyRecord, now: Date): KeyEvent[] {
  const change: { -readonly [K in keyof KeyUpdatedData]: KeyUpdatedData[K] } = { keyId: command.keyId };
  if (command.name !== undefined && command.name !== record.name) change.name = command.name;
  if (command.scopes !== undefined) {
    const scopes = normaliseScopes(command.scopes);
    if (scopes.join('\n') !== record.scopes.join('\n')) change.scopes = scopes;
  }
  if (command.ipAllowlist !== undefined) {
    const allowlist = normaliseAllowlist(command.ipAllowlist);
    if (allowlist.join('\n') !== record.ipAllowlist.join('\n')) change.ipAllowlist = allowlist;
  }
  if (command.metadata !== undefined) change.metadata = { ...command.metadata };
  if (command.expiresAt === null && record.expiresAt !== undefined) change.expiresAt = null;
  if (command.expiresAt instanceof Date) change.expiresAt = requireFutureExpiry(command.expiresAt, now);
  if (command.rateLimits !== undefined) {
    const limits = normaliseRateLimits(command.rateLimits);
    if (JSON.stringify(limits) !== JSON.stringify(record.rateLimits)) change.rateLimits = limits;
  }
  // Setting a quota always records the balance, even an unchanged one: it restarts the count.
  if (command.credits === null && record.credits !== undefined) change.credits = null;
  if (command.credits) change.credits = recordCredits(command.credits, now.getTime());
  // An update that changes nothing records nothing.
  return Object.keys(change).length === 1 ? [] : [{ type: 'KeyUpdated', data: change }];
}

function decideRotate(command: RotateKey, record: KeyRecord, status: KeyStatus, now: Date): KeyEvent[] {
  // Its replacement would be a real key with the honeytoken's tenant, owner and scopes, handed to whoever holds the owner's delivery.
  if (record.honeytoken)
    throw new DomainError('INVALID_TRANSITION', `cannot rotate key ${command.keyId}: it is a honeytoken, which is never replaced by a usable key`);
  if (record.rotation)
    throw new DomainError('INVALID_TRANSITION', `cannot rotate key ${command.keyId}: it was rotated already (replaced by ${record.rotation.replacedBy})`);
  // A suspended key may be rotated (that is how a suspicious key is replaced); a revoked or
  // expired one may not: its replacement would bring a dead credential back.
  if (status === 'revoked' || status === 'expired') throw new DomainError('INVALID_TRANSITION', `cannot rotate key ${command.keyId}: it is ${status}`);
  if (command.replacedBy === command.keyId) invalid('a key cannot replace itself');
  const quiet = command.emergency ? undefined : command.quietPeriodMs;
  if (quiet !== undefined && !(Number.isSafeInteger(quiet) && quiet >= MIN_QUIET_PERIOD_MS && quiet <= MAX_QUIET_PERIOD_MS))
    invalid(`a quiet period is a whole number of milliseconds from ${MIN_QUIET_PERIOD_MS} to ${MAX_QUIET_PERIOD_MS}`);
  const rotated: KeyEvent = {
    type: 'KeyRotated',
    data: {
      keyId: command.keyId,
      replacedBy: command.replacedBy,
      graceEndsAt: graceEnd(now, command.graceMs, command.emergency).toISOString(),
      ...(command.emergency ? { emergency: true } : {}),
      rotatedAt: now.toISOString(),
      ...(quiet === undefined ? {} : { quietPeriodMs: quiet }),
    },
  };
  return command.emergency ? [rotated, { type: 'KeyRevoked', data: { keyId: command.keyId, reason: 'emergency rotation' } }] : [rotated];
}

function decideEndQuietGrace(command: EndQuietGrace, record: KeyRecord, now: Date): KeyEvent[] {
  if (!Number.isSafeInteger(command.usageLagMs) || command.usageLagMs < 0) invalid('a usage lag is a whole number of milliseconds, 0 or more');
  const decision = quietGraceDecision(record, { lastUsedAt: command.lastUsedAt, ingestedUntil: command.ingestedUntil }, now.getTime(), command.usageLagMs);
  if (!decision.close) throw new DomainError('INVALID_TRANSITION', `the grace of key ${command.keyId} does not end now: ${decision.reason}`);
  return [
    {
      type: 'KeyGraceEnded',
      data: {
        keyId: command.keyId,
        endedAt: new Date(decision.endedAt).toISOString(),
        reason: 'quiet',
        quietPeriodMs: decision.quietPeriodMs,
        ...(command.lastUsedAt === undefined ? {} : { lastUsedAt: new Date(command.lastUsedAt).toISOString() }),
        // Checked by the rule: defined whenever it closes.
        usageIngestedUntil: new Date(command.ingestedUntil!).toISOString(),
      },
    },
  ];
}

/** How a person says each command on an existing key, for refusals. */
const COMMAND_VERBS: { readonly [C in Exclude<KeyCommand['type'], 'IssueKey'>]: string } = {
  UpdateKey: 'update',
  TopUpCredits: 'top up',
  SuspendKey: 'suspend',
  ResumeKey: 'resume',
  RevokeKey: 'revoke',
  RotateKey: 'rotate',
  EndQuietGrace: 'end the grace of',
};

/** The status a command leads to, so a refusal can say "already suspended". */
const TARGET_STATUS: Partial<Record<KeyCommand['type'], string>> = { SuspendKey: 'suspended', ResumeKey: 'active', RevokeKey: 'revoked' };

/**
 * Decides what a command on one key records, given the key's record (undefined when it was
 * never issued) and the time. Throws a DomainError for a command the rules refuse.
 */
export function decideKey(command: KeyCommand, record: KeyRecord | undefined, now: Date): KeyEvent[] {
  if (command.type === 'IssueKey') return decideIssue(command, record, now);
  if (!record) throw new DomainError('KEY_NOT_FOUND', `key ${command.keyId} does not exist`);
  const status = statusAt(record.status, record.expiresAt, now.getTime());
  const refuse = (): never => {
    const already = TARGET_STATUS[command.type] === status ? 'already ' : '';
    throw new DomainError('INVALID_TRANSITION', `cannot ${COMMAND_VERBS[command.type]} key ${command.keyId}: it is ${already}${status}`);
  };
  switch (command.type) {
    case 'UpdateKey':
      if (status === 'revoked') refuse();
      // Every key index has forgotten it by now: brought back, it would verify nowhere.
      if (status === 'expired' && command.expiresAt !== undefined && !mayBringBack(record.expiresAt, now.getTime()))
        throw new DomainError(
          'INVALID_TRANSITION',
          `cannot bring key ${command.keyId} back: it expired more than ${KEY_RETENTION_MS / 86_400_000} days ago and is forgotten; issue a new key`,
        );
      return decideUpdate(command, record, now);
    case 'TopUpCredits':
      if (status === 'revoked') refuse();
      if (!record.credits) invalid(`key ${command.keyId} has no quota to top up`);
      if (!Number.isSafeInteger(command.amount) || command.amount < 1) invalid('a top-up is a positive whole number of credits');
      return [
        {
          type: 'KeyCreditsToppedUp',
          data: { keyId: command.keyId, amount: command.amount, periodStart: creditPeriodStart(record.credits.refill, now.getTime()) },
        },
      ];
    case 'SuspendKey':
      if (status !== 'active') refuse();
      return [{ type: 'KeySuspended', data: command.reason === undefined ? { keyId: command.keyId } : { keyId: command.keyId, reason: command.reason } }];
    case 'ResumeKey':
      if (status !== 'suspended') refuse();
      return [{ type: 'KeyResumed', data: { keyId: command.keyId } }];
    case 'RevokeKey':
      // An expired or suspended key can still be revoked: revocation is the terminal record.
      if (status === 'revoked') refuse();
      return [{ type: 'KeyRevoked', data: { keyId: command.keyId, reason: command.reason } }];
    case 'RotateKey':
      return decideRotate(command, record, status, now);
    case 'EndQuietGrace':
      return decideEndQuietGrace(command, record, now);
    default:
      return command satisfies never;
  }
}
