import type { KeyView, RotateKeyRequest } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { authorizeScopeGrant, commandMetadata } from '@keyledger/admin-auth';
import type { AppendedPosition, IssuedKey, KeyCommandRunnerDependencies, LoadedRecord, TenantKeyQuota } from '@keyledger/key-commands';
import { KeyCommandRunner, NEW_KEY, toKeyView } from '@keyledger/key-commands';
import { ConcurrencyConflictError, retryConflicts } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { IssueKey, KeyRecord, TenantSettings } from '@keyledger/key-domain';
import { DomainError, effectivePolicy, keysAddedByRotation, ownerPublicKeyOf, ownerWebhookOf, replacementOf } from '@keyledger/key-domain';
import type { FenceResult, VerifierFence } from '@keyledger/key-projection';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyDeliveries, KeyDeliveryStatus, PreparedDelivery } from './key-deliveries.js';
import { readTenantSettings } from '@keyledger/tenant-settings';

export interface KeyRotationDependencies extends KeyCommandRunnerDependencies {
  readonly hasher: KeyHasher;
  /** An emergency rotation that waits for the verifiers waits on it; without it, none waits. */
  readonly fence?: VerifierFence | undefined;
  readonly fenceTimeoutMs?: number;
  /** Grace of a rotation that names none; 24 h unless configured. */
  readonly rotationGraceMs?: number;
  /** Delivers a rotation's new key sealed to its owner's public key, until acknowledged; without it, nothing is delivered. */
  readonly delivery?: KeyDeliveries;
  /** Holds each tenant to its number of live keys (shared with the process's KeyCommands); without it, none is limited. */
  readonly quota?: TenantKeyQuota | undefined;
}

export interface RotatedKey extends IssuedKey {
  /** The old key as it is now: rotated, valid until its grace end (or revoked, in an emergency). */
  readonly previous: KeyView;
  /** For an emergency rotation that waited for the verifiers. */
  readonly fence: FenceResult | undefined;
  /** Whether the new key was published sealed to its owner's public key. */
  readonly delivery: KeyDeliveryStatus;
}

/** The replacement of a rotation this call found interrupted on its first read, and completes. */
interface InterruptedRotation {
  replacedBy?: string;
}

/** What one attempt of a rotation recorded. */
interface Rotation {
  readonly old: KeyRecord;
  readonly issued: KeyRecord;
  readonly plaintext: string;
  readonly prepared: PreparedDelivery | KeyDeliveryStatus;
  /** Where the old key's change went, for an emergency rotation's fence. */
  readonly appended: AppendedPosition | undefined;
}

/**
 * Rotation of a key: its replacement issued with its settings (changed by the request) and the
 * credits it has left, and the old key given a grace period (none, and revoked, in an emergency).
 */
export class KeyRotation {
  private readonly clock: () => Date;
  private readonly runner: KeyCommandRunner;

  constructor(private readonly deps: KeyRotationDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.runner = new KeyCommandRunner(deps);
  }

  /**
   * Rotates a key. Two streams change, in two appends: first the old key's KeyRotated (at the
   * version read, so of two concurrent rotations of one key only one records anything), then
   * the new key's KeyIssued. If the process dies between them, the old key names a replacement
   * that does not exist yet; nobody has seen its plaintext, so rotating the old key again
   * completes the rotation: it issues the recorded replacement with fresh key material and the
   * settings of that call, keeping the recorded grace end.
   *
   * What it reads, once per attempt: the old key's stream, and the replacement's version when a
   * rotation is recorded; and once per call, the tenant's settings (quiet period, owner's public
   * key and webhook), when first needed.
   */
  async rotate(request: RotateKeyRequest, context: CommandContext): Promise<RotatedKey> {
    let settings: Promise<TenantSettings> | undefined;
    const tenantSettings = (tenant: string): Promise<TenantSettings> => (settings ??= readTenantSettings(this.deps.store, tenant));
    const interrupted: InterruptedRotation = {};
    const rotation = await retryConflicts((attempt) => this.attempt(request, context, tenantSettings, attempt === 1, interrupted));
    const fence =
      request.emergency && request.waitForVerifiers && rotation.appended && this.deps.fence
        ? await this.deps.fence.waitFor(rotation.appended, this.deps.fenceTimeoutMs ?? 5000)
        : undefined;
    // The delivery's events belong to the delivery, not to what caused the rotation: no causation.
    const deliveryContext: CommandContext = { caller: context.caller, correlationId: context.correlationId, traceparent: context.traceparent };
    const delivery =
      typeof rotation.prepared === 'string'
        ? rotation.prepared
        : await this.deps.delivery!.deliver(rotation.prepared, commandMetadata(deliveryContext, this.deps.systemActor));
    const now = this.clock().getTime();
    return {
      key: rotation.plaintext,
      keyId: rotation.issued.keyId,
      view: toKeyView(rotation.issued, now),
      previous: toKeyView(rotation.old, now),
      fence,
      delivery,
    };
  }

