import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Optional } from '@keyledger/api-transport';
import { grpcCommand, parseRequest, present } from '@keyledger/api-transport';
import {
  issueKeyRequestSchema,
  keyIdRequestSchema,
  listKeysRequestSchema,
  registerOwnerWebhookRequestSchema,
  revokeKeyRequestSchema,
  rotateKeyRequestSchema,
  suspendKeyRequestSchema,
  topUpKeyRequestSchema,
  updateKeyRequestSchema,
} from '@keyledger/contracts';
import type { CreditsView, KeyView, OwnerWebhookView, RateLimit } from '@keyledger/contracts';
import type { FenceResult } from '@keyledger/key-projection';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { RevokedKey } from '@keyledger/key-commands';
import { KeyCommands } from '@keyledger/key-commands';
import type { RotatedKey } from '@keyledger/key-rotation';
import { KeyRotation } from '@keyledger/key-rotation';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

/**
 * Messages of keyledger/v1/keys.proto as @grpc/proto-loader hands them over (camelCase,
 * `defaults: true`): an unset proto3 `optional` field is undefined, an unset message null.
 */
interface IssueKeyMessage {
  tenant: string;
  owner: string;
  name?: Optional<string>;
  environment?: Optional<string>;
  scopes: string[];
  ipAllowlist: string[];
  expiresAt?: Optional<string>;
  metadata: Record<string, string>;
  rateLimits: RateLimit[];
  credits?: Optional<CreditsMessage>;
}

interface CreditsMessage {
  remaining: number;
  refill?: Optional<{ amount: number; interval: string; dayOfMonth?: Optional<number> }>;
}

interface TopUpCreditsMessage {
  keyId: string;
  amount: number;
}

interface UpdateKeyMessage {
  keyId: string;
  name?: Optional<string>;
  scopes?: Optional<{ values: string[] }>;
  ipAllowlist?: Optional<{ values: string[] }>;
  metadata?: Optional<{ entries: Record<string, string> }>;
  expiresAt?: Optional<string>;
  removeExpiry?: Optional<boolean>;
  rateLimits?: Optional<{ values: RateLimit[] }>;
  credits?: Optional<CreditsMessage>;
  removeCredits?: Optional<boolean>;
}

interface SuspendKeyMessage {
  keyId: string;
  reason?: Optional<string>;
}

interface RevokeKeyMessage {
  keyId: string;
  reason: string;
  waitForVerifiers?: Optional<boolean>;
}

/** A rotation takes the same setting changes as an update, for the new key. */
interface RotateKeyMessage extends UpdateKeyMessage {
  graceMs?: Optional<string | number>;
  quietPeriodMs?: Optional<string | number>;
  noQuietPeriod?: Optional<boolean>;
  emergency?: Optional<boolean>;
  waitForVerifiers?: Optional<boolean>;
}

interface KeyIdMessage {
  keyId: string;
}

interface RegisterOwnerWebhookMessage {
  tenant: string;
  owner: string;
  url: string;
}

interface ListKeysMessage {
  tenant: string;
}

interface KeyViewMessage {
  keyId: string;
  tenant: string;
  owner: string;
  name: string | undefined;
  environment: string;
  hint: string;
  status: string;
  scopes: string[];
  ipAllowlist: string[];
  expiresAt: string | undefined;
  metadata: Record<string, string>;
  version: number;
  rateLimits: RateLimit[];
  credits: CreditsView | undefined;
  rotatedFrom: string | undefined;
  rotation: { replacedBy: string; graceEndsAt: string; emergency: boolean } | undefined;
}

type FenceMessage = { complete: boolean; verifiers: { instance: string; applied: boolean }[]; waitedMs: number } | undefined;

interface RevokeKeyResponseMessage {
  view: KeyViewMessage;
  fence: FenceMessage;
}

interface RotateKeyResponseMessage {
  keyId: string;
  key: string;
  view: KeyViewMessage;
  previous: KeyViewMessage;
  fence: FenceMessage;
}

