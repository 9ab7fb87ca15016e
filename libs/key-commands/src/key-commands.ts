import { AbortError } from 'p-retry';
import type {
  EventMetadata,
  IssueKeyRequest,
  KeyEvent,
  KeyView,
  OwnerPublicKeyRegisteredData,
  OwnerPublicKeyView,
  OwnerWebhookRegisteredData,
  OwnerWebhookView,
  RegisterOwnerPublicKeyRequest,
  RegisterOwnerWebhookRequest,
  RevokeKeyRequest,
  GetRotationPolicyRequest,
  RotateKeyRequest,
  RotationPolicySetData,
  RotationPolicyView,
  SetRotationPolicyRequest,
  SuspendKeyRequest,
  TopUpKeyRequest,
  UpdateKeyRequest,
} from '@keyledger/contracts';
import { ApiError, ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { ConcurrencyConflictError, InvalidEventError, NO_STREAM } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { KeyCommand, KeyRecord } from '@keyledger/key-domain';
import type { OwnerPublicKeyTable, RotationPolicyTable } from '@keyledger/key-domain';
import {
  DEFAULT_KEY_PREFIX,
  DomainError,
  decideKey,
  effectivePolicy,
  evolveKey,
  ownerPublicKeyOf,
  ownerWebhookOf,
  parseKey,
  policyAt,
  replacementOf,
} from '@keyledger/key-domain';
import { parseX25519PublicKey, SealedKeyError, x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import type { FenceResult, KeyIndex, VerifierFence } from '@keyledger/key-projection';
import type { KeyHasher, WebhookSecrets } from '@keyledger/key-secrets';
import type { KeyDeliveries, KeyDeliveryStatus, PreparedDelivery } from './key-deliveries.js';
import type { AdminPermission, Caller } from './admin-authenticator.js';
import { authorizeAdmin, seesTenant } from './admin-permissions.js';
import { commandMetadata } from './command-metadata.js';
import { toKeyView } from './key-view.js';
import { SYSTEM_CALLER } from './periodic-task.js';
import { retryConflicts } from './conflict-retry.js';
import { loadKey } from './key-stream.js';
import type { TenantSettings } from './tenant-settings.js';
import { readTenantSettings } from './tenant-settings.js';

/** Context of a command for its events' metadata. */
export interface CommandContext {
  readonly caller: Caller;
  readonly correlationId: string;
  readonly traceparent?: string | undefined;
  /** The event that caused the command (an incident, for the rotator's response); else the correlation id. */
  readonly causationId?: string | undefined;
}

export interface KeyManagementDependencies {
  readonly store: PostgresEventStore;
  readonly hasher: KeyHasher;
  readonly index: KeyIndex;
  readonly fence?: VerifierFence | undefined;
  readonly fenceTimeoutMs?: number;
  readonly clock?: () => Date;
  /** The key prefix of a tenant; `kl` unless configured. */
  readonly prefixFor?: (tenant: string) => string;
  /** Grace of a rotation that names none; 24 h unless configured. */
  readonly rotationGraceMs?: number;
  /** Who the events of the system caller (bootstrap, scheduled rotations) name as actor. */
  readonly systemActor?: string;
  /** Delivers a rotation's new key sealed to its owner's public key, until acknowledged; without it, nothing is delivered. */
  readonly delivery?: KeyDeliveries;
  /** Derives the signing secrets of owners' webhooks; without it, webhooks cannot be registered. */
  readonly webhookSecrets?: WebhookSecrets;
}

export interface IssuedKey {
  /** The plaintext: shown once, here, and never stored. */
  readonly key: string;
  readonly keyId: string;
  readonly view: KeyView;
}

export interface RotatedKey extends IssuedKey {
  /** The old key as it is now: rotated, valid until its grace end (or revoked, in an emergency). */
  readonly previous: KeyView;
  /** For an emergency rotation that waited for the verifiers. */
  readonly fence: FenceResult | undefined;
  /** Whether the new key was published sealed to its owner's public key. */
  readonly delivery: KeyDeliveryStatus;
}

export interface RevokedKey {
  readonly view: KeyView;
  readonly fence: FenceResult | undefined;
}

const SYSTEM_STREAM = 'system-bootstrap';

/** A rule violation, lost race or store failure as the API error every transport maps; anything else is rethrown. */
export function domainToApi(error: unknown): never {
  if (error instanceof DomainError) throw new ApiError(error.code, error.message);
  if (error instanceof ConcurrencyConflictError) throw new ApiError('CONCURRENCY_CONFLICT', 'the key changed concurrently; retry');
  // The store refuses what the request carried into the event (a correlation id too long, say).
  if (error instanceof InvalidEventError) throw new ApiError('INVALID_ARGUMENT', error.message);
  if (isDatabaseUnavailable(error)) throw new ApiError('UNAVAILABLE', 'the event store is unreachable; retry later');
  throw error;
}

/** `retryConflicts`, with its failures as API errors (`domainToApi`). */
export async function retryOnConflict<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await retryConflicts(run);
  } catch (error) {
    return domainToApi(error);
  }
}

