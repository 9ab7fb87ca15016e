/**
 * Runs a pass every `intervalMs`, one at a time: the next pass is scheduled when the last one
 * ends, so a slow pass never overlaps the next. A pass that fails is reported and the next one
 * runs as usual. `stop` waits for the pass under way.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Starts the passes; the first after `firstDelayMs` (default: the interval). */
  start(firstDelayMs = this.intervalMs): void {
    this.stopped = false;
    this.schedule(firstDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Whether `stop` was called: a long pass checks it between its steps. */
  get isStopped(): boolean {
    return this.stopped;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch(this.onFailure)
        .finally(() => this.schedule(this.intervalMs));
    }, delayMs);
  }
}
