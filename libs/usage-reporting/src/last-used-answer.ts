import { randomBytes } from 'node:crypto';
import type { LastUsedAnswer, LastUsedRequest, SealedLastUsedAnswer } from '@keyledger/contracts';
import { sealedLastUsedAnswerSchema } from '@keyledger/contracts';
import type { EventAuthenticator } from '@keyledger/event-auth';

/** A fresh nonce for one `usage.last-used` request (16 random bytes, base64url). */
export function newLastUsedNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The auditor's answer to `request`, sealed under the event key: the one format the auditor sends. */
export function sealLastUsedAnswer(authenticator: EventAuthenticator, request: LastUsedRequest, answer: LastUsedAnswer): SealedLastUsedAnswer {
  const content: LastUsedAnswer = { ingestedUntil: answer.ingestedUntil, keys: answer.keys };
  return { ...content, auth: authenticator.sealUsageAnswer(request, content) };
}

/** Why an answer was refused: not of the answer's shape, or its seal does not verify for this request. */
export type LastUsedAnswerRefusal = 'malformed' | 'bad-mac' | 'unknown-key-version';

export type LastUsedAnswerCheck = { readonly ok: true; readonly answer: LastUsedAnswer } | { readonly ok: false; readonly reason: LastUsedAnswerRefusal };

/**
 * The answer to `request` if `result` is the auditor's sealed answer to exactly that request
 * (its nonce and key ids), else why not: the one check the rotator's client makes.
 */
export function readLastUsedAnswer(authenticator: EventAuthenticator, request: LastUsedRequest, result: unknown): LastUsedAnswerCheck {
  const parsed = sealedLastUsedAnswerSchema.safeParse(result);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  const { auth, ...answer } = parsed.data;
  const verdict = authenticator.checkUsageAnswer(request, answer, auth);
  return verdict === 'ok' ? { ok: true, answer } : { ok: false, reason: verdict };
}
