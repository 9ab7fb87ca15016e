import type { AnomalyThresholdsSetData, GlobalPosition } from '@keyledger/contracts';
import type { AnomalyDetector } from '@keyledger/anomaly-detection';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG } from '@keyledger/event-store';
import { streamIdOf } from '@keyledger/contracts';

const PAGE = 500;

/**
 * The tenants' anomaly thresholds (AnomalyThresholdsSet on tenant streams) projected into the
 * detector: `catchUp` reads the tenant streams' events from where it stopped and hands each
 * tenant's latest thresholds to the detector. The store checked each event's MAC and data on
 * read, so what is folded here is what a tenant's admin (or a root admin) set.
 */
export class TenantThresholdsFeed {
  private position: GlobalPosition = START_OF_LOG;

  constructor(
    private readonly store: Pick<PostgresEventStore, 'readAll'>,
    private readonly detector: Pick<AnomalyDetector, 'setTenantThresholds'>,
  ) {}

  /** Applies the thresholds set since the last call; answers how many events set some. */
  async catchUp(): Promise<number> {
    let applied = 0;
    for (;;) {
      const page = await this.store.readAll(this.position, PAGE, 'tenant');
      for (const event of page.events) {
        if (event.type !== 'AnomalyThresholdsSet') continue;
        const data = event.data as AnomalyThresholdsSetData;
        // A tenant's thresholds live on its own stream only.
        if (event.streamId !== streamIdOf('tenant', data.tenant)) continue;
        this.detector.setTenantThresholds(data.tenant, data.thresholds);
        applied += 1;
      }
      // Past refused rows too (the store reported them): they are never read as thresholds.
      if (page.end) this.position = page.end;
      if (page.rows < PAGE) return applied;
    }
  }
}
