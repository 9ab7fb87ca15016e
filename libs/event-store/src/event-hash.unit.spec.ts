import type { EventMetadata } from '@keyledger/contracts';
import { GENESIS_HASH, eventHash } from './event-hash.js';

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