/** Connection-level failures (refused, reset, server shutting down), not bugs. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

function isDatabaseUnavailable(error: unknown): boolean {
  const cause = (error as { driverError?: unknown } | null)?.driverError ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : '';
  return (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) || /Connection terminated|timeout exceeded when trying to connect/.test(message);
}

/**
 * The issuer's application service: loads a key's stream, lets the domain decide, appends
 * the events with the version it read (retrying a lost race a few times), and answers.
 */
export class KeyManagement {
  private readonly clock: () => Date;

  constructor(private readonly deps: KeyManagementDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  async issue(request: IssueKeyRequest, context: CommandContext): Promise<IssuedKey> {
    this.authorize(context.caller, request.tenant, 'write');
    const prefix = this.deps.prefixFor?.(request.tenant) ?? DEFAULT_KEY_PREFIX;
    const material = this.deps.hasher.newKey(prefix, request.environment);
    const keyId = newPrefixedId('key', this.clock());
    const record = await this.execute(
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
      },
      context,
    );
    return { key: material.plaintext, keyId, view: toKeyView(record, this.clock().getTime()) };
  }

  async update(request: UpdateKeyRequest, context: CommandContext): Promise<KeyView> {
    await this.loadAuthorized(request.keyId, context.caller, 'write');
    const expiresAt = request.expiresAt === undefined ? undefined : request.expiresAt === null ? null : new Date(request.expiresAt);
    const record = await this.execute({ type: 'UpdateKey', ...request, expiresAt }, context);
    return toKeyView(record, this.clock().getTime());
  }

  /** Adds credits to the current period's balance of a key with a quota. */
  async topUp(request: TopUpKeyRequest, context: CommandContext): Promise<KeyView> {
    await this.loadAuthorized(request.keyId, context.caller, 'write');
    return toKeyView(await this.execute({ type: 'TopUpCredits', ...request }, context), this.clock().getTime());
  }

  async suspend(request: SuspendKeyRequest, context: CommandContext): Promise<KeyView> {
    await this.loadAuthorized(request.keyId, context.caller, 'write');
    return toKeyView(await this.execute({ type: 'SuspendKey', ...request }, context), this.clock().getTime());
  }

  async resume(keyId: string, context: CommandContext): Promise<KeyView> {
    await this.loadAuthorized(keyId, context.caller, 'write');
    return toKeyView(await this.execute({ type: 'ResumeKey', keyId }, context), this.clock().getTime());
  }

  /** Revokes; with waitForVerifiers, answers once every live verifier rejects the key. */
  async revoke(request: RevokeKeyRequest, context: CommandContext): Promise<RevokedKey> {
    await this.loadAuthorized(request.keyId, context.caller, 'write');
    let appended: { transactionId: string; position: string } | undefined;
    const record = await this.execute({ type: 'RevokeKey', keyId: request.keyId, reason: request.reason }, context, (position) => {
      appended = position;
    });
    const fence =
      request.waitForVerifiers && appended && this.deps.fence ? await this.deps.fence.waitFor(appended, this.deps.fenceTimeoutMs ?? 5000) : undefined;
    return { view: toKeyView(record, this.clock().getTime()), fence };
  }

