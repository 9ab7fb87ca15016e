/**
 * Bounds alerts: at most `maxAlerts` per interval, each carrying how many refusals it stands
 * for, so a flood of forgeries is counted in full while the alert subject sees a few messages.
 * Pure state; the caller passes the time.
 */
export class AlertThrottle {
  private windowStart = Number.NEGATIVE_INFINITY;
  private alertsInWindow = 0;
  /** Refusals since the last alert. */
  private pending = 0;

  constructor(
    private readonly maxAlerts: number,
    private readonly intervalMs: number,
  ) {
    if (!Number.isInteger(maxAlerts) || maxAlerts < 1) throw new RangeError('maxAlerts must be a positive integer');
    if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive');
  }

  /** Records one refusal; returns the count to alert now (refusals since the last alert), or undefined to stay quiet. */
  record(now: number): number | undefined {
    this.pending += 1;
    this.roll(now);
    return this.alertsInWindow < this.maxAlerts ? this.take() : undefined;
  }

  /** Once an interval has passed: the refusals kept quiet since the last alert, to report in a summary; else undefined. */
  flush(now: number): number | undefined {
    if (this.pending === 0) return undefined;
    this.roll(now);
    return this.alertsInWindow < this.maxAlerts ? this.take() : undefined;
  }

  private roll(now: number): void {
    if (now - this.windowStart < this.intervalMs) return;
    this.windowStart = now;
    this.alertsInWindow = 0;
  }

  private take(): number {
    const count = this.pending;
    this.pending = 0;
    this.alertsInWindow += 1;
    return count;
  }
}
