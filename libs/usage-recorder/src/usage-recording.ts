import type { JetStreamClient } from '@nats-io/jetstream';
import type { Registry } from 'prom-client';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { BusTopology } from '@keyledger/event-bus';
import { newPrefixedId } from '@keyledger/ids';
import type { Pepper } from '@keyledger/key-secrets';
import { KeyFingerprints } from '@keyledger/key-secrets';
import type { Logger } from '@keyledger/observability';
import type { UsageBufferSettings } from './usage-buffer.js';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageBuffer } from './usage-buffer.js';
import { registerUsageMetrics } from './usage-metrics.js';
import { jetStreamUsagePublisher } from './usage-publisher.js';
import { UsageRecorder } from './usage-recorder.js';

export interface UsageRecordingOptions {
  readonly js: JetStreamClient;
  readonly topology: BusTopology;
  /** Seals every batch (the event key's usage batch subkey): the auditor and the anomaly detector refuse any other. */
  readonly authenticator: EventAuthenticator;
  readonly peppers: readonly Pepper[];
  /** The verifier instance named on every batch. */
  readonly instance: string;
  readonly metrics: Registry;
  readonly logger: Logger;
  readonly settings?: Partial<UsageBufferSettings>;
}

/** A verifier's usage recording: the recorder the verify path calls, and the buffer behind it. */
export interface UsageRecording {
  readonly recorder: UsageRecorder;
  readonly buffer: UsageBuffer;
  start(): void;
  /** Publishes what is buffered (graceful shutdown); gives up after `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Wires the verify path to the usage stream: recorder → bounded buffer → sealed batches on JetStream, with
 * the buffer's metrics on the service's registry. Publish failures are logged once per
 * outage (the buffer retries them), not once per attempt.
 */
export function usageRecording(options: UsageRecordingOptions): UsageRecording {
  let failing = false;
  const publish = jetStreamUsagePublisher(options.js, options.topology, options.authenticator);
  const buffer = new UsageBuffer(
    {
      publish: async (batch) => {
        await publish(batch);
        if (failing) options.logger.info({ batchId: batch.batchId }, 'usage batches are published again');
        failing = false;
      },
      instance: options.instance,
      newBatchId: () => newPrefixedId('ub'),
      onPublishFailure: (error) => {
        if (!failing) options.logger.warn({ err: error }, 'usage batch publish failed; retrying (records are buffered, then dropped when the buffer is full)');
        failing = true;
      },
    },
    { ...DEFAULT_USAGE_BUFFER_SETTINGS, ...options.settings },
  );
  registerUsageMetrics(options.metrics, buffer);
  return {
    recorder: new UsageRecorder(buffer, new KeyFingerprints(options.peppers)),
    buffer,
    start: () => buffer.start(),
    async close(timeoutMs = 5000) {
      await buffer.close(timeoutMs);
      const { dropped } = buffer.counts();
      if (dropped > 0) options.logger.warn({ dropped }, 'usage records were dropped since start');
    },
  };
}
