import { createHash, createHmac } from 'node:crypto';
import { scramSha256Verifier } from './scram-verifier.js';

describe('scramSha256Verifier', () => {
  // RFC 7677, section 3: user "user", password "pencil". A server holding only the verifier must
  // accept the example's client proof and answer with the example's server signature.
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const serverNonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${serverNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${serverNonce}`;
  const clientProof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');

  function parse(verifier: string) {
    const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    if (!match) throw new Error(`not a SCRAM-SHA-256 verifier: ${verifier}`);
    return { iterations: Number(match[1]), salt: match[2]!, storedKey: Buffer.from(match[3]!, 'base64'), serverKey: Buffer.from(match[4]!, 'base64') };
  }

  it("gives PostgreSQL's stored form of the RFC 7677 example, which accepts its client proof and signs as its server", () => {
    const { iterations, salt: storedSalt, storedKey, serverKey } = parse(scramSha256Verifier('pencil', salt));
    expect([iterations, storedSalt]).toEqual([4096, 'W22ZaJ0SNY7soEsUEjb6gQ==']);
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(clientProof.map((byte, i) => byte ^ clientSignature[i]!));
    expect(createHash('sha256').update(clientKey).digest()).toEqual(storedKey);
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('refuses a wrong password for the same proof', () => {
    const { storedKey } = parse(scramSha256Verifier('pencil2', salt));
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(clientProof.map((byte, i) => byte ^ clientSignature[i]!));
    expect(createHash('sha256').update(clientKey).digest()).not.toEqual(storedKey);
  });

  it('salts every verifier anew, and refuses an empty or non-ASCII password without repeating it', () => {
    expect(parse(scramSha256Verifier('pencil')).salt).not.toBe(parse(scramSha256Verifier('pencil')).salt);
    expect(() => scramSha256Verifier('')).toThrow(RangeError);
    expect(() => scramSha256Verifier('pässwort')).toThrow(/printable ASCII$/);
  });
});
