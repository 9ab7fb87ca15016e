/** How often and how patiently a failing event is retried before it is dead-lettered. */
export interface RedeliveryPolicy {
  /** Total deliveries, the first included. */
  readonly maxDeliveries: number;
  /** Delay before delivery n+1 after failure n; the last entry repeats. */
  readonly backoffMs: readonly number[];
}

export const DEFAULT_REDELIVERY_POLICY: RedeliveryPolicy = { maxDeliveries: 5, backoffMs: [200, 1000, 5000, 15000] };

export function redeliveryDelay(policy: RedeliveryPolicy, failedDelivery: number): number {
  const { backoffMs } = policy;
  return backoffMs[Math.min(Math.max(failedDelivery, 1), backoffMs.length) - 1] ?? 0;
}

/** Whether the delivery that just failed was the last one allowed. */
export function isLastDelivery(policy: RedeliveryPolicy, delivery: number): boolean {
  return delivery >= policy.maxDeliveries;
}
