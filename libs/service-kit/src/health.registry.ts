import { Injectable } from '@nestjs/common';
import type { HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';

/** One component's answer to "are you working?". */
export interface HealthCheckResult {
  readonly healthy: boolean;
  readonly details?: Record<string, unknown>;
}

export type HealthCheck = () => Promise<HealthCheckResult> | HealthCheckResult;

/**
 * Components register readiness checks here (the database, NATS, a relay, a projection);
 * `/health/ready` runs them all through Terminus, `keyledger status` through `readiness()`.
 * Liveness only says the process answers.
 */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly informational = new Set<string>();

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /**
   * Keeps a check in the report but out of the readiness decision: a verifier answers from
   * memory, so losing Postgres must not take it out of its Service.
   */
  reportOnly(name: string): void {
    this.informational.add(name);
  }

  /**
   * Every check as a Terminus health indicator: `up` when healthy, `down` when not, and
   * `degraded` when a report-only check fails (Terminus then still answers 200).
   */
  indicators(session: HealthIndicatorService, timeoutMs = 2000): HealthIndicatorFunction[] {
    return [...this.checks].map(([name, check]) => async () => {
      const { healthy, details } = await runWithTimeout(check, timeoutMs);
      const indicator = session.check(name);
      if (healthy) return indicator.up(details);
      return this.informational.has(name) ? indicator.degraded(details) : indicator.down(details);
    });
  }

  async readiness(timeoutMs = 2000): Promise<{ ready: boolean; checks: Record<string, HealthCheckResult> }> {
    const entries = await Promise.all([...this.checks].map(async ([name, check]) => [name, await runWithTimeout(check, timeoutMs)] as const));
    return { ready: entries.every(([name, result]) => result.healthy || this.informational.has(name)), checks: Object.fromEntries(entries) };
  }
}

async function runWithTimeout(check: HealthCheck, timeoutMs: number): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthCheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ healthy: false, details: { error: `no answer within ${timeoutMs} ms` } }), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (error) {
    return { healthy: false, details: { error: error instanceof Error ? error.message : String(error) } };
  } finally {
    clearTimeout(timer);
  }
}
