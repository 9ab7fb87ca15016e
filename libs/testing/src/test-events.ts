import type { EventMetadata } from '@keyledger/contracts';
import type { NewEvent } from '@keyledger/event-store';

export const testMetadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: 'test:suite',
  correlationId: 'corr-test',
  causationId: 'cmd-test',
  ...overrides,
});

/** A well-formed event for store and bus tests. */
export function testEvent(data: Record<string, unknown> = {}, overrides: Partial<NewEvent> = {}): NewEvent {
  return { type: 'KeySuspended', data: { keyId: 'key_test', ...data }, metadata: testMetadata(), ...overrides };
}
