import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header a webhook delivery is signed in: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Keyledger-Signature';
/** How far (either way) a receiver accepts a signature's time by default: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

const SIGNATURE = /^[0-9a-f]{64}$/;

/** HMAC-SHA256 keyed by the secret (its UTF-8 text) over `<t>.<body>`, hex. */
function signature(secret: string, timestampSeconds: number, payload: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`, 'utf8').update(payload).digest('hex');
}

/**
 * The signature header of a webhook body sent at `timestampSeconds`: one `v1` per secret
 * (current first), so receivers holding any of them verify it. The time is signed with the
 * body, so a captured request cannot be replayed later than the receiver's tolerance.
 */
export function signWebhookPayload(payload: string | Uint8Array, secrets: readonly string[], timestampSeconds: number): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new RangeError('the timestamp is whole seconds since the epoch');
  if (secrets.length === 0) throw new RangeError('at least one secret is required');
  return [`t=${timestampSeconds}`, ...secrets.map((secret) => `v1=${signature(secret, timestampSeconds, payload)}`)].join(',');
}

/** Why a webhook signature was refused. */
export type WebhookSignatureFailure = 'MALFORMED_HEADER' | 'NO_MATCHING_SIGNATURE' | 'TIMESTAMP_OUTSIDE_TOLERANCE';

export type WebhookSignatureCheck = { readonly valid: true; readonly timestamp: number } | { readonly valid: false; readonly reason: WebhookSignatureFailure };

export interface WebhookSignatureInput {
  /** The request body exactly as received (before any JSON parsing). */
  readonly payload: string | Uint8Array;
  /** The `Keyledger-Signature` header. */
  readonly header: string | null | undefined;
  /** The secret the webhook's registration answered (`whsec_…`). */
  readonly secret: string;
  /** Accepted distance between the signature's time and now; default 300 s. */
  readonly toleranceSeconds?: number;
  /** Now, for tests; default the clock. */
  readonly now?: Date;
}

/**
 * Checks a webhook delivery as its receiver: a `v1` signature made with `secret` over the
 * exact body and the header's time, and that time within `toleranceSeconds` of now. Returns
 * the outcome as a value; process the body only when `valid`. Other schemes than `v1` in the
 * header are ignored, so new ones can be added without breaking receivers.
 */
export function verifyWebhookSignature(input: WebhookSignatureInput): WebhookSignatureCheck {
  const parsed = parseHeader(input.header);
  if (!parsed) return { valid: false, reason: 'MALFORMED_HEADER' };
  const expected = Buffer.from(signature(input.secret, parsed.timestamp, input.payload), 'hex');
  const matches = parsed.signatures.some((candidate) => timingSafeEqual(Buffer.from(candidate, 'hex'), expected));
  if (!matches) return { valid: false, reason: 'NO_MATCHING_SIGNATURE' };
  const now = Math.floor((input.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - parsed.timestamp) > (input.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS))
    return { valid: false, reason: 'TIMESTAMP_OUTSIDE_TOLERANCE' };
  return { valid: true, timestamp: parsed.timestamp };
}

function parseHeader(header: string | null | undefined): { timestamp: number; signatures: string[] } | undefined {
  if (typeof header !== 'string' || header.length > 4096) return undefined;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [name, value, ...rest] = part.trim().split('=');
    if (value === undefined || rest.length > 0) return undefined;
    if (name === 't') {
      if (!/^\d{1,12}$/.test(value) || timestamp !== undefined) return undefined;
      timestamp = Number(value);
    } else if (name === 'v1') {
      if (!SIGNATURE.test(value)) return undefined;
      signatures.push(value);
    }
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}
