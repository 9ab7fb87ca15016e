import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { readGatewayHeaders } from './gateway-headers.js';

/** What `request.headers` holds for these raw headers: Node's own combination, the reference. */
function nodeHeaders(raw: string[]): Record<string, string | string[] | undefined> {
  // The routine Node's HTTP parser calls to build `request.headers` from the raw list (undocumented, but Node's own).
  const message = new IncomingMessage(new Socket()) as IncomingMessage & { _addHeaderLines(raw: string[], count: number): void };
  message._addHeaderLines(raw, raw.length);
  return message.headers;
}

const READ = {
  authorization: 'authorization',
  apiKey: 'x-api-key',
  requiredScope: 'x-required-scope',
  realIp: 'x-real-ip',
  forwardedFor: 'x-forwarded-for',
  cost: 'x-keyledger-cost',
  tenant: 'x-keyledger-tenant',
} as const;

describe('readGatewayHeaders', () => {
  it('reads names in any case, keeps the first Authorization and joins other repeated headers as Node does', () => {
    const raw = [
      'Host',
      'verifier',
      'AUTHORIZATION',
      'Bearer first',
      'authorization',
      'Bearer second',
      'X-Real-IP',
      '203.0.113.5',
      'x-real-ip',
      '198.51.100.1',
      'X-Forwarded-For',
      '10.0.0.1',
      'X-Keyledger-Cost',
      '3',
      'X-Keyledger-Tenant',
      'acme',
    ];
    expect(readGatewayHeaders(raw)).toEqual({
      authorization: 'Bearer first',
      apiKey: undefined,
      requiredScope: undefined,
      realIp: '203.0.113.5, 198.51.100.1',
      forwardedFor: '10.0.0.1',
      cost: '3',
      tenant: 'acme',
    });
  });

  it('gives each header the value request.headers would (property)', () => {
    const name = fc.oneof(
      fc
        .constantFrom(...Object.values(READ), 'host', 'accept', 'x-other', 'authorisation')
        .chain((lower) =>
          fc
            .array(fc.boolean(), { minLength: lower.length, maxLength: lower.length })
            .map((upper) => [...lower].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')),
        ),
      fc.stringMatching(/^[A-Za-z-]{1,20}$/),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string({ maxLength: 20 })), { maxLength: 12 }), (pairs) => {
        const raw = pairs.flat();
        const expected = nodeHeaders(raw);
        const read = readGatewayHeaders(raw);
        for (const [field, header] of Object.entries(READ)) expect(read[field as keyof typeof READ]).toBe(expected[header]);
      }),
    );
  });
});