/** The settings an UpdateKey or RotateKey message changes, as the JSON API takes them. */
function settingsChange(message: UpdateKeyMessage) {
  return {
    name: present(message.name),
    scopes: present(message.scopes)?.values,
    ipAllowlist: present(message.ipAllowlist)?.values,
    metadata: present(message.metadata)?.entries,
    // The oneof `expiry`: a new expiry, or none at all (null, as in the JSON API).
    expiresAt: present(message.expiresAt) ?? (message.removeExpiry ? null : undefined),
    rateLimits: present(message.rateLimits)?.values,
    // The oneof `credits_change`: a new quota, or none at all (null, as in the JSON API).
    credits: creditsBody(message.credits) ?? (message.removeCredits ? null : undefined),
  };
}

function keyViewMessage(view: KeyView): KeyViewMessage {
  return {
    ...view,
    name: view.name ?? undefined,
    scopes: [...view.scopes],
    ipAllowlist: [...view.ipAllowlist],
    expiresAt: view.expiresAt ?? undefined,
    metadata: { ...view.metadata },
    rateLimits: view.rateLimits.map((limit) => ({ ...limit })),
    credits: view.credits ? { remaining: view.credits.remaining, refill: view.credits.refill ?? null } : undefined,
    rotatedFrom: view.rotatedFrom ?? undefined,
    rotation: view.rotation ? { ...view.rotation } : undefined,
  };
}

/** A quota message as the JSON request body has it (unset fields left out). */
function creditsBody(message: Optional<CreditsMessage>): unknown {
  if (!message) return undefined;
  const refill = present(message.refill);
  return {
    remaining: message.remaining,
    refill: refill && { amount: refill.amount, interval: refill.interval, dayOfMonth: present(refill.dayOfMonth) },
  };
}

function fenceMessage(fence: FenceResult | undefined): FenceMessage {
  return fence && { complete: fence.complete, verifiers: fence.verifiers.map((v) => ({ ...v })), waitedMs: Math.round(fence.waitedMs) };
}

function revokedMessage({ view, fence }: RevokedKey): RevokeKeyResponseMessage {
  return { view: keyViewMessage(view), fence: fenceMessage(fence) };
}

function rotatedMessage(rotated: RotatedKey): RotateKeyResponseMessage {
  return {
    keyId: rotated.keyId,
    key: rotated.key,
    view: keyViewMessage(rotated.view),
    previous: keyViewMessage(rotated.previous),
    fence: fenceMessage(rotated.fence),
  };
}

/**
 * The key API over gRPC (`keyledger.v1.KeyService`), behaving as the NATS API does: each
 * message becomes the JSON request body and passes the same schema; the admin key comes
 * from the `authorization: Bearer <key>` metadata; failures are gRPC statuses of API_ERRORS.
 */
