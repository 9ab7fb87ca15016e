import type { IssueKeyRequest, KeyPage, KeyView, ListKeysRequest, RevokeKeyRequest, SuspendKeyRequest, TopUpKeyRequest, UpdateKeyRequest } from '@keyledger/contracts';
import type { Caller, CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, authorizeScopeGrant } from '@keyledger/admin-auth';
import { ApiError } from '@keyledger/contracts';
import { retryConflicts } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { KeyRecord } from '@keyledger/key-domain';
import { DEFAULT_KEY_PREFIX, keysAddedByChange, statusAt } from '@keyledger/key-domain';
import type { FenceResult, KeyIndex, VerifierFence } from '@keyledger/key-projection';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyCommandRunnerDependencies } from './key-command-runner.js';
import { KeyCommandRunner } from './key-command-runner.js';
import { toKeyView } from './key-view.js';
import type { TenantKeyQuota } from './tenant-key-quota.js';

export interface KeyCommandsDependencies extends KeyCommandRunnerDependencies {
  readonly hasher: KeyHasher;
  /** The process's key projection: credits consumed, and the keys `list` answers. */
  readonly index: KeyIndex;
  /** Revocations that wait for the verifiers wait on it; without it, none waits. */
  readonly fence?: VerifierFence | undefined;
  readonly fenceTimeoutMs?: number;
  /** The key prefix of a tenant; `kl` unless configured. */
  readonly prefixFor?: (tenant: string) => string;
  /** Holds each tenant to its number of live keys (shared with the process's KeyRotation); without it, none is limited. */
  readonly quota?: TenantKeyQuota | undefined;
}

/** A revocation stored but not confirmed by every live verifier in time: the error naming them. */
export function unconfirmedRevocation(view: KeyView, fence: FenceResult): ApiError {
  const unconfirmed = fence.verifiers.filter((verifier) => !verifier.applied).map((verifier) => verifier.instance);
  return new ApiError(
    'VERIFIERS_UNCONFIRMED',
    `key ${view.keyId} is revoked, but verifier(s) ${unconfirmed.join(', ')} did not confirm it within ${fence.waitedMs} ms; they may accept it until they catch up`,
    { unconfirmed, waitedMs: fence.waitedMs, view },
  );
}

/** The most JSON one page of keys carries, well under NATS's default 1 MiB message. */
export const LIST_PAGE_BYTES = 256 * 1024;

export interface IssuedKey {
  /** The plaintext: shown once, here, and never stored. */
  readonly key: string;
  readonly keyId: string;
  readonly view: KeyView;
}

export interface RevokedKey {
  readonly view: KeyView;
  readonly fence: FenceResult | undefined;
}

/**
 * The commands of one key's life (issue, update, top up, suspend, resume, revoke, end a quiet
 * grace) and the reads of the admin API. Each command runs through the KeyCommandRunner: one
 * read of the key's stream per attempt, the caller authorized against it, the domain's decision
 * appended at the version read.
 */
export class KeyCommands {
  private readonly clock: () => Date;
  private readonly runner: KeyCommandRunner;

  constructor(private readonly deps: KeyCommandsDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.runner = new KeyCommandRunner(deps);
  }

  async issue(request: IssueKeyRequest, context: CommandContext): Promise<IssuedKey> {
    authorizeAdmin(context.caller, request.tenant, 'write');
    authorizeScopeGrant(context.caller, request.scopes);
    const prefix = this.deps.prefixFor?.(request.tenant) ?? DEFAULT_KEY_PREFIX;
    const material = this.deps.hasher.newKey(prefix, request.environment);
    const keyId = newPrefixedId('key', this.clock());
    const issue = () =>
      this.runner.run(
        {
          type: 'IssueKey',
          keyId,
          tenant: request.tenant,
          owner: request.owner,
          name: request.name,
          environment: request.environment,
          prefix,
          digest: material.digest,
          hint: material.hint,
          scopes: request.scopes,
          ipAllowlist: request.ipAllowlist,
          expiresAt: request.expiresAt === undefined ? undefined : new Date(request.expiresAt),
          metadata: request.metadata,
          rateLimits: request.rateLimits,
          credits: request.credits,
          honeytoken: request.honeytoken,
        },
        context,
      );
    const { record } = this.deps.quota
      ? await this.deps.quota.admit(request.tenant, 1, this.clock().getTime(), issue, (added) => ({ keyId, version: added.record.version }))
      : await issue();
    return { key: material.plaintext, keyId, view: this.view(record) };
  }

