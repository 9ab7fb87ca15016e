import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { MidstateHmacSha256, scheduleForTest } from './hmac-sha256-midstate.js';

const digestOf = (secret: Uint8Array, message: string): string => {
  const out = new Uint8Array(32);
  new MidstateHmacSha256(secret).digestInto(message, out);
  return Buffer.from(out).toString('hex');
};

describe('HMAC-SHA256 from saved midstates', () => {
  // RFC 4231, section 4: the cases whose message is text (2, 6 and 7; 6 and 7 have a
  // 131-byte key, longer than a block) and case 1, whose message "Hi There" has a 20-byte key.
  it.each([
    ['0b'.repeat(20), 'Hi There', 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    ['4a656665', 'what do ya want for nothing?', '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    ['aa'.repeat(131), 'Test Using Larger Than Block-Size Key - Hash Key First', '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    [
      'aa'.repeat(131),
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
      '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    ],
  ])('gives the RFC 4231 result for key %s', (key, message, expected) => {
    expect(digestOf(Buffer.from(key, 'hex'), message)).toBe(expected);
  });

  it('agrees with createHmac for any secret and any message, at every padding boundary', () => {
    const lengthsAroundBlocks = fc.constantFrom(0, 1, 54, 55, 56, 57, 63, 64, 65, 118, 119, 120, 183, 184, 250);
    const message = fc.oneof(
      lengthsAroundBlocks.map((length) => 'k'.repeat(length)),
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 120 }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), message, (secret, text) => {
        expect(digestOf(secret, text)).toBe(createHmac('sha256', secret).update(text).digest('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves no byte of a message in its reusable buffer, whether the message is ASCII or not', () => {
    const hmac = new MidstateHmacSha256(Buffer.alloc(32, 7));
    const reusable = (hmac as unknown as { padded: Uint8Array }).padded;
    for (const message of ['kl_live_SECRETSECRETSECRET1234', 'kl_live_SECRETSECRETSECRET1234é', 'SECRET€'.repeat(50)]) {
      hmac.digestInto(message, new Uint8Array(32));
      expect(Buffer.from(reusable).includes('SECRET')).toBe(false);
    }
  });

  it('leaves no word of the secret in the shared message schedule once its midstates are made', () => {
    new MidstateHmacSha256(Buffer.from('PEPPER-SECRET-PEPPER-SECRET-PEPP'));
    expect(scheduleForTest().every((word) => word === 0)).toBe(true);
  });

  it('keeps no trace of one message in the next, whatever their lengths and encodings', () => {
    const secret = Buffer.from('a fixed secret of thirty-two b..');
    const hmac = new MidstateHmacSha256(secret);
    const out = new Uint8Array(32);
    for (const message of ['x'.repeat(500), 'é☃😀'.repeat(30), '', 'kl_live_short', 'k'.repeat(200), 'é'.repeat(92), 'short']) {
      hmac.digestInto(message, out);
      expect(Buffer.from(out).toString('hex')).toBe(createHmac('sha256', secret).update(message).digest('hex'));
    }
  });
});
