import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import {
  apiSubject,
  issueKeyRequestSchema,
  keyIdRequestSchema,
  listKeysRequestSchema,
  revokeKeyRequestSchema,
  rotateKeyRequestSchema,
  suspendKeyRequestSchema,
  topUpKeyRequestSchema,
  updateKeyRequestSchema,
} from '@keyledger/contracts';
import type { KeyPage, KeyView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import type { IssuedKey, RevokedKey } from '@keyledger/key-commands';
import { KeyCommands } from '@keyledger/key-commands';
import type { RotatedKey } from '@keyledger/key-rotation';
import { KeyRotation } from '@keyledger/key-rotation';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/**
 * The key API over NATS request/reply, subjects `<prefix>.v1.keys.<operation>`. Built per
 * installation because the subject prefix is configuration, not code.
 */
export function keysNatsController(prefix: string): new (...args: never[]) => unknown {
  const subject = (operation: string): string => apiSubject(prefix, `keys.${operation}`);

  @Controller()
  class KeysNatsController {
    constructor(
      @Inject(KeyCommands) private readonly keys: KeyCommands,
      @Inject(KeyRotation) private readonly rotation: KeyRotation,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(subject('issue'))
    issue(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<{ keyId: string; key: string; view: KeyView }>> {
      return this.handle(ctx, body, async (context) => {
        const issued: IssuedKey = await this.keys.issue(parseRequest(issueKeyRequestSchema, body), context);
        return { keyId: issued.keyId, key: issued.key, view: issued.view };
      });
    }

    @MessagePattern(subject('update'))
    update(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyView>> {
      return this.handle(ctx, body, (context) => this.keys.update(parseRequest(updateKeyRequestSchema, body), context));
    }

    @MessagePattern(subject('topup'))
    topUp(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyView>> {
      return this.handle(ctx, body, (context) => this.keys.topUp(parseRequest(topUpKeyRequestSchema, body), context));
    }

    @MessagePattern(subject('suspend'))
    suspend(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyView>> {
      return this.handle(ctx, body, (context) => this.keys.suspend(parseRequest(suspendKeyRequestSchema, body), context));
    }

    @MessagePattern(subject('resume'))
    resume(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyView>> {
      return this.handle(ctx, body, (context) => this.keys.resume(parseRequest(keyIdRequestSchema, body).keyId, context));
    }

    @MessagePattern(subject('revoke'))
    revoke(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<RevokedKey>> {
      return this.handle(ctx, body, (context) => this.keys.revoke(parseRequest(revokeKeyRequestSchema, body), context));
    }

    @MessagePattern(subject('rotate'))
    rotate(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<RotatedKey>> {
      return this.handle(ctx, body, (context) => this.rotation.rotate(parseRequest(rotateKeyRequestSchema, body), context));
    }

    @MessagePattern(subject('get'))
    get(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyView>> {
      return this.handle(ctx, body, (context) => this.keys.get(parseRequest(keyIdRequestSchema, body).keyId, context.caller));
    }

    @MessagePattern(subject('list'))
    list(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<KeyPage>> {
      return this.handle(ctx, body, (context) => this.keys.list(parseRequest(listKeysRequestSchema, body), context.caller));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (context: CommandContext) => Promise<T> | T): Promise<NatsReply<T>> {
      return natsCommand(
        this.logger,
        ctx,
        body,
        (credentials) => this.auth.commandContext(credentials),
        (context) => {
          // Request bodies carry no key plaintext (the admin key is a header); redaction guards anyway.
          this.logger.debug({ subject: ctx.getSubject(), body }, 'key API request');
          return run(context);
        },
      );
    }
  }

  return KeysNatsController;
}
