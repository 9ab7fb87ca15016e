import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { parseDeliverySigningKeys } from '@keyledger/key-secrets';
import type { DeliveryFields, DeliveryReceiver, SignedDelivery } from './delivery-signature.js';
import { DeliveryKeyError, DeliverySigner, checkSignedDelivery, openDelivery, parseDeliveryPublicKeys } from './delivery-signature.js';
import { newAckToken, sealKey } from './sealed-key.js';

const owner = generateKeyPairSync('x25519');
const plaintext = 'kl_live_5mY3ecretKeyMaterialThatMustNotLeak0123';
const seed = (fill: number) => Buffer.alloc(32, fill);
const current = new DeliverySigner([
  { version: 2, secret: seed(2) },
  { version: 1, secret: seed(1) },
]);
const receiver: DeliveryReceiver = { tenant: 'acme', owner: 'orders svc', publicKeys: parseDeliveryPublicKeys(current.publicKeys()) };

function fields(overrides: Partial<DeliveryFields> = {}): DeliveryFields {
  return {
    tenant: 'acme',
    owner: 'orders svc',
    issuedAt: '2025-06-01T12:00:00.000Z',
    envelope: sealKey('key_01jd00000000000000000000b2', plaintext, owner.publicKey, { ackToken: newAckToken(), replaces: 'key_01jd00000000000000000000a1' }),
    ...overrides,
  };
}

/** The same base64 field with one bit flipped in its first byte. */
function flipped(field: string): string {
  const bytes = Buffer.from(field, 'base64');
  bytes[0] = bytes[0]! ^ 1;
  return bytes.toString('base64');
}

const reasonOf = (delivery: unknown) => {
  const check = checkSignedDelivery(JSON.stringify(delivery), receiver);
  return check.ok ? 'ok' : check.reason;
};

