import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { verifyKeyRequestSchema } from '@keyledger/contracts';
import type { KeyledgerV1, VerifyResult } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import type { ClientAddress, IpRange } from '@keyledger/key-domain';
import { DomainError, clientAddress } from '@keyledger/key-domain';
import { LOGGER } from '@keyledger/service-kit';
import { TRUSTED_PROXIES } from './trusted-proxies.js';
import { VerifyService } from './verify.service.js';

const MALFORMED: KeyledgerV1.VerifyResponse = Object.freeze({ valid: false, code: 'MALFORMED', scopes: [], meta: {} });

function responseMessage(result: VerifyResult): KeyledgerV1.VerifyResponse {
  return {
    valid: result.valid,
    code: result.code,
    keyId: result.keyId,
    tenant: result.tenant,
    owner: result.owner,
    scopes: [...(result.scopes ?? [])],
    env: result.env,
    expiresAt: result.expiresAt ?? undefined,
    meta: { ...result.meta },
    reset: result.reset,
    remaining: result.remaining,
    reason: result.reason,
  };
}

/** The address of a gRPC peer (`10.0.0.1:5000`, `[::1]:5000` or `::1:5000`), without its port. */
function peerAddress(peer: string | undefined): string | undefined {
  if (!peer) return undefined;
  const colon = peer.lastIndexOf(':');
  const address = colon > 0 ? peer.slice(0, colon) : peer;
  return address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
}

/**
 * `keyledger.v1.VerifierService/Verify`: the verify result as a message, as over NATS. Any
 * bad request is answered MALFORMED, never with an error status. The request's `ip` and `cost`
 * are believed only from a peer inside VERIFIER_TRUSTED_PROXIES; any other peer is the caller
 * itself and pays the default credit.
 */
@Controller()
export class VerifyGrpcController {
  constructor(
    @Inject(VerifyService) private readonly verification: VerifyService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(TRUSTED_PROXIES) private readonly trustedProxies: readonly IpRange[],
  ) {}

  @GrpcMethod('VerifierService', 'Verify')
  verify(
    message: KeyledgerV1.VerifyRequest__Output | null | undefined,
    _metadata?: Metadata,
    call?: Pick<ServerUnaryCall<unknown, unknown>, 'getPeer'>,
  ): KeyledgerV1.VerifyResponse {
    const request = verifyKeyRequestSchema.safeParse({
      key: message?.key,
      tenant: message?.tenant ?? undefined,
      scopes: message?.scopes ?? undefined,
      ip: message?.ip ?? undefined,
      env: message?.env ?? undefined,
      cost: message?.cost ?? undefined,
    });
    if (!request.success) return MALFORMED;
    const { key, tenant, scopes, ip, env, cost } = request.data;
    // The caller a trusted client relays (`ip`), else the client itself, by the rule /v1/authorize
    // applies to X-Real-IP: for allowlists, usage and the failed-verification throttle.
    let caller: ClientAddress;
    try {
      caller = clientAddress({ peer: peerAddress(call?.getPeer()), realIp: ip, forwardedFor: undefined }, this.trustedProxies);
    } catch (error) {
      // Only a trusted client's relayed `ip` is checked, and one that is not an address is a bad request.
      if (error instanceof DomainError) return MALFORMED;
      throw error;
    }
    // A client verifying its own key pays the default credit, whatever it asks: as /v1/authorize
    // ignores an untrusted peer's X-Keyledger-Cost, so `cost: 0` buys nothing.
    const charge = caller.viaTrustedProxy ? cost : undefined;
    const result = this.verification.verify(key, { tenant, scopes, ip: caller.ip, environment: env }, 'grpc', charge, caller.ip);
    // `key` is on the logger's redaction list; this line proves it stays out of logs.
    if (this.logger.isLevelEnabled('trace')) this.logger.trace({ request: request.data, code: result.code }, 'verify');
    return responseMessage(result);
  }
}
