import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { bearerToken, toApiError } from '@keyledger/api-transport';
import type { ApiErrorBody, ApiErrorCode, VerifyResult } from '@keyledger/contracts';
import { API_ERRORS, MAX_VERIFY_COST } from '@keyledger/contracts';
import type { ClassifiedPeer, ClientAddress, IpRange } from '@keyledger/key-domain';
import { callerAddress, classifyPeer } from '@keyledger/key-domain';
import { readGatewayHeaders } from './gateway-headers.js';
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

/** `X-Keyledger-Cost`: 0 to MAX_VERIFY_COST credits, 1 when absent; undefined when it is not such a number. */
function costOf(header: string | undefined): number | undefined {
  const text = header?.trim();
  if (text === undefined || text === '') return 1;
  const cost = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  return cost <= MAX_VERIFY_COST ? cost : undefined;
}

/** `X-Required-Scope`: scopes separated by spaces or commas; a single scope (the usual case) without a regular expression. */
function requiredScopes(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  return SCOPE_SEPARATOR.test(text) ? text.split(SCOPE_SEPARATORS).filter(Boolean) : [text];
}
const SCOPE_SEPARATOR = /[\s,]/;
const SCOPE_SEPARATORS = /[\s,]+/;

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
export function authorize(
  request: IncomingMessage,
  response: ServerResponse,
  verification: VerifyService,
  trustedProxies: readonly IpRange[],
  /** The connection's peer, classified against `trustedProxies` (`classifyPeer`). */
  peer: ClassifiedPeer,
): void {
  const headers = readGatewayHeaders(request.rawHeaders);
  let caller: ClientAddress;
  try {
    caller = callerAddress(peer, headers, trustedProxies);
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
  const cost = caller.viaTrustedProxy ? costOf(headers.cost) : 1;
  // A trusted gateway sending a cost that is not a number from 0 to 1000 is misconfigured: told so, as a bad caller address is.
  if (cost === undefined) {
    refuse(response, 'INVALID_ARGUMENT', `X-Keyledger-Cost must be a whole number of credits from 0 to ${MAX_VERIFY_COST}`);
    return;
  }
  const result = verification.verify(
    bearerToken(headers.authorization) ?? headers.apiKey?.trim(),
    {
      scopes: requiredScopes(headers.requiredScope),
      ip: caller.ip,
      tenant: (caller.viaTrustedProxy && headers.tenant) || undefined,
    },
    'http',
    cost,
  );
  const answer: Record<string, string> = { 'X-Keyledger-Code': result.code, 'Content-Length': '0', 'Cache-Control': 'no-store' };
  if (result.reset) {
    answer['X-Keyledger-Reset'] = result.reset;
    answer['Retry-After'] = String(Math.max(1, Math.ceil((Date.parse(result.reset) - Date.now()) / 1000)));
  }
  if (result.remaining !== undefined) answer['X-Keyledger-Remaining'] = String(result.remaining);
  if (result.reason !== undefined) answer['X-Keyledger-Reason'] = result.reason;
  if (result.valid) {
    answer['X-Keyledger-Key-Id'] = result.keyId ?? '';
    answer['X-Keyledger-Tenant'] = result.tenant ?? '';
    answer['X-Keyledger-Owner'] = encodeURIComponent(result.owner ?? '');
    answer['X-Keyledger-Scopes'] = (result.scopes ?? []).join(' ');
  }
  response.writeHead(STATUS[result.code], answer).end();
}

/**
 * Serves `GET /v1/authorize` straight from Node's HTTP server, ahead of the framework's
 * router: it is the gateway hot path, and routing, middleware and interceptors would cost
 * more than the verification itself. Every other request goes on to Nest.
 */
export function serveAuthorizeFirst(server: Server, verification: VerifyService, trustedProxies: readonly IpRange[]): void {
  const framework = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  // A connection's peer does not change: classified on its first request, not parsed again for
  // every request a gateway's keep-alive connection carries.
  const peers = new WeakMap<Socket, ClassifiedPeer>();
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET' && (request.url === PATH || request.url?.startsWith(`${PATH}?`))) {
      let peer = peers.get(request.socket);
      if (peer === undefined) peers.set(request.socket, (peer = classifyPeer(request.socket.remoteAddress, trustedProxies)));
      return authorize(request, response, verification, trustedProxies, peer);
    }
    for (const listener of framework) listener(request, response);
  });
}
