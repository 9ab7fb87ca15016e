import { EVENT_TYPES, EVENT_TYPES_BY_CATEGORY, isEventType, isEventTypeOf } from './event-types.js';

describe('event types', () => {
  it('puts each type in exactly one category', () => {
    expect(Object.values(EVENT_TYPES_BY_CATEGORY).flat()).toHaveLength(EVENT_TYPES.size);
  });

  it('knows the types it lists and no other', () => {
    expect(isEventType('AdminKeyBootstrapped')).toBe(true);
    expect(isEventType('KeyExpired')).toBe(false);
    expect(isEventType('keyIssued')).toBe(false);
    expect(isEventTypeOf('tenant', 'RotationPolicySet')).toBe(true);
    expect(isEventTypeOf('tenant', 'KeyIssued')).toBe(false);
  });
});
