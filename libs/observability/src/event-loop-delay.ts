import { createHistogram, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, RecordableHistogram } from 'node:perf_hooks';
import type { ProcessTick } from '@keyledger/timers';
import { atNextTick } from '@keyledger/timers';

export interface EventLoopDelaySettings {
  /** Sampling period while the loop is busy: short enough for a stall that matters to a p99 in milliseconds to show. */
  readonly busyPeriodMs: number;
  /**
   * Sampling period while the loop is idle. Each wake-up of an idle process costs CPU of its
   * own (about a third of a millisecond on a 2-core virtual machine here), so an idle service
   * should have few of them.
   */
  readonly idlePeriodMs: number;
  /** The share of the last period the loop spent running (its utilisation) from which it counts as busy. */
  readonly busyUtilization: number;
}

export const DEFAULT_EVENT_LOOP_DELAY: EventLoopDelaySettings = { busyPeriodMs: 100, idlePeriodMs: 1000, busyUtilization: 0.02 };

/**
 * Samples how late the event loop runs a timer: the delay a callback due now would see.
 * Unlike `monitorEventLoopDelay`, whose figures include its own period (100 ms read as
 * 100 ms of "lag"), each sample is the lateness alone, in nanoseconds (at least 1: a
 * histogram records no zero). It samples every `busyPeriodMs` while the loop has work and
 * every `idlePeriodMs` while it has none, so an idle process is not woken ten times a second
 * to learn that it is idle.
 */
export class EventLoopDelaySampler {
  /** The histograms `subscribe` handed out: each receives every sample. */
  private readonly subscribers: RecordableHistogram[] = [];
  private timer: NodeJS.Timeout | undefined;
  private idleTick: ProcessTick | undefined;
  private due = 0;
  private utilization: EventLoopUtilization = performance.eventLoopUtilization();
  /** The period of the sample now scheduled. */
  periodMs: number;

  constructor(private readonly settings: EventLoopDelaySettings = DEFAULT_EVENT_LOOP_DELAY) {
    this.periodMs = settings.busyPeriodMs;
  }

  /** A histogram of its own that receives every sample from now on (each reader resets its own). */
  subscribe(): RecordableHistogram {
    const histogram = createHistogram();
    this.subscribers.push(histogram);
    return histogram;
  }

  start(): void {
    if (this.timer || this.idleTick) return;
    this.utilization = performance.eventLoopUtilization();
    this.schedule(this.settings.busyPeriodMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.idleTick?.stop();
    this.idleTick = undefined;
  }

  private schedule(periodMs: number): void {
    this.periodMs = periodMs;
    if (periodMs === this.settings.busyPeriodMs) {
      this.due = performance.now() + periodMs;
      // Never what keeps a process alive.
      this.timer = setTimeout(() => this.sample(), periodMs).unref();
      return;
    }
    // Idle: at the process's ticks of the period, in the wake-up its other periodic work takes anyway.
    this.idleTick = atNextTick(periodMs, () => this.sample(), { unref: true });
    this.due = this.idleTick.nextAt;
  }

  private sample(): void {
    this.timer = undefined;
    this.idleTick = undefined;
    const lateMs = performance.now() - this.due;
    const lateNs = Math.max(1, Math.round(lateMs * 1e6));
    for (const histogram of this.subscribers) histogram.record(lateNs);
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, this.utilization).utilization >= this.settings.busyUtilization;
    this.utilization = now;
    this.schedule(busy ? this.settings.busyPeriodMs : this.settings.idlePeriodMs);
  }
}