@Controller()
export class KeysGrpcController {
  constructor(
    @Inject(KeyCommands) private readonly keys: KeyCommands,
    @Inject(KeyRotation) private readonly rotation: KeyRotation,
    @Inject(TenantSettingsCommands) private readonly tenants: TenantSettingsCommands,
    @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @GrpcMethod('KeyService', 'IssueKey')
  issue(message: IssueKeyMessage, metadata: Metadata): Promise<{ keyId: string; key: string; view: KeyViewMessage }> {
    const body = {
      tenant: message.tenant,
      owner: message.owner,
      name: present(message.name),
      environment: present(message.environment),
      scopes: message.scopes,
      ipAllowlist: message.ipAllowlist,
      expiresAt: present(message.expiresAt),
      metadata: message.metadata,
      rateLimits: message.rateLimits,
      credits: creditsBody(message.credits),
    };
    return this.handle('IssueKey', metadata, body, async (context) => {
      const issued = await this.keys.issue(parseRequest(issueKeyRequestSchema, body), context);
      return { keyId: issued.keyId, key: issued.key, view: keyViewMessage(issued.view) };
    });
  }

  @GrpcMethod('KeyService', 'UpdateKey')
  update(message: UpdateKeyMessage, metadata: Metadata): Promise<KeyViewMessage> {
    const body = {
      keyId: message.keyId,
      ...settingsChange(message),
    };
    return this.handle('UpdateKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.update(parseRequest(updateKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'TopUpCredits')
  topUp(message: TopUpCreditsMessage, metadata: Metadata): Promise<KeyViewMessage> {
    const body = { keyId: message.keyId, amount: message.amount };
    return this.handle('TopUpCredits', metadata, body, async (context) =>
      keyViewMessage(await this.keys.topUp(parseRequest(topUpKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'SuspendKey')
  suspend(message: SuspendKeyMessage, metadata: Metadata): Promise<KeyViewMessage> {
    const body = { keyId: message.keyId, reason: present(message.reason) };
    return this.handle('SuspendKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.suspend(parseRequest(suspendKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'ResumeKey')
  resume(message: KeyIdMessage, metadata: Metadata): Promise<KeyViewMessage> {
    const body = { keyId: message.keyId };
    return this.handle('ResumeKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.resume(parseRequest(keyIdRequestSchema, body).keyId, context)),
    );
  }

  @GrpcMethod('KeyService', 'RevokeKey')
  revoke(message: RevokeKeyMessage, metadata: Metadata): Promise<RevokeKeyResponseMessage> {
    const body = { keyId: message.keyId, reason: message.reason, waitForVerifiers: present(message.waitForVerifiers) };
    return this.handle('RevokeKey', metadata, body, async (context) =>
      revokedMessage(await this.keys.revoke(parseRequest(revokeKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'RotateKey')
  rotate(message: RotateKeyMessage, metadata: Metadata): Promise<RotateKeyResponseMessage> {
    const grace = present(message.graceMs);
    const quiet = present(message.quietPeriodMs);
    const body = {
      keyId: message.keyId,
      // uint64 arrives as a string (proto-loader `longs: String`) or a number.
      graceMs: grace === undefined ? undefined : Number(grace),
      quietPeriodMs: message.noQuietPeriod ? null : quiet === undefined ? undefined : Number(quiet),
      emergency: present(message.emergency),
      waitForVerifiers: present(message.waitForVerifiers),
      ...settingsChange(message),
    };
    return this.handle('RotateKey', metadata, body, async (context) =>
      rotatedMessage(await this.rotation.rotate(parseRequest(rotateKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'GetKey')
  get(message: KeyIdMessage, metadata: Metadata): Promise<KeyViewMessage> {
    const body = { keyId: message.keyId };
    return this.handle('GetKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.get(parseRequest(keyIdRequestSchema, body).keyId, context.caller)),
    );
  }

  @GrpcMethod('KeyService', 'ListKeys')
  list(message: ListKeysMessage, metadata: Metadata): Promise<{ keys: KeyViewMessage[] }> {
    const body = { tenant: message.tenant };
    return this.handle('ListKeys', metadata, body, (context) => ({
      keys: this.keys.list(parseRequest(listKeysRequestSchema, body).tenant, context.caller).map(keyViewMessage),
    }));
  }

  @GrpcMethod('KeyService', 'RegisterOwnerWebhook')
  registerOwnerWebhook(message: RegisterOwnerWebhookMessage, metadata: Metadata): Promise<OwnerWebhookView> {
    const body = { tenant: message.tenant, owner: message.owner, url: message.url };
    return this.handle('RegisterOwnerWebhook', metadata, body, (context) =>
      this.tenants.registerOwnerWebhook(parseRequest(registerOwnerWebhookRequestSchema, body), context),
    );
  }

  private handle<T>(method: string, metadata: Metadata, body: unknown, run: (context: CommandContext) => Promise<T> | T): Promise<T> {
    return grpcCommand(
      this.logger,
      'keyledger.v1.KeyService',
      method,
      metadata,
      (credentials) => this.auth.commandContext(credentials),
      (context) => {
        // Request messages carry no key plaintext (the admin key is metadata); redaction guards anyway.
        this.logger.debug({ method: `keyledger.v1.KeyService/${method}`, body }, 'key API request');
        return run(context);
      },
    );
  }
}