  /**
   * Changes a key's settings; admin scopes it adds must be the caller's own (`authorizeScopeGrant`).
   * A new expiry that brings an expired key back takes a slot of its tenant's quota, as an issue does.
   */
  async update(request: UpdateKeyRequest, context: CommandContext): Promise<KeyView> {
    const expiresAt = request.expiresAt === undefined ? undefined : request.expiresAt === null ? null : new Date(request.expiresAt);
    const command = { type: 'UpdateKey', ...request, expiresAt } as const;
    const { record } = await retryConflicts(async () => {
      const loaded = await this.runner.loadAuthorized(request.keyId, context.caller, 'write');
      if (request.scopes !== undefined) authorizeScopeGrant(context.caller, request.scopes, loaded.record.scopes);
      const decided = this.runner.decide(command, loaded);
      const append = () => this.runner.append(decided, loaded, context);
      const now = this.clock().getTime();
      return this.deps.quota
        ? this.deps.quota.admit(loaded.record.tenant, keysAddedByChange(loaded.record, decided.record, now), now, append, (added) => ({
            keyId: request.keyId,
            version: added.record.version,
          }))
        : append();
    });
    return this.view(record);
  }

  /** Adds credits to the current period's balance of a key with a quota. */
  async topUp(request: TopUpKeyRequest, context: CommandContext): Promise<KeyView> {
    return this.view((await this.runner.run({ type: 'TopUpCredits', ...request }, context, 'write')).record);
  }

  async suspend(request: SuspendKeyRequest, context: CommandContext): Promise<KeyView> {
    return this.view((await this.runner.run({ type: 'SuspendKey', ...request }, context, 'write')).record);
  }

  async resume(keyId: string, context: CommandContext): Promise<KeyView> {
    return this.view((await this.runner.run({ type: 'ResumeKey', keyId }, context, 'write')).record);
  }

  /** Revokes; with waitForVerifiers, answers once every live verifier rejects the key. */
  async revoke(request: RevokeKeyRequest, context: CommandContext): Promise<RevokedKey> {
    const { record, position } = await this.runner.run({ type: 'RevokeKey', keyId: request.keyId, reason: request.reason }, context, 'write');
    const fence =
      request.waitForVerifiers && position && this.deps.fence ? await this.deps.fence.waitFor(position, this.deps.fenceTimeoutMs ?? 5000) : undefined;
    const view = this.view(record);
    // The caller asked to hear back once no verifier accepts the key: a silent success would
    // let it believe so while some still may.
    if (fence && !fence.complete) throw unconfirmedRevocation(view, fence);
    return { view, fence };
  }

  /**
   * Ends a rotated key's grace now because it has not been used for its quiet period, given its
   * last recorded use and the usage watermark (the rotator asks the auditor for both). The
   * domain rule decides against the key's stream as read, and KeyGraceEnded is appended at that
   * version: of two replicas deciding the same, one records it and the other is refused
   * (INVALID_TRANSITION, or CONCURRENCY_CONFLICT after retries).
   */
  async endQuietGrace(
    request: { readonly keyId: string; readonly lastUsedAt: number | undefined; readonly ingestedUntil: number | undefined; readonly usageLagMs: number },
    context: CommandContext,
  ): Promise<KeyView> {
    return this.view((await this.runner.run({ type: 'EndQuietGrace', ...request }, context, 'write')).record);
  }

  /**
   * Reads a key straight from its stream: consistent with every command that answered. Its
   * remaining credits are as of the consumption verifiers have flushed (about every second).
   */
  async get(keyId: string, caller: Caller): Promise<KeyView> {
    return this.view((await this.runner.loadAuthorized(keyId, caller, 'read')).record);
  }

  /**
   * A page of a tenant's keys from the in-memory projection (may trail the newest commands by
   * milliseconds), in key id order. A page ends early once its JSON nears LIST_PAGE_BYTES, so
   * the reply fits any transport's message whatever the keys hold (the smallest NATS server
   * Keyledger runs on takes 320 KiB: MIN_NATS_MAX_PAYLOAD, libs/nats-connection).
   */
  list(request: ListKeysRequest, caller: Caller): KeyPage {
    authorizeAdmin(caller, request.tenant, 'read');
    const now = this.clock().getTime();
    const { owner, status } = request;
    const filtered = owner !== undefined || status !== undefined;
    // One more than asked: whether it exists says if a next page does. A filter is applied to
    // the tenant's keys after the cursor, so a page is still `limit` matching keys.
    const all = this.deps.index.listByTenant(request.tenant, { after: request.cursor, ...(filtered ? {} : { limit: request.limit + 1 }) });
    const records = filtered
      ? all.filter((record) => (owner === undefined || record.owner === owner) && (status === undefined || statusAt(record.status, record.expiresAt, now) === status))
      : all;
    const keys: KeyView[] = [];
    let bytes = 0;
    for (const record of records.slice(0, request.limit)) {
      const view = toKeyView(record, now);
      bytes += Buffer.byteLength(JSON.stringify(view));
      if (keys.length > 0 && bytes > LIST_PAGE_BYTES) break;
      keys.push(view);
    }
    const more = keys.length < records.length;
    return more ? { keys, nextCursor: keys[keys.length - 1]!.keyId } : { keys };
  }

  private view(record: KeyRecord): KeyView {
    return toKeyView(record, this.clock().getTime());
  }
}
