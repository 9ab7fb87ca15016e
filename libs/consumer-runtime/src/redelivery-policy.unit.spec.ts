import { isLastDelivery, redeliveryDelay } from './redelivery-policy.js';

describe('redelivery policy', () => {
  const policy = { maxDeliveries: 4, backoffMs: [100, 500] };

  it('backs off per failed delivery and repeats the last delay', () => {
    expect([1, 2, 3, 9].map((n) => redeliveryDelay(policy, n))).toEqual([100, 500, 500, 500]);
  });

  it('gives up on the last allowed delivery', () => {
    expect([1, 3, 4, 5].map((n) => isLastDelivery(policy, n))).toEqual([false, false, true, true]);
  });
});
