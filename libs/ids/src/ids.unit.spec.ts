import { nameBasedEventId, newEventId, newPrefixedId, timeOfPrefixedId } from './ids.js';

describe('ids', () => {
  it('makes RFC 9562 version 7 event ids', () => {
    expect(newEventId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('makes prefixed ids that sort by creation order', () => {
    const ids = Array.from({ length: 200 }, () => newPrefixedId('key'));
    expect(ids.every((id) => /^key_[0-9a-hjkmnp-tv-z]{26}$/.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects a prefix that would make ids ambiguous', () => {
    expect(() => newPrefixedId('Key_')).toThrow(RangeError);
  });

  it('reads back when a prefixed id was made', () => {
    const before = Date.now();
    const id = newPrefixedId('key');
    expect(timeOfPrefixedId(id)).toBeGreaterThanOrEqual(before);
    expect(timeOfPrefixedId(id)).toBeLessThanOrEqual(Date.now());
    expect(timeOfPrefixedId('key_nope')).toBeUndefined();
    const at = new Date('2031-05-06T07:08:09.123Z');
    expect(timeOfPrefixedId(newPrefixedId('key', at))).toBe(at.getTime());
    expect(newPrefixedId('key', at)).toMatch(/^key_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('derives the same RFC 9562 version 8 event id from the same name, and another from another', () => {
    const id = nameBasedEventId('anomaly|key_a|rate-spike|1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(nameBasedEventId('anomaly|key_a|rate-spike|1')).toBe(id);
    expect(nameBasedEventId('anomaly|key_a|rate-spike|2')).not.toBe(id);
  });
});
