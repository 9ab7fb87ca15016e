import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import type { NatsContext } from '@nestjs/microservices';
import type { NatsReply } from '@keyledger/api-transport';
import { natsCommand, parseRequest } from '@keyledger/api-transport';
import { allowNetworkRequestSchema, apiSubject, denyNetworkRequestSchema, listNetworkDenialsRequestSchema } from '@keyledger/contracts';
import type { NetworkAllowResult, NetworkDenialView } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { NetworkDenialCommands } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import { LOGGER } from '@keyledger/service-kit';

/** Source network denials over NATS request/reply: `<prefix>.v1.networks.deny|allow|list`. */
export function networksNatsController(prefix: string): new (...args: never[]) => unknown {
  @Controller()
  class NetworksNatsController {
    constructor(
      @Inject(NetworkDenialCommands) private readonly networks: NetworkDenialCommands,
      @Inject(AdminAuthenticator) private readonly auth: AdminAuthenticator,
      @Inject(LOGGER) private readonly logger: Logger,
    ) {}

    @MessagePattern(apiSubject(prefix, 'networks.deny'))
    deny(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<NetworkDenialView>> {
      return this.handle(ctx, body, (context) => this.networks.deny(parseRequest(denyNetworkRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'networks.allow'))
    allow(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<NetworkAllowResult>> {
      return this.handle(ctx, body, (context) => this.networks.allow(parseRequest(allowNetworkRequestSchema, body), context));
    }

    @MessagePattern(apiSubject(prefix, 'networks.list'))
    list(@Payload() body: unknown, @Ctx() ctx: NatsContext): Promise<NatsReply<NetworkDenialView[]>> {
      return this.handle(ctx, body, (context) => Promise.resolve(this.networks.list(parseRequest(listNetworkDenialsRequestSchema, body), context.caller)));
    }

    private handle<T>(ctx: NatsContext, body: unknown, run: (context: CommandContext) => Promise<T>): Promise<NatsReply<T>> {
      return natsCommand(this.logger, ctx, body, (credentials) => this.auth.commandContext(credentials), run);
    }
  }

  return NetworksNatsController;
}
