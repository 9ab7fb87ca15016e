import { Injectable } from '@nestjs/common';

/** One component's answer to "are you working?". */
export interface HealthCheckResult {
  readonly healthy: boolean;
  readonly details?: Record<string, unknown>;
}

export type HealthCheck = () => Promise<HealthCheckResult> | HealthCheckResult;

/**
 * Components register readiness checks here (the database, NATS, a relay, a projection);
 * the health controller runs them all. Liveness only says the process answers.
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
