import type { EventMetadata } from '@keyledger/contracts';
import { canonicalEventContent } from '@keyledger/event-auth';
import { GENESIS_HASH, eventHash, rowContentHash } from './event-hash.js';
import { RowContent } from './row-content.js';

const event = {
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  streamId: 'key-key_01abc',
  streamVersion: 3,
  type: 'KeyRevoked',
  schemaVersion: 1,
  occurredAt: '2026-01-02T03:04:05.000Z',
  data: { reason: 'leaked', keyId: 'key_01abc' },
  metadata: { actor: 'admin', correlationId: 'c1' } as unknown as EventMetadata,
};

describe('eventHash', () => {
  // Chains already stored were hashed with this exact text: a change of the canonical content breaks every one of them.
  it('hashes the canonical content as stored chains were hashed', () => {
    expect(eventHash(GENESIS_HASH, event).toString('hex')).toBe('2c49ac7639bf9489b4a38ccfc7bb64b13f50cdd13f1240a68204ee8c9497600b');
  });

  it('covers only the named fields, in any key order', () => {
    const reordered = { position: '99', hash: 'x', ...event, data: { keyId: 'key_01abc', reason: 'leaked' } };
    expect(eventHash(GENESIS_HASH, reordered)).toEqual(eventHash(GENESIS_HASH, event));
  });

  it('changes with the previous hash and with any covered field', () => {
    const base = eventHash(GENESIS_HASH, event);
    expect(eventHash(Buffer.alloc(32, 1), event)).not.toEqual(base);
    expect(eventHash(GENESIS_HASH, { ...event, streamVersion: 4 })).not.toEqual(base);
    expect(eventHash(GENESIS_HASH, { ...event, data: { reason: 'other', keyId: 'key_01abc' } })).not.toEqual(base);
  });
});

describe('rowContentHash', () => {
  const content = new RowContent(canonicalEventContent(event));

  it('is eventHash, as hex, over the content made once', () => {
    expect(rowContentHash(GENESIS_HASH.toString('hex'), content)).toBe(eventHash(GENESIS_HASH, event).toString('hex'));
    const previous = Buffer.alloc(32, 0xab);
    expect(rowContentHash(previous.toString('hex'), content)).toBe(eventHash(previous, event).toString('hex'));
  });

  it('keeps the content intact whatever was hashed before it', () => {
    rowContentHash('ff'.repeat(32), content);
    expect(content.sha256After('00'.repeat(32), 0x00, 'hex')).not.toBe(rowContentHash('00'.repeat(32), content));
    expect(content.bytes.toString('utf8')).toBe(canonicalEventContent(event));
    expect(rowContentHash(GENESIS_HASH.toString('hex'), content)).toBe(eventHash(GENESIS_HASH, event).toString('hex'));
  });

  it('refuses a previous hash that is not 32 bytes of hex', () => {
    for (const bad of ['', 'ab'.repeat(31), 'ab'.repeat(33), 'zz'.repeat(32), `${'ab'.repeat(31)}a`])
      expect(() => rowContentHash(bad, content)).toThrow(RangeError);
  });

  it('encodes text beyond ASCII as UTF-8, as eventHash does', () => {
    const accented = { ...event, data: { reason: 'fuite détectée — 鍵', keyId: 'key_01abc' } };
    expect(rowContentHash(GENESIS_HASH.toString('hex'), new RowContent(canonicalEventContent(accented)))).toBe(
      eventHash(GENESIS_HASH, accented).toString('hex'),
    );
  });
});
