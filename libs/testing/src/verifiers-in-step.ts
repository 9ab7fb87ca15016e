import { verifierConsumptionSubject } from '@keyledger/contracts';
import { eventually } from './stream-reader.js';
import type { TestContext } from './test-context.js';

/** An idle verifier reports every 250 ms (the sync's DEFAULT_IDLE_PERIOD_MS), a busy one every 25 ms; with room for a late message. */
const REPORT_GAP_MS = 400;

/**
 * Waits until `count` verifiers have each reported at every tick for longer than the
 * membership timeout (1 s): each then shares rate limits and credits with all the others.
 * Verifiers learn of each other from these reports, and on a loaded machine a fixed pause
 * could end before a late starter had been heard (the join is outside the limits' bound,
 * docs/architecture.md).
 */
export async function verifiersInStep(ctx: TestContext, count: number): Promise<void> {
  const lastHeard = new Map<string, number>();
  const subscription = ctx.nc.subscribe(verifierConsumptionSubject(ctx.topology.subjectPrefix), {
    callback: (error, message) => {
      if (!error) lastHeard.set(message.json<{ instance: string }>().instance, Date.now());
    },
  });
  let inStepSince: number | undefined;
  try {
    await eventually(
      `${count} verifiers reporting in step`,
      () => {
        const now = Date.now();
        const reporting = [...lastHeard.values()].filter((at) => now - at < REPORT_GAP_MS).length;
        inStepSince = reporting >= count ? (inStepSince ?? now) : undefined;
        return inStepSince === undefined ? 0 : now - inStepSince;
      },
      (inStepForMs) => inStepForMs >= 1500,
    );
  } finally {
    subscription.unsubscribe();
  }
}
