import type { LiveKeyState } from './live-key-state.js';
import { applyDelivery } from './live-key-state.js';

const K1 = 'key_01jd00000000000000000000a1';
const K2 = 'key_01jd00000000000000000000b2';
const K3 = 'key_01jd00000000000000000000c3';

describe('live key switching', () => {
  it('switches to each newer delivered key and remembers how far it read', () => {
    let state: LiveKeyState = { keyId: K1, key: 'kl_live_one', sequence: 0 };
    const second = applyDelivery(state, { keyId: K2, key: 'kl_live_two' }, 4);
    expect(second).toEqual({ outcome: 'SWITCHED', state: { keyId: K2, key: 'kl_live_two', sequence: 4 } });
    state = second.state;
    expect(applyDelivery(state, { keyId: K3, key: 'kl_live_three' }, 9).state).toEqual({ keyId: K3, key: 'kl_live_three', sequence: 9 });
  });

  it('keeps the key it holds when an older or the same key is replayed', () => {
    const state = { keyId: K2, key: 'kl_live_two', sequence: 4 };
    expect(applyDelivery(state, { keyId: K1, key: 'kl_live_one' }, 7)).toEqual({ outcome: 'STALE', state: { ...state, sequence: 7 } });
    expect(applyDelivery(state, { keyId: K2, key: 'kl_live_two' }, 5).outcome).toBe('STALE');
  });

  it('takes the first delivery when the id of the key held is not known', () => {
    expect(applyDelivery({ keyId: undefined, key: 'kl_live_one', sequence: 0 }, { keyId: K1, key: 'kl_live_x' }, 1).outcome).toBe('SWITCHED');
  });

  it('never moves its position backwards', () => {
    expect(applyDelivery({ keyId: K1, key: 'a', sequence: 10 }, { keyId: K2, key: 'b' }, 3).state.sequence).toBe(10);
  });

  it('follows its own line of keys: a rotation of another key of the same owner is left alone', () => {
    const state: LiveKeyState = { keyId: K1, key: 'kl_live_one', sequence: 0 };
    const other = applyDelivery(state, { keyId: K2, key: 'kl_live_other', ackToken: 't', replaces: 'key_01jd00000000000000000000zz' }, 3);
    expect(other).toEqual({ outcome: 'OTHER_KEY', state: { ...state, sequence: 3 } });
    const own = applyDelivery(other.state, { keyId: K3, key: 'kl_live_three', ackToken: 't', replaces: K1 }, 4);
    expect(own).toEqual({ outcome: 'SWITCHED', state: { keyId: K3, key: 'kl_live_three', sequence: 4 } });
    // A repeat of the key held is stale; an older link of its own line is not its to take again.
    expect(applyDelivery(own.state, { keyId: K3, key: 'kl_live_three', replaces: K1 }, 5).outcome).toBe('STALE');
    expect(applyDelivery(own.state, { keyId: K2, key: 'kl_live_two', replaces: 'key_01jd00000000000000000000zz' }, 6).outcome).toBe('OTHER_KEY');
  });
});