  /**
   * Replaces a key by a new one with its settings (changed by the request) and the credits it
   * has left, and gives the old one a grace period (none and revoked in an emergency).
   *
   * Two streams change, in two appends: first the old key's KeyRotated (at the version read,
   * so of two concurrent rotations of one key only one records anything), then the new key's
   * KeyIssued. If the process dies between them, the old key names a replacement that does
   * not exist yet; nobody has seen its plaintext, so rotating the old key again completes the
   * rotation: it issues the recorded replacement with fresh key material and the settings of
   * that call, keeping the recorded grace end.
   */
  async rotate(request: RotateKeyRequest, context: CommandContext): Promise<RotatedKey> {
    const before = await this.loadAuthorized(request.keyId, context.caller, 'write');
    let old = before;
    let ownExpiry = before.expiresAt;
    let appended: { transactionId: string; position: string } | undefined;
    const pending = before.rotation && (await this.deps.store.streamVersion(streamIdOf('key', before.rotation.replacedBy))) === 0;
    // Read once, when first needed: the quiet period, the owner's public key and webhook all come from it.
    let settings: Promise<TenantSettings> | undefined;
    const tenantSettings = (): Promise<TenantSettings> => (settings ??= readTenantSettings(this.deps.store, before.tenant));
    if (!pending) {
      // The id carries the command's time: the key's age, for rotation policies.
      const replacedBy = newPrefixedId('key', this.clock());
      const command = {
        type: 'RotateKey',
        keyId: request.keyId,
        replacedBy,
        graceMs: request.emergency ? 0 : (request.graceMs ?? this.deps.rotationGraceMs ?? 24 * 3_600_000),
        emergency: request.emergency,
        quietPeriodMs: request.emergency ? undefined : await this.quietPeriodFor(before, request.quietPeriodMs, tenantSettings),
      } as const;
      old = await this.execute(command, context, (position) => {
        appended = position;
      });
    } else {
      // The expiry was capped to the grace end; the old key's own expiry, if later, is not known here.
      if (before.expiresAt === before.rotation.graceEndsAt) ownExpiry = undefined;
      // Completing an interrupted rotation as an emergency: the old key must stop now, not at the recorded grace end.
      if (request.emergency && before.status !== 'revoked')
        old = await this.execute({ type: 'RevokeKey', keyId: request.keyId, reason: 'emergency rotation' }, context, (position) => {
          appended = position;
        });
    }
    const replacedBy = old.rotation!.replacedBy;
    const material = this.deps.hasher.newKey(old.prefix, old.environment);
    const expiresAt = request.expiresAt === undefined ? undefined : request.expiresAt === null ? null : new Date(request.expiresAt);
    const command = replacementOf(before, { ...request, keyId: replacedBy, digest: material.digest, hint: material.hint, expiresAt }, ownExpiry, this.clock());
    // Sealed and stored before the key is issued, so no crash after its KeyIssued loses it. A
    // failed append leaves the sealed copy too: the failure may come after the commit (the
    // connection lost), and then that copy is the only one. The rotator sends only material
    // that was issued, and drops the rest (see DeliveryRetries).
    const prepared = await this.prepareDelivery(command, request.keyId, old.rotation!.graceEndsAt, material.plaintext, tenantSettings);
    const issued = await this.execute(command, context);
    const fence =
      request.emergency && request.waitForVerifiers && appended && this.deps.fence
        ? await this.deps.fence.waitFor(appended, this.deps.fenceTimeoutMs ?? 5000)
        : undefined;
    const delivery =
      typeof prepared === 'string'
        ? prepared
        : await this.deps.delivery!.deliver(prepared, this.metadata(context.caller, context.correlationId, context.traceparent));
    const now = this.clock().getTime();
    return { key: material.plaintext, keyId: replacedBy, view: toKeyView(issued, now), previous: toKeyView(old, now), fence, delivery };
  }

