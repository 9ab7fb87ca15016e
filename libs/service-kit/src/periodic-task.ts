import type { ProcessTick } from '@keyledger/timers';
import { atNextTick } from '@keyledger/timers';

/**
 * Runs a pass every `intervalMs`, one at a time: the next pass is scheduled when the last one
 * ends, at the interval's next tick of the process (`atNextTick`, so
 * the process's other periodic work shares its wake-up), and a slow pass never overlaps the
 * next. A pass that fails is reported and the next one runs as usual. `stop` waits for the pass
 * under way.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private tick: ProcessTick | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Starts the passes; the first after `firstDelayMs`, or by default at the interval's next tick. */
  start(firstDelayMs?: number): void {
    this.stopped = false;
    if (firstDelayMs === undefined) this.scheduleNext();
    else this.timer = setTimeout(() => this.runPass(), firstDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.tick?.stop();
    await this.running;
  }

  /** Whether `stop` was called: a long pass checks it between its steps. */
  get isStopped(): boolean {
    return this.stopped;
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    this.tick = atNextTick(this.intervalMs, () => this.runPass());
  }

  private runPass(): void {
    this.running = this.pass()
      .catch(this.onFailure)
      .finally(() => this.scheduleNext());
  }
}
