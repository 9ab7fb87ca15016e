import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import type { VerifyResult } from '@keyledger/key-projection';
import { KeyVerification } from './key-verification.js';

/** HTTP status for each verify code, for API gateways (nginx auth_request and the like). */
const STATUS: Record<VerifyResult['code'], number> = {
  VALID: 200,
  MALFORMED: 401,
  NOT_FOUND: 401,
  REVOKED: 401,
  EXPIRED: 401,
  DISABLED: 401,
  FORBIDDEN: 403,
  INSUFFICIENT_PERMISSIONS: 403,
  RATE_LIMITED: 429,
  USAGE_EXCEEDED: 429,
  UNAVAILABLE: 503,
};

interface HeaderResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
}

/** The first address of X-Forwarded-For (the client as the first proxy saw it). */
function callerIp(realIp: string | undefined, forwardedFor: string | undefined): string | undefined {
  return realIp?.trim() || forwardedFor?.split(',')[0]?.trim() || undefined;
}

function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  return bearer ?? apiKey?.trim();
}

/**
 * `GET /v1/authorize`: the key from `Authorization: Bearer` or `X-API-Key`, the scope from
 * `X-Required-Scope`, the caller from `X-Real-IP` / `X-Forwarded-For`. Answers with an
 * empty body and headers, as auth_request expects.
 */
@Controller('v1')
export class AuthorizeHttpController {
  constructor(@Inject(KeyVerification) private readonly verification: KeyVerification) {}

  @Get('authorize')
  authorize(
    @Headers('authorization') authorization: string | undefined,
    @Headers('x-api-key') apiKey: string | undefined,
    @Headers('x-required-scope') scope: string | undefined,
    @Headers('x-real-ip') realIp: string | undefined,
    @Headers('x-forwarded-for') forwardedFor: string | undefined,
    @Headers('x-keyledger-tenant') tenant: string | undefined,
    @Res({ passthrough: true }) response: HeaderResponse,
  ): string {
    const scopes = scope ? scope.split(/[\s,]+/).filter(Boolean) : undefined;
    const result = this.verification.verify(presentedKey(authorization, apiKey), { scopes, ip: callerIp(realIp, forwardedFor), tenant: tenant || undefined });
    response.status(STATUS[result.code]);
    response.setHeader('X-Keyledger-Code', result.code);
    if (result.valid) {
      response.setHeader('X-Keyledger-Key-Id', result.keyId ?? '');
      response.setHeader('X-Keyledger-Tenant', result.tenant ?? '');
      response.setHeader('X-Keyledger-Owner', encodeURIComponent(result.owner ?? ''));
      response.setHeader('X-Keyledger-Scopes', (result.scopes ?? []).join(' '));
    }
    return '';
  }
}