  /**
   * The quiet period a rotation records: the request's (null: none), else the rotation policy's
   * that applies to the key's owner now. Recorded with the rotation, so a later policy change
   * does not change what was promised to the old key's holder.
   */
  private async quietPeriodFor(
    key: KeyRecord,
    requested: number | null | undefined,
    tenantSettings: () => Promise<TenantSettings>,
  ): Promise<number | undefined> {
    if (requested !== undefined) return requested ?? undefined;
    return effectivePolicy((await tenantSettings()).rotationPolicies, key.tenant, key.owner).quietPeriodMs ?? undefined;
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
    await this.loadAuthorized(request.keyId, context.caller, 'write');
    return toKeyView(await this.execute({ type: 'EndQuietGrace', ...request }, context), this.clock().getTime());
  }

  /**
   * Seals a new key to its owner's latest public key (see KeyDeliveries): only the envelope
   * ever leaves the process. Answers a status instead when there is nothing to deliver.
   */
  private async prepareDelivery(
    command: KeyCommand & { type: 'IssueKey' },
    replaces: string,
    graceEndsAt: number,
    plaintext: string,
    tenantSettings: () => Promise<TenantSettings>,
  ): Promise<PreparedDelivery | KeyDeliveryStatus> {
    const deliveries = this.deps.delivery;
    if (!deliveries) return 'NOT_CONFIGURED';
    const { ownerPublicKeys, ownerWebhooks } = await tenantSettings();
    const publicKey = ownerPublicKeyOf(ownerPublicKeys, command.owner);
    if (publicKey === undefined) return 'NO_PUBLIC_KEY';
    return deliveries.prepare({
      keyId: command.keyId,
      replaces,
      tenant: command.tenant,
      owner: command.owner,
      publicKey,
      webhook: ownerWebhookOf(ownerWebhooks, command.owner),
      plaintext,
      digest: command.digest.digest,
      graceEndsAt,
      keyExpiresAt: command.expiresAt?.getTime(),
    });
  }

  /**
   * Registers an owner's HTTPS webhook (on the tenant's stream): the owner's rotated keys are
   * then also POSTed there, sealed and signed. The signing secret is derived from the pepper
   * and the registration's id, so it is stored nowhere and answered here, once; registering
   * again replaces the webhook and its secret.
   */
  async registerOwnerWebhook(request: RegisterOwnerWebhookRequest, context: CommandContext): Promise<OwnerWebhookView> {
    this.authorize(context.caller, request.tenant, 'write');
    const secrets = this.deps.webhookSecrets;
    if (!secrets) throw new ApiError('UNAVAILABLE', 'this process cannot register webhooks');
    const data: OwnerWebhookRegisteredData = { tenant: request.tenant, owner: request.owner, url: request.url, secretId: newPrefixedId('whk', this.clock()) };
    const streamId = streamIdOf('tenant', request.tenant);
    const run = async (): Promise<void> => {
      const version = await this.deps.store.streamVersion(streamId);
      await this.deps.store.append(streamId, version, [
        { type: 'OwnerWebhookRegistered', data, metadata: this.metadata(context.caller, context.correlationId, context.traceparent) },
      ]);
    };
    await retryOnConflict(run);
    return { tenant: request.tenant, owner: request.owner, url: request.url, secret: secrets.current(request.tenant, request.owner, data.secretId) };
  }

  /** Sets the rotation policy of a tenant or of one owner in it (on the tenant's stream). */
  async setRotationPolicy(request: SetRotationPolicyRequest, context: CommandContext): Promise<RotationPolicyView> {
    this.authorize(context.caller, request.tenant, 'write');
    const data: RotationPolicySetData = {
      tenant: request.tenant,
      ...(request.owner === undefined ? {} : { owner: request.owner }),
      maxAgeMs: request.maxAgeMs,
      graceMs: request.graceMs,
      // Written only when set, so policies without one keep the shape they always had.
      ...(request.quietPeriodMs == null ? {} : { quietPeriodMs: request.quietPeriodMs }),
    };
    const streamId = streamIdOf('tenant', request.tenant);
    const run = async (): Promise<void> => {
      const version = await this.deps.store.streamVersion(streamId);
      await this.deps.store.append(streamId, version, [
        { type: 'RotationPolicySet', data, metadata: this.metadata(context.caller, context.correlationId, context.traceparent) },
      ]);
    };
    await retryOnConflict(run);
    return this.rotationPolicyView(await this.rotationPolicies(request.tenant), request.tenant, request.owner);
  }

