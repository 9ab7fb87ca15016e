import { cpus, totalmem } from 'node:os';
import type { TestContext } from '@keyledger/testing';

/** Percentile of an ascending-sorted list (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarise(samplesMs: number[]): { p50: string; p99: string; max: string } {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const fmt = (n: number): string => `${n.toFixed(2)} ms`;
  return { p50: fmt(percentile(sorted, 50)), p99: fmt(percentile(sorted, 99)), max: fmt(sorted[sorted.length - 1] ?? Number.NaN) };
}

/** The machine and servers the figures come from, printed with every run. */
export async function describeMachine(ctx: TestContext): Promise<string> {
  const [pg] = await ctx.ownerDb.query<{ version: string }[]>(`select current_setting('server_version') as version`);
  const cpu = cpus();
  return [
    `machine: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    `node ${process.version}, PostgreSQL ${pg?.version ?? '?'}, NATS ${ctx.nc.info?.version ?? '?'} (JetStream, file storage)`,
  ].join('\n');
}

export function now(): number {
  return performance.now();
}
