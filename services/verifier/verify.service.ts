import type { VerifyResult } from '@keyledger/contracts';
import type { FailedVerifyThrottle, VerifyCharge, VerifyConditions } from '@keyledger/key-domain';
import type { KeyVerifier } from '@keyledger/key-projection';
import type { HotPathObserver, Registry } from '@keyledger/observability';
import { HotPathHistogram, scrapedLabelledCounter } from '@keyledger/observability';
import type { UsageRecorder } from '@keyledger/usage-recorder';

export type VerifyTransport = 'http' | 'nats' | 'grpc';

/** Counts of one outcome on one transport: added up on the hot path, handed to prom-client on scrape. */
interface OutcomeTally {
  readonly labels: { code: string; transport: VerifyTransport };
  count: number;
}

/**
 * The verifier's one operation, shared by NATS, gRPC and HTTP: refuses a source that failed
 * too often (`FailedVerifyThrottle`, libs/key-domain), else asks the KeyVerifier for the
 * answer (libs/key-domain decides it, from memory only) and counts it against its source;
 * then records the use with the credits it charged. Counts every outcome and times every verification, by transport, at a
 * cost of a few additions: prom-client's own per-call label handling would cost as much as
 * the verification.
 */
export class VerifyService {
  private readonly timers = new Map<VerifyTransport, HotPathObserver>();
  /** By transport, then by code: found without building a key string for each verification. */
  private readonly tallies = new Map<VerifyTransport, Map<string, OutcomeTally>>();
  private readonly duration: HotPathHistogram;
  /** What the verification under way costs, written by the verifier: kept here, a verification allocates none. */
  private readonly charge: VerifyCharge = { take: false, credits: 0, honeytoken: undefined };
  /** Told about every answer once it is known (libs/usage-recorder); unset: nothing is recorded. */
  private usage: Pick<UsageRecorder, 'record'> | undefined;

  constructor(
    private readonly verifier: KeyVerifier,
    metrics: Registry,
    private readonly clock: () => number = Date.now,
    /** Failed verifications per source; unset: no source is throttled. */
    private readonly throttle?: FailedVerifyThrottle,
  ) {
    scrapedLabelledCounter(metrics, 'keyledger_verify_total', 'Verifications by outcome code and transport', ['code', 'transport'], () =>
      [...this.tallies.values()].flatMap((byCode) => [...byCode.values()].map((tally) => [tally.labels, tally.count] as const)),
    );
    this.duration = new HotPathHistogram(
      'keyledger_verify_duration_seconds',
      'Time to verify a key, transport excluded',
      [0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.001, 0.01],
      metrics,
    );
  }

  /**
   * Verifies a key; a valid key with a quota is charged `cost` credits. `source` is who asks,
   * as far as the transport knows (docs/api.md#failed-verification-throttling): a source that
   * presented too many strings naming no key is answered RATE_LIMITED, whatever it presents,
   * until its window ends. Without a source nothing is throttled.
   */
  verify(key: unknown, conditions: VerifyConditions, transport: VerifyTransport, cost = 1, source: string | undefined = conditions.ip): VerifyResult {
    const started = performance.now();
    const now = this.clock();
    const until = source === undefined ? undefined : this.throttle?.check(source, now);
    let result: VerifyResult;
    if (until === undefined) {
      result = this.verifier.verify(key, conditions, now, cost, this.charge);
      // A honeytoken's NOT_FOUND counts against its source as an unknown key's does: the throttle must not tell them apart.
      if (source !== undefined) this.throttle?.record(source, result.code, now);
    } else {
      // Refused before the lookup: the answer says nothing about the key, and costs no hashing.
      this.charge.take = false;
      this.charge.credits = 0;
      this.charge.honeytoken = undefined;
      result = { valid: false, code: 'RATE_LIMITED', reset: new Date(until).toISOString() };
    }
    this.timer(transport).observe((performance.now() - started) / 1000);
    this.tally(result.code, transport).count += 1;
    this.usage?.record(key, conditions, result, transport, now, this.charge.credits, this.charge.honeytoken);
    return result;
  }

  /** Records a KeyUsed for every verification from now on (buffered; the verify path never waits). */
  recordUsage(recorder: Pick<UsageRecorder, 'record'>): void {
    this.usage = recorder;
  }

  private timer(transport: VerifyTransport): HotPathObserver {
    let child = this.timers.get(transport);
    if (!child) this.timers.set(transport, (child = this.duration.child({ transport })));
    return child;
  }

  private tally(code: string, transport: VerifyTransport): OutcomeTally {
    let byCode = this.tallies.get(transport);
    if (!byCode) this.tallies.set(transport, (byCode = new Map<string, OutcomeTally>()));
    let tally = byCode.get(code);
    if (!tally) byCode.set(code, (tally = { labels: { code, transport }, count: 0 }));
    return tally;
  }
}