  /** The rotation policy set for a tenant or owner, and the one that applies there. */
  async getRotationPolicy(request: GetRotationPolicyRequest, caller: Caller): Promise<RotationPolicyView> {
    this.authorize(caller, request.tenant, 'read');
    return this.rotationPolicyView(await this.rotationPolicies(request.tenant), request.tenant, request.owner);
  }

  /** A tenant's rotation policies, folded from its stream. */
  async rotationPolicies(tenant: string): Promise<RotationPolicyTable> {
    return (await readTenantSettings(this.deps.store, tenant)).rotationPolicies;
  }

  /**
   * Registers an owner's X25519 public key (on the tenant's stream); the owner's new keys are
   * then delivered sealed to the latest one. Stored as base64 of the raw 32 bytes, whichever
   * form it came in.
   */
  async registerOwnerPublicKey(request: RegisterOwnerPublicKeyRequest, context: CommandContext): Promise<OwnerPublicKeyView> {
    this.authorize(context.caller, request.tenant, 'write');
    let publicKey: string;
    try {
      publicKey = x25519PublicKeyToBase64(parseX25519PublicKey(request.publicKey));
    } catch (error) {
      if (error instanceof SealedKeyError) throw new ApiError('INVALID_ARGUMENT', error.message);
      throw error;
    }
    const data: OwnerPublicKeyRegisteredData = { tenant: request.tenant, owner: request.owner, publicKey };
    const streamId = streamIdOf('tenant', request.tenant);
    const run = async (): Promise<void> => {
      const version = await this.deps.store.streamVersion(streamId);
      await this.deps.store.append(streamId, version, [
        { type: 'OwnerPublicKeyRegistered', data, metadata: this.metadata(context.caller, context.correlationId, context.traceparent) },
      ]);
    };
    await retryOnConflict(run);
    return { tenant: request.tenant, owner: request.owner, publicKey };
  }

  /** A tenant's owners' latest public keys, folded from its stream. */
  async ownerPublicKeys(tenant: string): Promise<OwnerPublicKeyTable> {
    return (await readTenantSettings(this.deps.store, tenant)).ownerPublicKeys;
  }

  private rotationPolicyView(table: RotationPolicyTable, tenant: string, owner: string | undefined): RotationPolicyView {
    return { tenant, owner: owner ?? null, policy: { ...policyAt(table, tenant, owner) }, effective: { ...effectivePolicy(table, tenant, owner) } };
  }

  /**
   * Reads a key straight from its stream: consistent with every command that answered. Its
   * remaining credits are as of the consumption verifiers have flushed (about every second).
   */
  async get(keyId: string, caller: Caller): Promise<KeyView> {
    return toKeyView(await this.loadAuthorized(keyId, caller, 'read'), this.clock().getTime());
  }

  /** Keys of a tenant from the in-memory projection (may trail the newest commands by milliseconds). */
  list(tenant: string, caller: Caller): KeyView[] {
    this.authorize(caller, tenant, 'read');
    const now = this.clock().getTime();
    return this.deps.index.listByTenant(tenant).map((record) => toKeyView(record, now));
  }

