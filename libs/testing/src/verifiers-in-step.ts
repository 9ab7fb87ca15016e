import { verifierConsumptionSubject } from '@keyledger/contracts';
import { eventually } from './stream-reader.js';
import type { TestContext } from './test-context.js';

/** Past the newest verifier's start-up ticks (it takes a share from its third), with room for a loaded machine. */
const SETTLED_MS = 1500;

/**
 * Waits until `count` verifiers share rate limits and credits with each other. Verifiers learn
 * of each other from their rate-limit reports: a starting verifier's first reports are busy,
 * which wakes the others, and each of them reports again at the fast period. So once every
 * verifier has reported since the newest one's first report, each has heard every other; and
 * SETTLED_MS after that first report, the newest takes its share. On a loaded machine a fixed
 * pause could end before a late starter had been heard (the join is outside the limits'
 * bound, docs/architecture.md).
 */
export async function verifiersInStep(ctx: TestContext, count: number): Promise<void> {
  const firstHeard = new Map<string, number>();
  const lastHeard = new Map<string, number>();
  const subscription = ctx.nc.subscribe(verifierConsumptionSubject(ctx.topology.subjectPrefix), {
    callback: (error, message) => {
      if (error) return;
      const { instance } = message.json<{ instance: string }>();
      const now = Date.now();
      if (!firstHeard.has(instance)) firstHeard.set(instance, now);
      lastHeard.set(instance, now);
    },
  });
  try {
    await eventually(
      `${count} verifiers sharing limits`,
      () => {
        if (firstHeard.size < count) return false;
        const newestStart = Math.max(...firstHeard.values());
        return Date.now() - newestStart >= SETTLED_MS && [...lastHeard.values()].every((at) => at >= newestStart);
      },
      Boolean,
    );
  } finally {
    subscription.unsubscribe();
  }
}
