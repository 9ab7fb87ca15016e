import { createHmac, randomBytes } from 'node:crypto';
import { parseKey } from '@keyledger/key-domain';
import { KeyHasher } from './key-hasher.js';
import { PepperConfigError, parsePeppers } from './peppers.js';

const secret = (): string => randomBytes(32).toString('base64');

describe('key hasher', () => {
  it('computes HMAC-SHA256 exactly as createHmac does, for short and long peppers', () => {
    for (const bytes of [32, 64, 100]) {
      const pepper = randomBytes(bytes);
      const hasher = new KeyHasher([{ version: 1, secret: pepper }]);
      const { plaintext, digest } = hasher.newKey('kl', 'live');
      expect(digest.digest).toBe(createHmac('sha256', pepper).update(plaintext).digest('hex'));
    }
  });

  it('agrees with createHmac for messages of any length and encoding, one after another', () => {
    const pepper = randomBytes(32);
    const hasher = new KeyHasher([{ version: 1, secret: pepper }]);
    // Reused buffers must not leak one message into the next: long, short, multi-byte.
    for (const message of ['x'.repeat(500), 'é☃😀'.repeat(30), '', 'kl_live_short', 'é'.repeat(92)]) {
      expect(hasher.digestUnder(message, 0).toString('hex')).toBe(createHmac('sha256', pepper).update(message).digest('hex'));
    }
  });

  it('issues well-formed keys whose stored form does not contain the plaintext', () => {
    const hasher = new KeyHasher(parsePeppers(`3:${secret()}`));
    const material = hasher.newKey('acme', 'test');
    expect(parseKey(material.plaintext)).toBeDefined();
    expect(material.digest.pepperVersion).toBe(3);
    expect(JSON.stringify({ digest: material.digest, hint: material.hint })).not.toContain(material.plaintext.slice(10, 30));
  });

  it('recognises a key hashed under the previous pepper after a new one is introduced', () => {
    const old = secret();
    const before = new KeyHasher(parsePeppers(`1:${old}`)).newKey('kl', 'live');
    const after = new KeyHasher(parsePeppers(`2:${secret()},1:${old}`));
    expect(after.pepperVersions).toEqual([2, 1]);
    expect(after.digestUnder(before.plaintext, 1).toString('hex')).toBe(before.digest.digest);
    expect(after.digestUnder(before.plaintext, 0).toString('hex')).not.toBe(before.digest.digest);
    expect(() => after.digestUnder(before.plaintext, 2)).toThrow(RangeError);
  });

  it.each([
    ['', /no pepper/],
    ['1:c2hvcnQ=', /shorter than 32 bytes/],
    ['x', /not <version>/],
    [`1:${'A'.repeat(44)},1:${'B'.repeat(44)}`, /distinct/],
  ])('rejects the pepper setting %j without echoing it', (text, message) => {
    expect(() => parsePeppers(text)).toThrow(PepperConfigError);
    expect(() => parsePeppers(text)).toThrow(message);
  });
});
