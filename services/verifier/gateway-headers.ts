/** The request headers `GET /v1/authorize` reads, combined as Node combines repeated ones. */
export interface GatewayHeaders {
  authorization: string | undefined;
  apiKey: string | undefined;
  requiredScope: string | undefined;
  realIp: string | undefined;
  forwardedFor: string | undefined;
  cost: string | undefined;
  tenant: string | undefined;
}

/**
 * Reads the headers `/v1/authorize` needs from `request.rawHeaders` (name, value, name, value…)
 * in one pass. `request.headers` would lower-case every name the request carries into a new
 * object, which costs more than the verification; the values are the ones it would hold:
 * `Authorization` repeated keeps its first value (Node drops the duplicates), any other header
 * repeated is its values joined with ", ".
 */
export function readGatewayHeaders(raw: readonly string[]): GatewayHeaders {
  const headers: GatewayHeaders = {
    authorization: undefined,
    apiKey: undefined,
    requiredScope: undefined,
    realIp: undefined,
    forwardedFor: undefined,
    cost: undefined,
    tenant: undefined,
  };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // Every name read starts with an A or an X: the others (Host, User-Agent, Accept…) are not lower-cased.
    const initial = name.charCodeAt(0) | 0x20;
    if (initial !== 0x61 && initial !== 0x78) continue;
    const value = raw[i + 1]!;
    switch (name.toLowerCase()) {
      case 'authorization':
        headers.authorization ??= value;
        break;
      case 'x-api-key':
        headers.apiKey = joined(headers.apiKey, value);
        break;
      case 'x-required-scope':
        headers.requiredScope = joined(headers.requiredScope, value);
        break;
      case 'x-real-ip':
        headers.realIp = joined(headers.realIp, value);
        break;
      case 'x-forwarded-for':
        headers.forwardedFor = joined(headers.forwardedFor, value);
        break;
      case 'x-keyledger-cost':
        headers.cost = joined(headers.cost, value);
        break;
      case 'x-keyledger-tenant':
        headers.tenant = joined(headers.tenant, value);
        break;
    }
  }
  return headers;
}

function joined(before: string | undefined, value: string): string {
  return before === undefined ? value : `${before}, ${value}`;
}
