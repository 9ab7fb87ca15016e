import type { EventMetadata } from '@keyledger/contracts';
import { canonicalEventContent } from '@keyledger/event-auth';
import { RowContent } from '@keyledger/event-store';
import { eventLeafHash, eventLeafHashOfContent, eventLeafHashOfRow } from './event-leaf.js';

// Text beyond ASCII in the data: the leaf covers the content's UTF-8.
const metadata = { actor: 'operator', correlationId: 'c-9' } as unknown as EventMetadata;
const data = { keyId: 'key_01xyz', reason: 'fuite détectée — 鍵' };
const event = {
  eventId: '0190a1b2-0000-7e5f-8a9b-0c1d2e3f4a5c',
  streamId: 'key-key_01xyz',
  streamVersion: 2,
  type: 'KeySuspended',
  schemaVersion: 1,
  occurredAt: '2026-03-04T05:06:07.000Z',
  data,
  metadata,
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
    for (const bad of ['c0'.repeat(31), 'C0'.repeat(31) + 'zz', 'AB'.repeat(32), ''])
      expect(() => eventLeafHashOfRow(event.eventId, bad, content)).toThrow(`event ${event.eventId} has no 32-byte hex chain hash`);
  });
});
