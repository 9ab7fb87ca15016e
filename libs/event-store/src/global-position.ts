import type { GlobalPosition } from '@keyledger/contracts';

/** Before the first event. Reading after it returns the whole log. */
export const START_OF_LOG: GlobalPosition = Object.freeze({ transactionId: '0', position: '0' });

/** Orders positions as readers must: by writing transaction first, then by position. */
export function compareGlobalPositions(a: GlobalPosition, b: GlobalPosition): number {
  const byTransaction = BigInt(a.transactionId) - BigInt(b.transactionId);
  if (byTransaction !== 0n) return byTransaction < 0n ? -1 : 1;
  const byPosition = BigInt(a.position) - BigInt(b.position);
  return byPosition === 0n ? 0 : byPosition < 0n ? -1 : 1;
}
