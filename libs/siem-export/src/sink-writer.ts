import pRetry from 'p-retry';
import type { Logger } from '@keyledger/observability';
import type { SiemLine, SiemSink } from './sinks/siem-sink.js';

export interface SinkWriterSettings {
  /** The longest wait between two attempts at a sink that is down. */
  readonly retryMaxMs: number;
  /** Aborted on stop: a batch being retried is abandoned. */
  readonly signal: AbortSignal;
  /** Named in the warning of each failed attempt (`audit`, `alerts`, `usage`). */
  readonly source: string;
}

/**
 * Writes lines to a sink until it takes them, with backoff, for ever; true once taken, false
 * when a stop abandoned them. A stop does not cut a write short: one in flight is awaited, and
 * counts if it went through. `onFailure` is told of each failed attempt.
 */
export async function writeUntilTaken(
  sink: SiemSink,
  lines: readonly SiemLine[],
  settings: SinkWriterSettings,
  logger: Logger,
  onFailure: () => void,
): Promise<boolean> {
  let taken = false;
  let inFlight: Promise<void> | undefined;
  const attempt = async (): Promise<void> => {
    inFlight = sink.write(lines).then(
      () => void (taken = true),
      // p-retry retries only what it sees as an Error (a socket's error may come from another realm).
      (error: unknown) => {
        throw error instanceof Error ? error : new Error(String(error), { cause: error });
      },
    );
    await inFlight;
  };
  try {
    await pRetry(attempt, {
      // forever: after the 20th attempt every wait is the longest (retries: Infinity would precompute endless waits).
      forever: true,
      retries: 20,
      randomize: true,
      minTimeout: Math.min(100, settings.retryMaxMs),
      maxTimeout: settings.retryMaxMs,
      factor: 2,
      signal: settings.signal,
      onFailedAttempt: (error) => {
        onFailure();
        logger.warn({ err: error, sink: sink.name, source: settings.source, attempt: error.attemptNumber }, 'SIEM sink refused a batch; trying again');
      },
    });
    return true;
  } catch (error) {
    if (!settings.signal.aborted) throw error;
    await inFlight?.catch(() => undefined);
    return taken;
  }
}
