import { createHmac, hkdfSync } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { LastUsedAnswer, LastUsedRequest } from '@keyledger/contracts';
import { lastUsedRequestSchema } from '@keyledger/contracts';
import { EventAuthenticator } from '@keyledger/event-auth';
import { newLastUsedNonce, readLastUsedAnswer, sealLastUsedAnswer } from './last-used-answer.js';

const key = (version: number, fill: number) => ({ version, secret: Buffer.alloc(32, fill) });
const A = 'key_00000000000000000000000001';
const B = 'key_00000000000000000000000002';

describe('the sealed answer to usage.last-used', () => {
  const auditor = new EventAuthenticator([key(2, 2), key(1, 1)]);
  const rotator = new EventAuthenticator([key(2, 2), key(1, 1)]);
  const request: LastUsedRequest = { keyIds: [A, B], nonce: newLastUsedNonce() };
  const answer: LastUsedAnswer = {
    ingestedUntil: '2026-12-06T10:00:00.000Z',
    keys: [
      { keyId: A, lastUsedAt: '2026-12-06T09:59:00.000Z' },
      { keyId: B, lastUsedAt: null },
    ],
  };
  const sealed = sealLastUsedAnswer(auditor, request, answer);

  it('is read back by the rotator for the request it answers', () => {
    expect(readLastUsedAnswer(rotator, request, JSON.parse(JSON.stringify(sealed)))).toEqual({ ok: true, answer });
  });

  it('is HMAC-SHA256 of the canonical request and answer under the usage-answer subkey', () => {
    const subkey = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), Buffer.alloc(0), 'keyledger usage answer v1', 32));
    const content = canonicalize({ request: { nonce: request.nonce, keyIds: request.keyIds }, answer })!;
    expect(sealed.auth).toEqual({ v: 2, mac: createHmac('sha256', subkey).update(content).digest('base64') });
  });

  it('refuses the genuine answer to a request with another nonce', () => {
    expect(readLastUsedAnswer(rotator, { ...request, nonce: newLastUsedNonce() }, sealed)).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('refuses the genuine answer to a request with the same nonce and other keys', () => {
    expect(readLastUsedAnswer(rotator, { ...request, keyIds: [A] }, sealed)).toEqual({ ok: false, reason: 'bad-mac' });
    expect(readLastUsedAnswer(rotator, { ...request, keyIds: [B, A] }, sealed)).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it.each([
    ['a last use erased ("never used")', { keys: [{ keyId: A, lastUsedAt: null }, answer.keys[1]] }],
    ['a last use moved back', { keys: [{ keyId: A, lastUsedAt: '2026-12-06T09:00:00.000Z' }, answer.keys[1]] }],
    ['the watermark moved on', { ingestedUntil: '2026-12-06T10:00:01.000Z' }],
    ['the watermark dropped', { ingestedUntil: null }],
    ['a key dropped', { keys: [answer.keys[1]] }],
  ])('refuses an answer edited with %s', (_what, edit) => {
    expect(readLastUsedAnswer(rotator, request, { ...sealed, ...edit })).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('refuses a seal made with another event key, under the same version or one not configured', () => {
    const stranger = new EventAuthenticator([key(2, 9)]);
    expect(readLastUsedAnswer(rotator, request, sealLastUsedAnswer(stranger, request, answer))).toEqual({ ok: false, reason: 'bad-mac' });
    const retired = new EventAuthenticator([key(7, 2)]);
    expect(readLastUsedAnswer(rotator, request, sealLastUsedAnswer(retired, request, answer))).toEqual({ ok: false, reason: 'unknown-key-version' });
  });

  it('verifies what an older configured key version sealed', () => {
    const before = new EventAuthenticator([key(1, 1)]);
    expect(readLastUsedAnswer(rotator, request, sealLastUsedAnswer(before, request, answer))).toEqual({ ok: true, answer });
  });

  it('keeps the purposes apart: a seal over the same text under the verifier-announcement subkey is no answer seal', () => {
    // The answer's own content, sealed with the subkey another purpose uses: only a subkey shared
    // between the two purposes would let it pass (the HMAC test above checks the construction).
    const content = canonicalize({ request: { nonce: request.nonce, keyIds: request.keyIds }, answer })!;
    const announcementSubkey = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), Buffer.alloc(0), 'keyledger verifier announcement v1', 32));
    const auth = { v: 2, mac: createHmac('sha256', announcementSubkey).update(content).digest('base64') };
    expect(readLastUsedAnswer(rotator, request, { ...answer, auth })).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it.each([
    ['no seal', { ...answer }],
    ['a seal that is not base64 of 32 bytes', { ...answer, auth: { v: 2, mac: 'AAAA' } }],
    ['a field the auditor does not send', { ...sealed, note: 'trust me' }],
    ['a key id that is not one', { ...sealed, keys: [{ keyId: 'nope', lastUsedAt: null }] }],
    ['no answer at all', undefined],
  ])('refuses as malformed an answer with %s', (_what, result) => {
    expect(readLastUsedAnswer(rotator, request, result)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('makes a fresh nonce for each request, of the form the auditor accepts', () => {
    const nonces = new Set(Array.from({ length: 100 }, newLastUsedNonce));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(lastUsedRequestSchema.safeParse({ keyIds: [A], nonce }).success).toBe(true);
    expect(lastUsedRequestSchema.safeParse({ keyIds: [A] }).success).toBe(false);
    expect(lastUsedRequestSchema.safeParse({ keyIds: [A], nonce: 'short' }).success).toBe(false);
  });
});
