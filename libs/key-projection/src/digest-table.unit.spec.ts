import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { DigestTable } from './digest-table.js';

describe('DigestTable', () => {
  it('finds every digest it was given, through growth, and nothing else', () => {
    const table = new DigestTable();
    const digests = Array.from({ length: 5000 }, () => randomBytes(32));
    digests.forEach((digest, slot) => table.add(slot, digest));
    digests.forEach((digest, slot) => expect(table.find(digest)).toBe(slot));
    expect(table.find(randomBytes(32))).toBe(-1);
    expect(Buffer.from(table.digestOf(4321)).equals(digests[4321]!)).toBe(true);
  });

  it('tells apart digests that share their first four bytes', () => {
    const table = new DigestTable();
    const a = Buffer.alloc(32, 1);
    const b = Buffer.from(a);
    b[31] = 2;
    table.add(0, a);
    table.add(1, b);
    expect([table.find(a), table.find(b)]).toEqual([0, 1]);
  });

  it('points a repeated digest at the newest slot', () => {
    const table = new DigestTable();
    const digest = randomBytes(32);
    table.add(0, digest);
    table.add(1, digest);
    expect(table.find(digest)).toBe(1);
  });

  it('answers -1 for input of the wrong size and refuses to store it', () => {
    const table = new DigestTable();
    expect(table.find(new Uint8Array(31))).toBe(-1);
    expect(() => table.add(0, new Uint8Array(33))).toThrow(RangeError);
  });

  it('agrees with a Map on random inserts and lookups', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 300 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (digests, probe) => {
          const table = new DigestTable();
          const reference = new Map<string, number>();
          digests.forEach((digest, slot) => {
            table.add(slot, digest);
            reference.set(Buffer.from(digest).toString('hex'), slot);
          });
          for (const digest of [...digests, probe]) expect(table.find(digest)).toBe(reference.get(Buffer.from(digest).toString('hex')) ?? -1);
        },
      ),
    );
  });
});
