import type { EventMetadata } from '@keyledger/contracts';
import { canonicalEventContent } from '@keyledger/event-auth';
import { RowContent } from '@keyledger/event-store';
import { eventLeafHash, eventLeafHashOfContent, eventLeafHashOfRow } from './event-leaf.js';

const event = {
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  streamId: 'key-key_01abc',
  streamVersion: 3,
  type: 'KeyRevoked',
  schemaVersion: 1,
  occurredAt: '2026-01-02T03:04:05.000Z',
  data: { reason: 'leaked — fuite', keyId: 'key_01abc' },
  metadata: { actor: 'admin', correlationId: 'c1' } as unknown as EventMetadata,
  hash: 'c0'.repeat(32),
};

describe('the leaf of a row read back', () => {
  it('is the leaf of the event, made from the content made once', () => {
    const content = new RowContent(canonicalEventContent(event));
    expect(eventLeafHashOfRow(event.eventId, event.hash, content)).toEqual(eventLeafHash(event));
    expect(eventLeafHashOfRow(event.eventId, event.hash, content)).toEqual(eventLeafHashOfContent(event.eventId, event.hash, content.bytes));
    expect(eventLeafHashOfRow(event.eventId, '00'.repeat(32), content)).not.toEqual(eventLeafHash(event));
  });

  it('refuses a chain hash that is not 32 bytes of hex, naming the event', () => {
    const content = new RowContent(canonicalEventContent(event));
    for (const bad of ['c0'.repeat(31), 'C0'.repeat(31) + 'zz', ''])
      expect(() => eventLeafHashOfRow(event.eventId, bad, content)).toThrow(`event ${event.eventId} has no 32-byte hex chain hash`);
  });
});
