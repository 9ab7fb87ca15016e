import { Counter, Histogram } from 'prom-client';
import type { VerifyResult } from '@keyledger/contracts';
import type { VerifyConditions } from '@keyledger/key-domain';
import type { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { verifyKey } from '@keyledger/key-projection';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { Registry } from '@keyledger/observability';

const UNAVAILABLE: VerifyResult = Object.freeze({ valid: false, code: 'UNAVAILABLE' });

export type VerifyTransport = 'http' | 'nats' | 'grpc';

/**
 * The verifier's one operation, shared by NATS, gRPC and HTTP. Reads memory only; when the
 * projection has lost the bus for too long it fails closed and says UNAVAILABLE. Counts
 * every outcome and times every verification, by transport.
 */
export class KeyVerification {
  private readonly outcomes: Counter<'code' | 'transport'>;
  private readonly duration: Histogram<'transport'>;
  /** Label children resolved once: looking labels up per call would cost more than verifying. */
  private readonly timers = new Map<VerifyTransport, Histogram.Internal<'transport'>>();
  private readonly counters = new Map<string, Counter.Internal>();

  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    private readonly projection: LiveKeyProjection,
    metrics: Registry,
    private readonly clock: () => number = Date.now,
  ) {
    this.outcomes = new Counter({
      name: 'keyledger_verify_total',
      help: 'Verifications by outcome code and transport',
      labelNames: ['code', 'transport'],
      registers: [metrics],
    });
    this.duration = new Histogram({
      name: 'keyledger_verify_duration_seconds',
      help: 'Time to verify a key, transport excluded',
      labelNames: ['transport'],
      buckets: [0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.001, 0.01],
      registers: [metrics],
    });
  }

  verify(key: unknown, conditions: VerifyConditions, transport: VerifyTransport): VerifyResult {
    const started = performance.now();
    const now = this.clock();
    const result = this.projection.isFailingClosed(now) ? UNAVAILABLE : verifyKey(this.index, this.hasher, key, conditions, now);
    this.timer(transport).observe((performance.now() - started) / 1000);
    this.counter(result.code, transport).inc();
    return result;
  }

  private timer(transport: VerifyTransport): Histogram.Internal<'transport'> {
    let child = this.timers.get(transport);
    if (!child) this.timers.set(transport, (child = this.duration.labels({ transport })));
    return child;
  }

  private counter(code: string, transport: VerifyTransport): Counter.Internal {
    const id = `${code} ${transport}`;
    let child = this.counters.get(id);
    if (!child) this.counters.set(id, (child = this.outcomes.labels({ code, transport })));
    return child;
  }
}
