import fc from 'fast-check';
import type { RequestOrigin } from './client-address.js';
import { callerAddress, classifyPeer, clientAddress, isTrustedAddress } from './client-address.js';
import { DomainError } from './domain-error.js';
import type { IpRange } from './ip-allowlist.js';
import { parseCidr } from './ip-allowlist.js';

const ranges = (...cidrs: string[]): IpRange[] => cidrs.map((cidr) => parseCidr(cidr)!);
const PROXIES = ranges('10.0.0.0/8', 'fd00::/8');

describe('clientAddress', () => {
  it('takes the peer and ignores every header from an untrusted peer', () => {
    expect(clientAddress({ peer: '198.51.100.9', realIp: '10.1.1.1', forwardedFor: '10.1.1.1' }, PROXIES)).toEqual({
      ip: '198.51.100.9',
      viaTrustedProxy: false,
    });
  });

  it('trusts no one when no proxy is configured, even loopback', () => {
    expect(clientAddress({ peer: '127.0.0.1', realIp: '203.0.113.5', forwardedFor: undefined }, [])).toEqual({ ip: '127.0.0.1', viaTrustedProxy: false });
  });

  it('gives a dual-stack peer its IPv4 address, and matches it against IPv4 proxies', () => {
    expect(clientAddress({ peer: '::ffff:198.51.100.9', realIp: undefined, forwardedFor: undefined }, [])).toEqual({
      ip: '198.51.100.9',
      viaTrustedProxy: false,
    });
    expect(clientAddress({ peer: '::ffff:10.0.0.2', realIp: '203.0.113.5', forwardedFor: undefined }, PROXIES)).toEqual({
      ip: '203.0.113.5',
      viaTrustedProxy: true,
    });
  });

  it('takes X-Real-IP from a trusted proxy first', () => {
    expect(clientAddress({ peer: '10.0.0.2', realIp: ' 203.0.113.5 ', forwardedFor: '198.51.100.1' }, PROXIES).ip).toBe('203.0.113.5');
  });

  it('takes the right-most untrusted X-Forwarded-For address, not the left-most a client may have forged', () => {
    const origin = { peer: '10.0.0.2', realIp: undefined, forwardedFor: '1.2.3.4, 203.0.113.5, 10.0.0.7, fd00::1' };
    expect(clientAddress(origin, PROXIES)).toEqual({ ip: '203.0.113.5', viaTrustedProxy: true });
  });

  it('takes the left-most address when every hop is a trusted proxy, and the peer when there is none', () => {
    expect(clientAddress({ peer: '10.0.0.2', realIp: undefined, forwardedFor: '10.0.0.9,10.0.0.8' }, PROXIES).ip).toBe('10.0.0.9');
    expect(clientAddress({ peer: '10.0.0.2', realIp: '', forwardedFor: ' , ' }, PROXIES).ip).toBe('10.0.0.2');
  });

  it('refuses a trusted proxy’s X-Real-IP or reached X-Forwarded-For entry that is not an address with INVALID_ARGUMENT, naming the header and not the value', () => {
    const refusal = (origin: Omit<RequestOrigin, 'peer'>) => () => clientAddress({ peer: '10.0.0.2', ...origin }, PROXIES);
    for (const garbage of ['unknown', '999.1.1.1', '10.0.0.1/8', '<script>', '1.2.3.4:80', 'x'.repeat(200)]) {
      expect(refusal({ realIp: garbage, forwardedFor: undefined })).toThrow(
        new DomainError('INVALID_ARGUMENT', 'X-Real-IP from a trusted proxy is not an IP address'),
      );
      expect(refusal({ realIp: undefined, forwardedFor: `203.0.113.5, ${garbage}, 10.0.0.3` })).toThrow(
        new DomainError('INVALID_ARGUMENT', 'X-Forwarded-For from a trusted proxy is not an IP address'),
      );
    }
    // What lies left of the caller was written by the client and is never read.
    expect(clientAddress({ peer: '10.0.0.2', realIp: undefined, forwardedFor: 'unknown, 203.0.113.5, 10.0.0.3' }, PROXIES).ip).toBe('203.0.113.5');
  });

  it('never lets an untrusted peer choose its address, whatever the headers (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.option(fc.string()), fc.option(fc.string()), (peer, realIp, forwardedFor) => {
        fc.pre(!isTrustedAddress(PROXIES, peer));
        const result = clientAddress({ peer, realIp: realIp ?? undefined, forwardedFor: forwardedFor ?? undefined }, PROXIES);
        return result.ip === peer && !result.viaTrustedProxy;
      }),
    );
  });

  it('never answers a trusted proxy from the forwarded chain when an untrusted hop lies right of it (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.ipV4(), { maxLength: 5 }),
        fc.ipV4(),
        fc.array(fc.constantFrom('10.1.2.3', '10.9.9.9'), { maxLength: 5 }),
        (forged, client, proxies) => {
          fc.pre(!isTrustedAddress(PROXIES, client));
          const forwardedFor = [...forged, client, ...proxies].join(', ');
          return clientAddress({ peer: '10.0.0.1', realIp: undefined, forwardedFor }, PROXIES).ip === client;
        },
      ),
    );
  });
});

describe('callerAddress for a peer classified once', () => {
  it('answers each request on a trusted proxy’s connection from that request’s own headers', () => {
    const proxy = classifyPeer('::ffff:10.0.0.2', PROXIES);
    expect(proxy).toMatchObject({ ip: '10.0.0.2', trusted: true });
    expect(callerAddress(proxy, { realIp: '203.0.113.5', forwardedFor: undefined }, PROXIES)).toEqual({ ip: '203.0.113.5', viaTrustedProxy: true });
    expect(callerAddress(proxy, { realIp: undefined, forwardedFor: '198.51.100.7' }, PROXIES)).toEqual({ ip: '198.51.100.7', viaTrustedProxy: true });
    expect(callerAddress(proxy, { realIp: undefined, forwardedFor: undefined }, PROXIES)).toEqual({ ip: '10.0.0.2', viaTrustedProxy: true });
    expect(() => callerAddress(proxy, { realIp: 'nonsense', forwardedFor: undefined }, PROXIES)).toThrow(DomainError);
  });

  it('answers every request on an untrusted connection with the peer, whatever each request’s headers say', () => {
    const peer = classifyPeer('198.51.100.9', PROXIES);
    expect(peer.trusted).toBe(false);
    for (const realIp of ['10.0.0.3', 'nonsense', undefined])
      expect(callerAddress(peer, { realIp, forwardedFor: '10.1.1.1' }, PROXIES)).toEqual({ ip: '198.51.100.9', viaTrustedProxy: false });
  });
});
