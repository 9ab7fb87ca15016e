import type { HeadRead } from './heartbeat-dating.js';
import { vouchedInstant } from './heartbeat-dating.js';

const read = (at: number, horizon: number, snapshotEnd: number, heldBack = true): HeadRead => ({
  at,
  heldBack,
  horizon: BigInt(horizon),
  snapshotEnd: BigInt(snapshotEnd),
});

describe('vouchedInstant', () => {
  it('vouches for the read itself when nothing committed waits past the head', () => {
    expect(vouchedInstant(read(5000, 100, 120, false), [])).toBe(5000);
  });

  it('vouches for nothing when held back and no earlier read is remembered', () => {
    expect(vouchedInstant(read(5000, 100, 120), [])).toBeUndefined();
  });

  it('vouches for the newest earlier read whose committed transactions have all ended below this horizon', () => {
    const earlier = [read(3000, 80, 90, false), read(4000, 95, 100), read(4500, 99, 101)];
    // 101 > 100: a transaction below 101 may still run (100 itself), so 4500 is not covered.
    expect(vouchedInstant(read(5000, 100, 130), earlier)).toBe(4000);
  });

  it('vouches for nothing while the transaction holding the head back is older than every remembered read', () => {
    const earlier = [read(3000, 90, 120), read(4000, 90, 125)];
    expect(vouchedInstant(read(5000, 90, 130), earlier)).toBeUndefined();
  });

  it('never dates a heartbeat later than the read it announces', () => {
    expect(vouchedInstant(read(5000, 200, 210), [read(6000, 100, 150, false)])).toBeUndefined();
  });
});
