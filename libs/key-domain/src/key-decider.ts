import type { CreditsSetting, KeyDigest, KeyEvent, KeyUpdatedData, RateLimit } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';
import type { KeyEnvironment } from './key-format.js';
import { isValidKeyPrefix } from './key-format.js';
import { MAX_ALLOWLIST_ENTRIES, formatCidr, parseCidr } from './ip-allowlist.js';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';
import { MAX_SCOPES, isGrantableScope } from './scopes.js';
import { normaliseRateLimits } from './rate-limits.js';
import { creditPeriodStart, recordCredits } from './credits.js';

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

export type KeyCommand = IssueKey | UpdateKey | TopUpCredits | SuspendKey | ResumeKey | RevokeKey;

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

/**
 * Decides what a command on one key records, given the key's record (undefined when it was
 * never issued) and the time. Throws a DomainError for a command the rules refuse.
 */
export function decideKey(command: KeyCommand, record: KeyRecord | undefined, now: Date): KeyEvent[] {
  if (command.type === 'IssueKey') return decideIssue(command, record, now);
  if (!record) throw new DomainError('KEY_NOT_FOUND', `key ${command.keyId} does not exist`);
  const status = statusAt(record.status, record.expiresAt, now.getTime());
  const refuse = (): never => {
    throw new DomainError('INVALID_TRANSITION', `cannot ${command.type} key ${command.keyId}: it is ${status}`);
  };
  switch (command.type) {
    case 'UpdateKey':
      if (status === 'revoked') refuse();
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
    default:
      return command satisfies never;
  }
}