describe('delivery signatures', () => {
  it('signs with the current key, and the receiver opens what it checked', () => {
    const signed = current.sign(fields());
    expect(signed).toMatchObject({ delivery: 1, tenant: 'acme', owner: 'orders svc', signature: { alg: 'Ed25519', kid: 2 } });
    expect(Buffer.from(signed.signature.value, 'base64')).toHaveLength(64);
    const body = current.body(fields());
    expect(checkSignedDelivery(body, receiver)).toMatchObject({ ok: true, delivery: { tenant: 'acme', owner: 'orders svc' } });
    expect(openDelivery(Buffer.from(body), { ...receiver, privateKey: owner.privateKey })).toMatchObject({
      ok: true,
      opened: { keyId: 'key_01jd00000000000000000000b2', key: plaintext, replaces: 'key_01jd00000000000000000000a1' },
      issuedAt: '2025-06-01T12:00:00.000Z',
    });
  });

  it('signs the same delivery to the same bytes at every send (Ed25519 is deterministic), and never carries the plaintext', () => {
    const same = fields();
    expect(current.body(same)).toBe(current.body(same));
    expect(current.body(same)).not.toContain(plaintext);
  });

  it('refuses a bare envelope: anyone who knows the owner’s public key can seal one', () => {
    expect(reasonOf(fields().envelope)).toBe('UNSIGNED');
    const { signature: _signature, ...unsigned } = current.sign(fields());
    expect(reasonOf(unsigned)).toBe('UNSIGNED');
    const opening = openDelivery(JSON.stringify(fields().envelope), { ...receiver, privateKey: owner.privateKey });
    expect(opening).toEqual({ ok: false, reason: 'UNSIGNED' });
  });

  it('refuses a delivery signed by a stranger’s key under a trusted key id, or under a key id not given', () => {
    const stranger = new DeliverySigner([{ version: 2, secret: randomBytes(32) }]);
    expect(reasonOf(stranger.sign(fields()))).toBe('BAD_SIGNATURE');
    expect(reasonOf(new DeliverySigner([{ version: 3, secret: seed(2) }]).sign(fields()))).toBe('UNKNOWN_SIGNING_KEY');
    // Relabelled to another trusted key id: the key id is signed too.
    const signed = current.sign(fields());
    expect(reasonOf({ ...signed, signature: { ...signed.signature, kid: 1 } })).toBe('BAD_SIGNATURE');
  });

  it.each([
    ['tenant', (d: SignedDelivery) => ({ ...d, tenant: 'globex' })],
    ['owner', (d: SignedDelivery) => ({ ...d, owner: 'billing' })],
    ['issuedAt', (d: SignedDelivery) => ({ ...d, issuedAt: '2025-06-01T12:00:01.000Z' })],
    ['keyId', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, keyId: 'key_7zzzzzzzzzzzzzzzzzzzzzzzzz' } })],
    ['envelope version', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, v: 1 } })],
    ['epk', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, epk: flipped(d.envelope.epk) } })],
    ['nonce', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, nonce: flipped(d.envelope.nonce) } })],
    ['ciphertext', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, ciphertext: flipped(d.envelope.ciphertext) } })],
    ['tag', (d: SignedDelivery) => ({ ...d, envelope: { ...d.envelope, tag: flipped(d.envelope.tag) } })],
    ['signature', (d: SignedDelivery) => ({ ...d, signature: { ...d.signature, value: flipped(d.signature.value) } })],
  ])('refuses a delivery whose %s was changed', (_field, change) => {
    expect(reasonOf(change(current.sign(fields())))).toBe('BAD_SIGNATURE');
  });

  it('refuses a stranger’s key sealed anew under a genuine delivery’s signature', () => {
    const genuine = current.sign(fields());
    const swapped = {
      ...genuine,
      envelope: sealKey(genuine.envelope.keyId, 'kl_live_chosenByTheStranger0000000000000', owner.publicKey, { ackToken: newAckToken() }),
    };
    expect(reasonOf(swapped)).toBe('BAD_SIGNATURE');
  });

  it('refuses a genuine delivery meant for another tenant or owner', () => {
    const body = current.body(fields());
    expect(checkSignedDelivery(body, { ...receiver, owner: 'billing' })).toEqual({ ok: false, reason: 'WRONG_RECIPIENT' });
    expect(checkSignedDelivery(body, { ...receiver, tenant: 'globex' })).toEqual({ ok: false, reason: 'WRONG_RECIPIENT' });
  });

  it('keeps checking deliveries signed with the previous key while receivers hold both', () => {
    const previous = new DeliverySigner([{ version: 1, secret: seed(1) }]);
    expect(reasonOf(previous.sign(fields()))).toBe('ok');
    expect(current.publicKeys().split(',')[1]).toBe(previous.publicKeys());
  });

  it('refuses what is not a signed delivery as MALFORMED, before any signature check', () => {
    const signed = current.sign(fields());
    for (const body of ['', 'null', '[]', '"text"', '{"delivery":1', JSON.stringify({ ...signed, extra: 1 }), JSON.stringify({ ...signed, delivery: 2 })])
      expect(checkSignedDelivery(body, receiver)).toEqual({ ok: false, reason: 'MALFORMED' });
    expect(reasonOf({ ...signed, signature: { ...signed.signature, alg: 'HS256' } })).toBe('MALFORMED');
    expect(reasonOf({ ...signed, signature: { ...signed.signature, value: signed.signature.value.slice(4) } })).toBe('MALFORMED');
    expect(reasonOf({ ...signed, envelope: { ...signed.envelope, extra: 1 } })).toBe('MALFORMED');
    expect(reasonOf({ ...signed, owner: 'x'.repeat(201) })).toBe('MALFORMED');
  });

  it('is Ed25519 over the canonical JSON of the named fields, so any implementation can check it', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const raw = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
    const signer = new DeliverySigner([{ version: 4, secret: Buffer.from(raw) }]);
    const signed = signer.sign(fields());
    const { v, alg, keyId, epk, nonce, ciphertext, tag } = signed.envelope;
    // RFC 8785: keys sorted, no whitespace.
    const content = JSON.stringify({
      envelope: { alg, ciphertext, epk, keyId, nonce, tag, v },
      issuedAt: signed.issuedAt,
      kid: 4,
      owner: signed.owner,
      purpose: 'keyledger key delivery v1',
      tenant: signed.tenant,
    });
    expect(signed.signature.value).toBe(sign(null, Buffer.from(content), privateKey).toString('base64'));
  });

  it('reads public keys as <version>:<base64 of 32 bytes> and refuses anything else with a typed error', () => {
    expect(parseDeliveryPublicKeys(current.publicKeys()).map((key) => key.kid)).toEqual([2, 1]);
    for (const bad of ['', ' , ', '1:abc', `x:${'A'.repeat(43)}=`, `1:${Buffer.alloc(33).toString('base64')}`, `1:${'A'.repeat(43)}=,1:${'B'.repeat(43)}=`])
      expect(() => parseDeliveryPublicKeys(bad)).toThrow(DeliveryKeyError);
  });

  it('takes signing keys as 32-byte seeds, and names a bad entry without its secret', () => {
    const secret = randomBytes(40).toString('base64');
    expect(() => parseDeliverySigningKeys(`1:${secret}`)).toThrow(/delivery signing key version 1 is not 32 bytes/);
    try {
      parseDeliverySigningKeys(`1:${secret}`);
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
    expect(() => new DeliverySigner([])).toThrow(DeliveryKeyError);
    expect(parseDeliverySigningKeys(`3:${seed(3).toString('base64')},2:${seed(2).toString('base64')}`).map((key) => key.version)).toEqual([3, 2]);
  });
});