  /**
   * Creates the root admin key on the installation's first start, once across replicas (the
   * system stream can be started only once). Uses `bootstrapKey` when given; returns the
   * plaintext only when it generated one, for the caller to print once.
   */
  async bootstrapRootKey(bootstrapKey: string | undefined): Promise<{ keyId: string; generatedKey?: string } | undefined> {
    if (bootstrapKey !== undefined && !parseKey(bootstrapKey))
      throw new ApiError('INVALID_ARGUMENT', 'KEYLEDGER_BOOTSTRAP_ADMIN_KEY is not a well-formed Keyledger key');
    const [marker] = await this.deps.store.readStream(SYSTEM_STREAM);
    let keyId = (marker?.data as { keyId?: string } | undefined)?.keyId;
    if (!keyId) {
      keyId = newPrefixedId('key');
      try {
        await this.deps.store.append(SYSTEM_STREAM, NO_STREAM, [
          { type: 'AdminKeyBootstrapped', data: { keyId }, metadata: this.metadata({ keyId: 'system', tenant: ROOT_TENANT, scopes: [] }, 'bootstrap') },
        ]);
      } catch (error) {
        if (error instanceof ConcurrencyConflictError) return undefined; // another replica bootstraps
        throw error;
      }
    } else if ((await this.deps.store.streamVersion(streamIdOf('key', keyId))) > 0) {
      return undefined; // bootstrapped before
    }
    const material = bootstrapKey ? this.deps.hasher.material(bootstrapKey) : this.deps.hasher.newKey(DEFAULT_KEY_PREFIX, 'live');
    const system: CommandContext = { caller: SYSTEM_CALLER, correlationId: 'bootstrap' };
    await this.execute(
      {
        type: 'IssueKey',
        keyId,
        tenant: ROOT_TENANT,
        owner: 'keyledger',
        name: 'root admin key',
        environment: parseKey(material.plaintext)!.environment,
        prefix: parseKey(material.plaintext)!.prefix,
        digest: material.digest,
        hint: material.hint,
        scopes: ['keyledger:*'],
        ipAllowlist: [],
        metadata: {},
      },
      system,
    );
    return bootstrapKey ? { keyId } : { keyId, generatedKey: material.plaintext };
  }

  private authorize(caller: Caller, tenant: string, permission: AdminPermission): void {
    authorizeAdmin(caller, tenant, permission);
  }

  /** Loads a key for a caller; a key of a tenant the caller may not see is KEY_NOT_FOUND. */
  private async loadAuthorized(keyId: string, caller: Caller, permission: AdminPermission): Promise<KeyRecord> {
    const { record } = await this.load(keyId);
    if (!record || !seesTenant(caller, record.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${keyId} does not exist`);
    this.authorize(caller, record.tenant, permission);
    return record;
  }

  private async load(keyId: string): Promise<{ record: KeyRecord | undefined; version: number }> {
    const loaded = await loadKey(this.deps.store, keyId);
    let record = loaded.record;
    const events = loaded.events;
    // The stream knows the quota but not what verifiers consumed (their own streams): the
    // projection does, once it has applied this version of the key.
    const indexed = this.deps.index.get(keyId);
    if (record?.credits && indexed?.credits && indexed.version === record.version) record = { ...record, credits: indexed.credits };
    return { record, version: events.length };
  }

  /** Decide and append, re-reading and deciding again if another writer got there first. */
  private async execute(
    command: KeyCommand,
    context: CommandContext,
    onAppended?: (position: { transactionId: string; position: string }) => void,
  ): Promise<KeyRecord> {
    const run = async (): Promise<KeyRecord> => {
      const { record, version } = await this.load(command.keyId);
      let events: KeyEvent[];
      try {
        events = decideKey(command, record, this.clock());
      } catch (error) {
        throw new AbortError(error instanceof Error ? error : String(error));
      }
      if (events.length === 0) return record!;
      const result = await this.deps.store.append(
        streamIdOf('key', command.keyId),
        version,
        events.map((event) => ({
          type: event.type,
          data: event.data,
          metadata: this.metadata(context.caller, context.correlationId, context.traceparent, context.causationId),
        })),
      );
      const last = result.events[result.events.length - 1];
      if (last) onAppended?.(last);
      return events.reduce<KeyRecord | undefined>(evolveKey, record)!;
    };
    return retryOnConflict(run);
  }

  private metadata(caller: Caller, correlationId: string, traceparent?: string, causationId?: string): EventMetadata {
    return commandMetadata({ caller, correlationId, traceparent, causationId }, this.deps.systemActor);
  }
}
