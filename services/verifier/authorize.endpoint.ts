import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { bearerToken, toApiError } from '@keyledger/api-transport';
import type { ApiErrorBody, ApiErrorCode, VerifyResult } from '@keyledger/contracts';
import { API_ERRORS, MAX_VERIFY_COST } from '@keyledger/contracts';
import type { ClientAddress, IpRange } from '@keyledger/key-domain';
import { clientAddress } from '@keyledger/key-domain';
import type { VerifyService } from './verify.service.js';

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
  // The caller's network is denied (SourceNetworkDenied): forbidden whatever the key.
  DENIED: 403,
};

const PATH = '/v1/authorize';

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `X-Keyledger-Cost`: 0 to MAX_VERIFY_COST credits, 1 when absent; undefined when it is not such a number. */
function costOf(request: IncomingMessage): number | undefined {
  const text = header(request, 'x-keyledger-cost')?.trim();
  if (text === undefined || text === '') return 1;
  const cost = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  return cost <= MAX_VERIFY_COST ? cost : undefined;
}

/** A request the gateway got wrong: its status, `X-Keyledger-Error` and a JSON body saying what. */
function refuse(response: ServerResponse, code: ApiErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } } satisfies ApiErrorBody);
  response
    .writeHead(API_ERRORS[code].http, {
      'X-Keyledger-Error': code,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'Cache-Control': 'no-store',
    })
    .end(body);
}

/**
 * `GET /v1/authorize`: the key from `Authorization: Bearer` or `X-API-Key`, the scopes from
 * `X-Required-Scope`. The caller, the credits to charge and the expected tenant come from
 * `X-Real-IP` / `X-Forwarded-For`, `X-Keyledger-Cost` and `X-Keyledger-Tenant` only when the TCP
 * peer is one of `trustedProxies` (`clientAddress` in libs/key-domain); from any other peer the
 * caller is the peer, the cost is 1 and no tenant is expected, whatever the headers say.
 * Answers with an empty body and headers, as nginx auth_request expects; a trusted proxy's
 * caller that is not an IP address, or cost that is not a number of credits, is a 400
 * INVALID_ARGUMENT (`X-Keyledger-Error`, JSON body).
 */
export function authorize(request: IncomingMessage, response: ServerResponse, verification: VerifyService, trustedProxies: readonly IpRange[]): void {
  const bearer = bearerToken(header(request, 'authorization'));
  const scope = header(request, 'x-required-scope');
  let caller: ClientAddress;
  try {
    caller = clientAddress(
      { peer: request.socket.remoteAddress, realIp: header(request, 'x-real-ip'), forwardedFor: header(request, 'x-forwarded-for') },
      trustedProxies,
    );
  } catch (error) {
    // A trusted proxy asserting a caller that is not an address: a broken gateway, answered as the error it is.
    const refusal = toApiError(error);
    if (!refusal) throw error;
    refuse(response, refusal.code, refusal.message);
    return;
  }
  // An untrusted peer's cost header is ignored rather than refused: a direct caller pays the
  // default credit whatever it sends, so `X-Keyledger-Cost: 0` buys nothing, and a client that
  // always sends the header keeps working once a proxy stands in front of it.
  const cost = caller.viaTrustedProxy ? costOf(request) : 1;
  // A trusted gateway sending a cost that is not a number from 0 to 1000 is misconfigured: told so, as a bad caller address is.
  if (cost === undefined) {
    refuse(response, 'INVALID_ARGUMENT', `X-Keyledger-Cost must be a whole number of credits from 0 to ${MAX_VERIFY_COST}`);
    return;
  }
  const result = verification.verify(
    bearer ?? header(request, 'x-api-key')?.trim(),
    {
      scopes: scope ? scope.split(/[\s,]+/).filter(Boolean) : undefined,
      ip: caller.ip,
      tenant: (caller.viaTrustedProxy && header(request, 'x-keyledger-tenant')) || undefined,
    },
    'http',
    cost,
  );
  const headers: Record<string, string> = { 'X-Keyledger-Code': result.code, 'Content-Length': '0', 'Cache-Control': 'no-store' };
  if (result.reset) {
    headers['X-Keyledger-Reset'] = result.reset;
    headers['Retry-After'] = String(Math.max(1, Math.ceil((Date.parse(result.reset) - Date.now()) / 1000)));
  }
  if (result.remaining !== undefined) headers['X-Keyledger-Remaining'] = String(result.remaining);
  if (result.reason !== undefined) headers['X-Keyledger-Reason'] = result.reason;
  if (result.valid) {
    headers['X-Keyledger-Key-Id'] = result.keyId ?? '';
    headers['X-Keyledger-Tenant'] = result.tenant ?? '';
    headers['X-Keyledger-Owner'] = encodeURIComponent(result.owner ?? '');
    headers['X-Keyledger-Scopes'] = (result.scopes ?? []).join(' ');
  }
  response.writeHead(STATUS[result.code], headers).end();
}

/**
 * Serves `GET /v1/authorize` straight from Node's HTTP server, ahead of the framework's
 * router: it is the gateway hot path, and routing, middleware and interceptors would cost
 * more than the verification itself. Every other request goes on to Nest.
 */
export function serveAuthorizeFirst(server: Server, verification: VerifyService, trustedProxies: readonly IpRange[]): void {
  const framework = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET' && (request.url === PATH || request.url?.startsWith(`${PATH}?`)))
      return authorize(request, response, verification, trustedProxies);
    for (const listener of framework) listener(request, response);
  });
}
