import { randomBytes } from 'node:crypto';
import { SnapshotSeal } from './snapshot-seal.js';

const pepper = (version: number) => ({ version, secret: randomBytes(32) });

describe('snapshot seal', () => {
  const current = pepper(2);
  const previous = pepper(1);
  const body = randomBytes(1000);

  it('accepts its own seal, also after a newer pepper is added', () => {
    const seal = new SnapshotSeal([previous]).seal(body, 'ctx');
    expect(new SnapshotSeal([previous]).verify(body, 'ctx', seal)).toBe(true);
    expect(new SnapshotSeal([current, previous]).verify(body, 'ctx', seal)).toBe(true);
  });

  it('rejects edited bytes, another context, an edited MAC and an unknown pepper', () => {
    const sealer = new SnapshotSeal([current]);
    const seal = sealer.seal(body, '{"position":"10"}');
    const edited = Buffer.from(body);
    edited[500] = edited[500]! ^ 1;
    expect(sealer.verify(edited, '{"position":"10"}', seal)).toBe(false);
    // The same bytes stored beside another position: refused.
    expect(sealer.verify(body, '{"position":"99"}', seal)).toBe(false);
    expect(sealer.verify(body, '{"position":"10"}', { ...seal, mac: randomBytes(32) })).toBe(false);
    expect(sealer.verify(body, '{"position":"10"}', { ...seal, mac: seal.mac.subarray(0, 16) })).toBe(false);
    expect(new SnapshotSeal([pepper(2)]).verify(body, '{"position":"10"}', seal)).toBe(false);
    expect(sealer.verify(body, '{"position":"10"}', { ...seal, pepperVersion: 9 })).toBe(false);
  });

  it('does not use the key-digest HMAC key itself', async () => {
    const { createHmac } = await import('node:crypto');
    const seal = new SnapshotSeal([current]).seal(body, '');
    expect(seal.mac.equals(createHmac('sha256', current.secret).update(body).digest())).toBe(false);
  });
});
