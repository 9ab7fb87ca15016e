import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { verifierConsumptionSubject } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import type { ConsumptionReport } from './shared-rate-limiter.js';
import { SharedRateLimiter } from './shared-rate-limiter.js';

export interface RateLimitSyncSettings {
  readonly instanceId: string;
  readonly subjectPrefix: string;
  /** Sync period: counts are reported at every multiple of it (wall clock, so replicas tick together). */
  readonly periodMs: number;
  /** How long after a tick the shares are recomputed: the time every report has to arrive. */
  readonly recomputeDelayMs: number;
  /** A replica not heard of for this long no longer takes a share. */
  readonly memberTimeoutMs: number;
}

export const DEFAULT_RATE_LIMIT_SYNC: Omit<RateLimitSyncSettings, 'instanceId' | 'subjectPrefix'> = {
  periodMs: 25,
  recomputeDelayMs: 5,
  memberTimeoutMs: 1000,
};

/**
 * Runs a SharedRateLimiter among the live verifiers over core NATS: reports this replica's
 * counts at each tick and takes in the others'. The reports are also the membership: a
 * replica heard within `memberTimeoutMs` shares the limits.
 */
export class RateLimitSync {
  readonly limiter: SharedRateLimiter;
  private readonly lastHeard = new Map<string, number>();
  private ticks = 0;
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private recomputeAt = 0;
  private readonly beforeRecompute: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: RateLimitSyncSettings,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.limiter = new SharedRateLimiter(settings.instanceId);
  }

  start(): void {
    const { subjectPrefix } = this.settings;
    this.subscriptions = [
      this.nc.subscribe(verifierConsumptionSubject(subjectPrefix), {
        callback: (error, message) => {
          if (error) return;
          try {
            const report = message.json<ConsumptionReport>();
            if (typeof report.instance !== 'string' || !Number.isFinite(report.at) || !Array.isArray(report.counts))
              throw new TypeError('not a consumption report');
            if (report.instance !== this.settings.instanceId) this.lastHeard.set(report.instance, this.clock());
            this.limiter.receive(report);
          } catch (cause) {
            this.logger.warn({ err: cause }, 'ignoring a malformed rate-limit report');
          }
        },
      }),
    ];
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  /** The replicas heard within the membership timeout, this one included. */
  members(): string[] {
    return [this.settings.instanceId, ...this.lastHeard.keys()];
  }

  /** Runs `hook` just before each recompute (to bring limits up to date). */
  onRecompute(hook: () => void): void {
    this.beforeRecompute.push(hook);
  }

  /** When a replica that has spent its share gets a new one. */
  nextRecompute(): number {
    return this.recomputeAt;
  }

  private schedule(): void {
    const now = this.clock();
    const tick = now - (now % this.settings.periodMs) + this.settings.periodMs;
    this.recomputeAt = tick + this.settings.recomputeDelayMs;
    this.timer = setTimeout(() => this.tick(tick), tick - now);
  }

  private tick(at: number): void {
    if (!this.nc.isClosed()) this.nc.publish(verifierConsumptionSubject(this.settings.subjectPrefix), JSON.stringify(this.limiter.report(at)));
    this.ticks += 1;
    this.timer = setTimeout(() => {
      const now = this.clock();
      for (const [instance, heard] of this.lastHeard) if (now - heard > this.settings.memberTimeoutMs) this.lastHeard.delete(instance);
      // Two ticks in, every live replica has been heard: only then does this one take a share.
      if (this.ticks >= 2) this.limiter.setMembers([...this.lastHeard.keys()]);
      for (const hook of this.beforeRecompute) {
        try {
          hook();
        } catch (cause) {
          this.logger.error({ err: cause }, 'a rate-limit recompute hook failed');
        }
      }
      this.limiter.recompute(at);
      this.schedule();
    }, this.settings.recomputeDelayMs);
  }
}
