import { checkEventData } from './event-data-schemas.js';
import { EVENT_TYPES } from './event-types.js';

const KEY_ID = 'key_00000000000000000000000000';

describe('event data schemas', () => {
  it('has a schema for every type of the closed set: none is unknown', () => {
    for (const type of EVENT_TYPES) expect([type, checkEventData(type, 1, {})?.problem]).toEqual([type, 'bad-schema']);
  });

  it('accepts data of its type, and refuses another shape naming fields, never values', () => {
    expect(checkEventData('KeyRevoked', 1, { keyId: KEY_ID, reason: 'leaked' })).toBeUndefined();
    expect(checkEventData('AdminKeyBootstrapped', 1, { keyId: KEY_ID })).toBeUndefined();
    const problem = checkEventData('KeyRevoked', 1, { keyId: KEY_ID, reason: 'leaked', tenant: 'secret-value' });
    expect(problem).toMatchObject({ problem: 'bad-schema' });
    expect(problem?.message).not.toContain('secret-value');
    expect(checkEventData('KeyResumed', 1, { keyId: 'not-a-key-secret' })?.message).not.toContain('not-a-key-secret');
  });

  it('refuses a type outside the closed set and a schema version without a schema', () => {
    expect(checkEventData('KeyExpired', 1, {})).toMatchObject({ problem: 'unknown-type' });
    expect(checkEventData('toString', 1, {})).toMatchObject({ problem: 'unknown-type' });
    expect(checkEventData('KeyRevoked', 2, { keyId: KEY_ID, reason: 'x' })).toMatchObject({ problem: 'unknown-type' });
  });
});
