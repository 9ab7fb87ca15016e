import type { EventRejectionReason, EventSeal } from '@keyledger/contracts';
import { parseUsageSeal } from '@keyledger/contracts';
import type { MacCheck } from './event-authenticator.js';

/** Why a message's seal header does not vouch for it, as a refusal says it. */
export interface SealRefusal {
  readonly reason: EventRejectionReason;
  readonly detail: string;
}

/**
 * The verdict on a seal header (`<key version>:<base64 MAC>`, `formatUsageSeal`) of a message
 * that must carry one: undefined when `check` finds the seal good, else why not, in words naming
 * `what` the message is (`a usage batch`, `a security alert`) and what its MAC covers.
 */
export function refuseUnlessSealed(header: string, check: (seal: EventSeal) => MacCheck, what: string, covered: string): SealRefusal | undefined {
  if (header === '') return { reason: 'unsealed', detail: `${what} without a seal` };
  const seal = parseUsageSeal(header);
  if (seal === undefined) return { reason: 'malformed', detail: `${what} seal that is not <version>:<base64 MAC>` };
  const mac = check(seal);
  if (mac === 'ok') return undefined;
  return { reason: mac, detail: mac === 'bad-mac' ? `the seal of ${what} does not match its ${covered}` : `no event key version ${seal.v} is configured` };
}
