import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Optional } from '@keyledger/api-transport';
import { grpcCommand, keyViewMessage, parseRequest, present } from '@keyledger/api-transport';
import {
  issueKeyRequestSchema,
  keyIdRequestSchema,
  listKeysRequestSchema,
  registerNotificationWebhookRequestSchema,
  registerOwnerWebhookRequestSchema,
  revokeKeyRequestSchema,
  rotateKeyRequestSchema,
  suspendKeyRequestSchema,
  topUpKeyRequestSchema,
  updateKeyRequestSchema,
} from '@keyledger/contracts';
import type { KeyledgerV1 } from '@keyledger/contracts';
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

// Messages are typed as generated from keyledger/v1/keys.proto: `__Output` as proto-loader hands
// a request over (an unset proto3 `optional` field is undefined, an unset message null), the
// plain type for a response.

/** The settings an UpdateKey or RotateKey message changes, as the JSON API takes them. */
function settingsChange(message: KeyledgerV1.UpdateKeyRequest__Output | KeyledgerV1.RotateKeyRequest__Output) {
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

/** A quota message as the JSON request body has it (unset fields left out). */
function creditsBody(message: Optional<KeyledgerV1.Credits__Output>): unknown {
  if (!message) return undefined;
  const refill = present(message.refill);
  return {
    remaining: message.remaining,
    refill: refill && { amount: refill.amount, interval: refill.interval, dayOfMonth: present(refill.dayOfMonth) },
  };
}

function fenceMessage(fence: FenceResult | undefined): KeyledgerV1.RevocationFence | undefined {
  return fence && { complete: fence.complete, verifiers: fence.verifiers.map((v) => ({ ...v })), waitedMs: Math.round(fence.waitedMs) };
}

function revokedMessage({ view, fence }: RevokedKey): KeyledgerV1.RevokeKeyResponse {
  return { view: keyViewMessage(view), fence: fenceMessage(fence) };
}

function rotatedMessage(rotated: RotatedKey): KeyledgerV1.RotateKeyResponse {
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
  issue(message: KeyledgerV1.IssueKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.IssueKeyResponse> {
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
      honeytoken: message.honeytoken,
    };
    return this.handle('IssueKey', metadata, body, async (context) => {
      const issued = await this.keys.issue(parseRequest(issueKeyRequestSchema, body), context);
      return { keyId: issued.keyId, key: issued.key, view: keyViewMessage(issued.view) };
    });
  }

  @GrpcMethod('KeyService', 'UpdateKey')
  update(message: KeyledgerV1.UpdateKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyView> {
    const body = {
      keyId: message.keyId,
      ...settingsChange(message),
    };
    return this.handle('UpdateKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.update(parseRequest(updateKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'TopUpCredits')
  topUp(message: KeyledgerV1.TopUpCreditsRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyView> {
    const body = { keyId: message.keyId, amount: message.amount };
    return this.handle('TopUpCredits', metadata, body, async (context) =>
      keyViewMessage(await this.keys.topUp(parseRequest(topUpKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'SuspendKey')
  suspend(message: KeyledgerV1.SuspendKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyView> {
    const body = { keyId: message.keyId, reason: present(message.reason) };
    return this.handle('SuspendKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.suspend(parseRequest(suspendKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'ResumeKey')
  resume(message: KeyledgerV1.ResumeKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyView> {
    const body = { keyId: message.keyId };
    return this.handle('ResumeKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.resume(parseRequest(keyIdRequestSchema, body).keyId, context)),
    );
  }

  @GrpcMethod('KeyService', 'RevokeKey')
  revoke(message: KeyledgerV1.RevokeKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.RevokeKeyResponse> {
    const body = { keyId: message.keyId, reason: message.reason, waitForVerifiers: present(message.waitForVerifiers) };
    return this.handle('RevokeKey', metadata, body, async (context) =>
      revokedMessage(await this.keys.revoke(parseRequest(revokeKeyRequestSchema, body), context)),
    );
  }

  @GrpcMethod('KeyService', 'RotateKey')
  rotate(message: KeyledgerV1.RotateKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.RotateKeyResponse> {
    const grace = present(message.graceMs);
    const quiet = present(message.quietPeriodMs);
    const body = {
      keyId: message.keyId,
      // uint64 arrives as a decimal string (loader option `longs: String`).
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
  get(message: KeyledgerV1.GetKeyRequest__Output, metadata: Metadata): Promise<KeyledgerV1.KeyView> {
    const body = { keyId: message.keyId };
    return this.handle('GetKey', metadata, body, async (context) =>
      keyViewMessage(await this.keys.get(parseRequest(keyIdRequestSchema, body).keyId, context.caller)),
    );
  }

  @GrpcMethod('KeyService', 'ListKeys')
  list(message: KeyledgerV1.ListKeysRequest__Output, metadata: Metadata): Promise<KeyledgerV1.ListKeysResponse> {
    const body = {
      tenant: message.tenant,
      limit: message.limit || undefined,
      cursor: message.cursor || undefined,
      owner: message.owner || undefined,
      status: message.status || undefined,
    };
    return this.handle('ListKeys', metadata, body, (context) => {
      const page = this.keys.list(parseRequest(listKeysRequestSchema, body), context.caller);
      return { keys: page.keys.map(keyViewMessage), nextCursor: page.nextCursor ?? '' };
    });
  }

  @GrpcMethod('KeyService', 'RegisterOwnerWebhook')
  registerOwnerWebhook(message: KeyledgerV1.RegisterOwnerWebhookRequest__Output, metadata: Metadata): Promise<KeyledgerV1.OwnerWebhook> {
    const body = { tenant: message.tenant, owner: message.owner, url: message.url };
    return this.handle('RegisterOwnerWebhook', metadata, body, (context) =>
      this.tenants.registerOwnerWebhook(parseRequest(registerOwnerWebhookRequestSchema, body), context),
    );
  }

  @GrpcMethod('KeyService', 'RegisterNotificationWebhook')
  registerNotificationWebhook(message: KeyledgerV1.RegisterNotificationWebhookRequest__Output, metadata: Metadata): Promise<KeyledgerV1.NotificationWebhook> {
    const body = { tenant: message.tenant, url: message.url };
    return this.handle('RegisterNotificationWebhook', metadata, body, async (context) => {
      const view = await this.tenants.registerNotificationWebhook(parseRequest(registerNotificationWebhookRequestSchema, body), context);
      // A registration always answers a URL and its secret (only a removal answers null).
      return { tenant: view.tenant, url: view.url ?? '', secret: view.secret ?? '' };
    });
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
