import type { EventSeal } from './event-envelope.js';
import { eventSealSchema } from './event-envelope.js';

/**
 * A usage batch message carries its seal in the `Keyledger-Usage-Seal` header
 * (`MESSAGE_HEADERS.usageSeal`) as `<key version>:<base64 HMAC-SHA256>`, and is published
 * under its batch id as `Nats-Msg-Id`; the body is the batch's JSON, untouched. The MAC covers
 * the version, that batch id and the body's exact bytes (`EventAuthenticator.sealUsageBatch`).
 * A header rather than a field of the body, so the MAC is over the bytes as sent, not over a
 * re-serialisation of what was parsed.
 */
export function formatUsageSeal(seal: EventSeal): string {
  return `${seal.v}:${seal.mac}`;
}

const USAGE_SEAL = /^(\d{1,6}):(.+)$/;

/** The seal a `Keyledger-Usage-Seal` header value names, or undefined when it is not one. */
export function parseUsageSeal(header: string): EventSeal | undefined {
  const match = USAGE_SEAL.exec(header);
  if (!match) return undefined;
  const parsed = eventSealSchema.safeParse({ v: Number(match[1]), mac: match[2] });
  return parsed.success ? parsed.data : undefined;
}
