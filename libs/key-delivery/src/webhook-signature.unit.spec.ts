import { createHmac } from 'node:crypto';
import { signWebhookPayload, verifyWebhookSignature } from './webhook-signature.js';

const secret = 'whsec_QmV0dGVyIHRoYW4gYSBwYXNzd29yZCB0aGF0IGlzIHNob3J0';
const body = JSON.stringify({ v: 2, keyId: 'key_01jd0000000000000000000000' });
const sentAt = 1_750_000_000;
const at = (seconds: number) => new Date(seconds * 1000);

describe('webhook signatures', () => {
  it('accepts the body it signed, within the tolerance', () => {
    const header = signWebhookPayload(body, [secret], sentAt);
    expect(verifyWebhookSignature({ payload: body, header, secret, now: at(sentAt + 299) })).toEqual({ valid: true, timestamp: sentAt });
    expect(verifyWebhookSignature({ payload: Buffer.from(body), header, secret, now: at(sentAt - 10) }).valid).toBe(true);
  });

  it('is Stripe-style: HMAC-SHA256 of "<t>.<body>" keyed by the secret, in hex', () => {
    const expected = createHmac('sha256', secret).update(`${sentAt}.${body}`).digest('hex');
    expect(signWebhookPayload(body, [secret], sentAt)).toBe(`t=${sentAt},v1=${expected}`);
  });

  it('refuses a changed body, another secret, or a changed time', () => {
    const header = signWebhookPayload(body, [secret], sentAt);
    const now = at(sentAt);
    expect(verifyWebhookSignature({ payload: `${body} `, header, secret, now })).toEqual({ valid: false, reason: 'NO_MATCHING_SIGNATURE' });
    expect(verifyWebhookSignature({ payload: body, header, secret: `${secret}x`, now })).toEqual({ valid: false, reason: 'NO_MATCHING_SIGNATURE' });
    expect(verifyWebhookSignature({ payload: body, header: header.replace(`t=${sentAt}`, `t=${sentAt + 1}`), secret, now })).toEqual({
      valid: false,
      reason: 'NO_MATCHING_SIGNATURE',
    });
  });

  it('refuses a replay outside the tolerance, however well signed', () => {
    const header = signWebhookPayload(body, [secret], sentAt);
    expect(verifyWebhookSignature({ payload: body, header, secret, now: at(sentAt + 301) })).toEqual({ valid: false, reason: 'TIMESTAMP_OUTSIDE_TOLERANCE' });
    expect(verifyWebhookSignature({ payload: body, header, secret, now: at(sentAt + 3600), toleranceSeconds: 7200 }).valid).toBe(true);
  });

  it('accepts any of several signatures, so a receiver with the previous secret keeps verifying', () => {
    const header = signWebhookPayload(body, ['whsec_new', secret], sentAt);
    expect(header.split(',')).toHaveLength(3);
    expect(verifyWebhookSignature({ payload: body, header, secret, now: at(sentAt) }).valid).toBe(true);
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_new', now: at(sentAt) }).valid).toBe(true);
  });

  it('ignores unknown schemes and refuses a header it cannot read', () => {
    const header = signWebhookPayload(body, [secret], sentAt);
    expect(verifyWebhookSignature({ payload: body, header: `${header},v0=abc`, secret, now: at(sentAt) }).valid).toBe(true);
    for (const bad of [undefined, null, '', 't=1', `v1=${'a'.repeat(64)}`, `t=x,v1=${'a'.repeat(64)}`, `${header},t=5`, `${header.slice(0, -1)}`, 'garbage'])
      expect(verifyWebhookSignature({ payload: body, header: bad, secret, now: at(sentAt) })).toEqual({ valid: false, reason: 'MALFORMED_HEADER' });
  });
});
