import { jest } from '@jest/globals';
import type { GlobalPosition } from '@keyledger/contracts';
import type { HeartbeatHead } from '@keyledger/event-store';
import { StoreCatchUp } from './store-catch-up.js';

const at = (position: number): GlobalPosition => ({ transactionId: '100', position: String(position) });
const head = (position: number, heldBack = false): HeartbeatHead => ({ head: at(position), heldBack, horizon: 100n, snapshotEnd: 101n });

/** A store whose head reads are answered by hand, in order. */
class HandAnsweredHead {
  readonly pending: ((answer: HeartbeatHead | undefined) => void)[] = [];
  reads = 0;

  read = (): Promise<HeartbeatHead | undefined> => {
    this.reads += 1;
    return new Promise((resolve) => this.pending.push(resolve));
  };

  answer(value: HeartbeatHead | undefined): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no head read is waiting');
    next(value);
  }

  /** Answers the next read once it is made (reads start at least 10 ms apart). */
  async answerWhenRead(value: HeartbeatHead | undefined): Promise<void> {
    await until(() => this.pending.length > 0);
    this.answer(value);
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (up to a second) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition() && waited < 1000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

describe('StoreCatchUp', () => {
  it('answers true once the projection applies the head the store had when asked', async () => {
    const store = new HandAnsweredHead();
    let applied = at(3);
    const catchUp = new StoreCatchUp(store.read, () => applied);
    const waiting = catchUp.caughtUp(5000);
    await store.answerWhenRead(head(7));
    await turn();
    applied = at(6);
    catchUp.advanced(applied);
    let settled: boolean | undefined;
    void waiting.then((value) => (settled = value));
    await turn();
    expect(settled).toBeUndefined();
    applied = at(7);
    catchUp.advanced(applied);
    expect(await waiting).toBe(true);
  });

  it('answers at once when the projection already holds the head, or the store is empty', async () => {
    const store = new HandAnsweredHead();
    const catchUp = new StoreCatchUp(store.read, () => at(9));
    const ahead = catchUp.caughtUp(5000);
    await store.answerWhenRead(head(9));
    expect(await ahead).toBe(true);
    const empty = catchUp.caughtUp(5000);
    await store.answerWhenRead(undefined);
    expect(await empty).toBe(true);
  });

  it('answers false when the projection does not reach the head in time, and when the store cannot be read', async () => {
    const store = new HandAnsweredHead();
    const catchUp = new StoreCatchUp(store.read, () => at(1));
    const behind = catchUp.caughtUp(100);
    await store.answerWhenRead(head(2));
    expect(await behind).toBe(false);

    const failing = new StoreCatchUp(
      () => Promise.reject(new Error('connection refused')),
      () => at(1),
    );
    expect(await failing.caughtUp(1000)).toBe(false);
    // A read that never answers does not hold the caller past its time.
    const hung = new StoreCatchUp(
      () => new Promise(() => undefined),
      () => at(1),
    );
    expect(await hung.caughtUp(50)).toBe(false);
  });

  it('reads again while an older transaction holds committed events back, and waits for the head after them', async () => {
    const store = new HandAnsweredHead();
    let applied = at(4);
    const catchUp = new StoreCatchUp(store.read, () => applied);
    const waiting = catchUp.caughtUp(5000);
    await turn();
    // Applied up to 4 already: only the held-back flag keeps this from being an answer.
    store.answer(head(4, true));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(store.pending).toHaveLength(1);
    store.answer(head(5));
    await turn();
    applied = at(5);
    catchUp.advanced(applied);
    expect(await waiting).toBe(true);
  });

  it('shares head reads: many callers cost one running read and one queued, and none joins a read begun before it asked', async () => {
    const store = new HandAnsweredHead();
    const catchUp = new StoreCatchUp(store.read, () => at(1));
    const early = catchUp.caughtUp(5000);
    await turn();
    expect(store.reads).toBe(1);
    // Asked while that read runs: it may have missed what these callers saw committed.
    const late = Array.from({ length: 50 }, () => catchUp.caughtUp(5000));
    await turn();
    expect(store.reads).toBe(1);
    store.answer(head(1));
    expect(await early).toBe(true);
    await until(() => store.reads === 2);
    store.answer(head(1));
    expect(await Promise.all(late)).toEqual(late.map(() => true));
    expect(store.reads).toBe(2);
  });

  it('gives up on a head read that never answers, so later callers are not held behind it', async () => {
    const store = new HandAnsweredHead();
    const catchUp = new StoreCatchUp(store.read, () => at(1));
    const clock = jest.spyOn(performance, 'now');
    try {
      expect(await catchUp.caughtUp(50)).toBe(false);
      expect(store.reads).toBe(1);
      // Within 5 s a later caller queues behind it; past 5 s it starts a read of its own.
      const started = performance.now();
      clock.mockImplementation(() => started + 6000);
      const later = catchUp.caughtUp(5000);
      await until(() => store.reads === 2);
      store.pending[1]!(head(1));
      expect(await later).toBe(true);
    } finally {
      clock.mockRestore();
    }
  });

  it('answers every waiting caller false once stopped', async () => {
    const store = new HandAnsweredHead();
    const catchUp = new StoreCatchUp(store.read, () => at(1));
    const waiting = catchUp.caughtUp(5000);
    await store.answerWhenRead(head(9));
    await turn();
    catchUp.stop();
    expect(await waiting).toBe(false);
    expect(await catchUp.caughtUp(5000)).toBe(false);
  });
});