  /**
   * One attempt. `first`: a rotation found recorded on the first read was there before this call,
   * and one whose replacement is missing is completed, by this attempt and by the retries that
   * follow a lost race (an emergency's revoke may lose one to another command on the old key),
   * as `interrupted` remembers. A rotation first found after a lost race was recorded by the
   * writer that won it, whose replacement may be on its way: that rotation is theirs. A rotation
   * with a grace takes a slot of the tenant's key quota, an emergency one none (`keysAddedByRotation`).
   */
  private async attempt(
    request: RotateKeyRequest,
    context: CommandContext,
    tenantSettings: (tenant: string) => Promise<TenantSettings>,
    first: boolean,
    interrupted: InterruptedRotation,
  ): Promise<Rotation> {
    const before = await this.runner.loadAuthorized(request.keyId, context.caller, 'write');
    // The caller receives the new key's plaintext: it may rotate only a key whose admin scopes it holds itself.
    authorizeScopeGrant(context.caller, request.scopes ?? before.record.scopes);
    const rotate = () => this.rotateLoaded(before, request, context, tenantSettings, first, interrupted);
    const { quota } = this.deps;
    return quota
      ? quota.admit(before.record.tenant, keysAddedByRotation(request.emergency), this.clock().getTime(), rotate, (rotation) => ({ keyId: rotation.issued.keyId, version: 1 }))
      : rotate();
  }

  /** The attempt's changes, once the old key is read and the caller authorized. */
  private async rotateLoaded(
    before: LoadedRecord<KeyRecord>,
    request: RotateKeyRequest,
    context: CommandContext,
    tenantSettings: (tenant: string) => Promise<TenantSettings>,
    first: boolean,
    interrupted: InterruptedRotation,
  ): Promise<Rotation> {
    let old = before.record;
    let ownExpiry = old.expiresAt;
    let appended: AppendedPosition | undefined;
    const completing = first ? old.rotation?.replacedBy : interrupted.replacedBy;
    const pending =
      completing !== undefined &&
      old.rotation?.replacedBy === completing &&
      (await this.deps.store.streamVersion(streamIdOf('key', completing))) === 0;
    if (first && pending) interrupted.replacedBy = completing;
    if (!pending) {
      const command = {
        type: 'RotateKey',
        keyId: request.keyId,
        // The id carries the command's time: the key's age, for rotation policies.
        replacedBy: newPrefixedId('key', this.clock()),
        graceMs: request.emergency ? 0 : (request.graceMs ?? this.deps.rotationGraceMs ?? 24 * 3_600_000),
        emergency: request.emergency,
        quietPeriodMs: request.emergency ? undefined : await this.quietPeriodFor(old, request.quietPeriodMs, tenantSettings),
      } as const;
      ({ record: old, position: appended } = await this.runner.decideAndAppend(command, before, context));
    } else {
      // The expiry was capped to the grace end; the old key's own expiry, if later, is not known here.
      if (old.expiresAt === old.rotation!.graceEndsAt) ownExpiry = undefined;
      // Completing an interrupted rotation as an emergency: the old key must stop now, not at the recorded grace end.
      if (request.emergency && old.status !== 'revoked')
        ({ record: old, position: appended } = await this.runner.decideAndAppend(
          { type: 'RevokeKey', keyId: request.keyId, reason: 'emergency rotation' },
          before,
          context,
        ));
    }
    const { replacedBy, graceEndsAt } = old.rotation!;
    const material = this.deps.hasher.newKey(old.prefix, old.environment);
    const expiresAt = request.expiresAt === undefined ? undefined : request.expiresAt === null ? null : new Date(request.expiresAt);
    const command = replacementOf(
      before.record,
      { ...request, keyId: replacedBy, digest: material.digest, hint: material.hint, expiresAt },
      ownExpiry,
      this.clock(),
    );
    // Sealed and stored before the key is issued, so no crash after its KeyIssued loses it. A
    // failed append leaves the sealed copy too: the failure may come after the commit (the
    // connection lost), and then that copy is the only one. The rotator sends only material
    // that was issued, and drops the rest (see DeliveryRetries).
    const prepared = await this.prepareDelivery(command, request.keyId, graceEndsAt, material.plaintext, tenantSettings);
    const issued = await this.issueReplacement(command, context);
    return { old, issued, plaintext: material.plaintext, prepared, appended };
  }

  /**
   * Appends the replacement's KeyIssued to its stream, known empty: a fresh id, or one whose
   * version was just read as 0. Another writer there first (completing the same interrupted
   * rotation) issued it: KEY_ALREADY_EXISTS, as the domain says of an existing key.
   */
  private async issueReplacement(command: IssueKey, context: CommandContext): Promise<KeyRecord> {
    try {
      return (await this.runner.decideAndAppend(command, NEW_KEY satisfies LoadedRecord, context)).record;
    } catch (error) {
      if (error instanceof ConcurrencyConflictError) throw new DomainError('KEY_ALREADY_EXISTS', `key ${command.keyId} already exists`);
      throw error;
    }
  }

  /**
   * The quiet period a rotation records: the request's (null: none), else the rotation policy's
   * that applies to the key's owner now. Recorded with the rotation, so a later policy change
   * does not change what was promised to the old key's holder.
   */
  private async quietPeriodFor(
    key: KeyRecord,
    requested: number | null | undefined,
    tenantSettings: (tenant: string) => Promise<TenantSettings>,
  ): Promise<number | undefined> {
    if (requested !== undefined) return requested ?? undefined;
    return effectivePolicy((await tenantSettings(key.tenant)).rotationPolicies, key.tenant, key.owner).quietPeriodMs ?? undefined;
  }

  /**
   * Seals a new key to its owner's latest public key (see KeyDeliveries): only the envelope
   * ever leaves the process. Answers a status instead when there is nothing to deliver.
   */
  private async prepareDelivery(
    command: IssueKey,
    replaces: string,
    graceEndsAt: number,
    plaintext: string,
    tenantSettings: (tenant: string) => Promise<TenantSettings>,
  ): Promise<PreparedDelivery | KeyDeliveryStatus> {
    const deliveries = this.deps.delivery;
    if (!deliveries) return 'NOT_CONFIGURED';
    const { ownerPublicKeys, ownerWebhooks } = await tenantSettings(command.tenant);
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
}
