import { createHmac, hkdfSync } from 'node:crypto';
import canonicalize from 'canonicalize';
import { EventAuthenticator } from './event-authenticator.js';
import type { PublishedEventFields } from './event-authenticator.js';

const key = (version: number, fill: number) => ({ version, secret: Buffer.alloc(32, fill) });

const event: PublishedEventFields = {
  eventId: '0190a3f0-0000-7000-8000-000000000001',
  streamId: 'key-key_00000000000000000000000000',
  streamVersion: 3,
  type: 'KeyRevoked',
  schemaVersion: 1,
  occurredAt: '2026-12-06T10:00:00.000Z',
  data: { keyId: 'key_00000000000000000000000000', reason: 'leaked' },
  metadata: { actor: 'admin:a', correlationId: 'c', causationId: 'c' },
  position: '42',
  transactionId: '1000',
  hash: 'ab'.repeat(32),
};

describe('EventAuthenticator', () => {
  const current = new EventAuthenticator([key(2, 2), key(1, 1)]);

  it('seals with the current version and verifies its own seals', () => {
    const stored = current.sealStored(event);
    expect(stored.version).toBe(2);
    expect(current.checkStored(event, stored)).toBe('ok');
    const published = current.sealPublished(event);
    expect(published.v).toBe(2);
    expect(current.checkPublished(event, published)).toBe('ok');
  });

  it('is HMAC-SHA256 of the canonical event under an HKDF subkey of its purpose', () => {
    const subkey = Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), Buffer.alloc(0), 'keyledger stored event v1', 32));
    const { position: _p, transactionId: _t, hash: _h, ...content } = event;
    expect(current.sealStored(event).mac).toEqual(createHmac('sha256', subkey).update(canonicalize(content)!).digest());
  });

  it.each([
    ['the data', { data: { keyId: 'key_00000000000000000000000000', reason: 'other' } }],
    ['the type', { type: 'KeyResumed' }],
    ['the stream version', { streamVersion: 4 }],
    ['the stream', { streamId: 'key-key_00000000000000000000000001' }],
    ['the metadata', { metadata: { actor: 'admin:b', correlationId: 'c', causationId: 'c' } }],
    ['the time', { occurredAt: '2026-12-06T10:00:00.001Z' }],
  ])('refuses an event whose %s changed', (_what, change) => {
    expect(current.checkStored({ ...event, ...change }, current.sealStored(event))).toBe('bad-mac');
    expect(current.checkPublished({ ...event, ...change }, current.sealPublished(event))).toBe('bad-mac');
  });

  it('binds a published seal to the position, transaction and hash, and a stored MAC to none of them', () => {
    const published = current.sealPublished(event);
    for (const moved of [{ position: '99999999999' }, { transactionId: '1001' }, { hash: 'cd'.repeat(32) }])
      expect(current.checkPublished({ ...event, ...moved }, published)).toBe('bad-mac');
    const elsewhere: PublishedEventFields = { ...event, position: '7', transactionId: '8' };
    expect(current.checkStored(elsewhere, current.sealStored(event))).toBe('ok');
  });

  describe('keeps the purposes apart', () => {
    // Each purpose's own content, as the authenticator canonicalises it; a seal over it made with
    // another purpose's subkey is what that purpose's MAC oracle would give an attacker who could
    // choose the content. The control case (its own subkey) shows the forgery is built right, so
    // only a subkey shared between two purposes can make a forged seal pass.
    const { position: _p, transactionId: _t, hash: _h, ...storedFields } = event;
    const announcement = { instance: 'verifier-1', transactionId: '1000', position: '42', at: '2026-12-06T10:00:00.000Z' };
    const request = { keyIds: ['key_00000000000000000000000000'], nonce: 'n'.repeat(22) };
    const answer = { ingestedUntil: '2026-12-06T10:00:00.000Z', keys: [{ keyId: 'key_00000000000000000000000000', lastUsedAt: null }] };
    const purposes = [
      { label: 'keyledger stored event v1', content: storedFields, check: (mac: Buffer) => current.checkStored(event, { version: 2, mac }) },
      { label: 'keyledger published event v1', content: event, check: (mac: Buffer) => current.checkPublished(event, { v: 2, mac: mac.toString('base64') }) },
      {
        label: 'keyledger verifier announcement v1',
        content: announcement,
        check: (mac: Buffer) => current.checkAnnouncement(announcement, { v: 2, mac: mac.toString('base64') }),
      },
      {
        label: 'keyledger usage answer v1',
        content: { request, answer },
        check: (mac: Buffer) => current.checkUsageAnswer(request, answer, { v: 2, mac: mac.toString('base64') }),
      },
    ];
    const sealWith = (label: string, content: unknown): Buffer =>
      createHmac('sha256', Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), Buffer.alloc(0), label, 32)))
        .update(canonicalize(content)!)
        .digest();

    it.each(purposes.map((purpose) => [purpose.label, purpose] as const))('refuses a %s seal made with any other purpose’s subkey', (_label, purpose) => {
      expect(purpose.check(sealWith(purpose.label, purpose.content))).toBe('ok');
      for (const other of purposes.filter((candidate) => candidate !== purpose))
        expect({ subkey: other.label, verdict: purpose.check(sealWith(other.label, purpose.content)) }).toEqual({ subkey: other.label, verdict: 'bad-mac' });
    });
  });

  it('seals a usage answer to its request: another nonce, other keys or another answer do not verify', () => {
    const request = { keyIds: ['key_00000000000000000000000000'], nonce: 'n'.repeat(22) };
    const answer = { ingestedUntil: '2026-12-06T10:00:00.000Z', keys: [{ keyId: 'key_00000000000000000000000000', lastUsedAt: '2026-12-06T09:00:00.000Z' }] };
    const seal = current.sealUsageAnswer(request, answer);
    expect(seal.v).toBe(2);
    expect(current.checkUsageAnswer(request, answer, seal)).toBe('ok');
    expect(current.checkUsageAnswer({ ...request, nonce: 'm'.repeat(22) }, answer, seal)).toBe('bad-mac');
    expect(current.checkUsageAnswer({ ...request, keyIds: ['key_00000000000000000000000001'] }, answer, seal)).toBe('bad-mac');
    expect(current.checkUsageAnswer(request, { ...answer, keys: [{ keyId: 'key_00000000000000000000000000', lastUsedAt: null }] }, seal)).toBe('bad-mac');
    expect(new EventAuthenticator([key(2, 9)]).checkUsageAnswer(request, answer, seal)).toBe('bad-mac');
    const announcement = current.sealAnnouncement({ instance: 'v', transactionId: '1', position: '1', at: answer.ingestedUntil });
    expect(current.checkUsageAnswer(request, answer, announcement)).toBe('bad-mac');
  });

  it('seals a relay heartbeat under its own subkey: another head, another time or a verifier announcement do not verify', () => {
    const heartbeat = { transactionId: '1000', position: '42', at: '2026-12-06T10:00:00.000Z' };
    const seal = current.sealHeartbeat(heartbeat);
    expect(current.checkHeartbeat(heartbeat, seal)).toBe('ok');
    expect(current.checkHeartbeat({ ...heartbeat, position: '99999999999' }, seal)).toBe('bad-mac');
    expect(current.checkHeartbeat({ ...heartbeat, at: '2026-12-06T10:00:05.000Z' }, seal)).toBe('bad-mac');
    expect(new EventAuthenticator([key(2, 9)]).checkHeartbeat(heartbeat, seal)).toBe('bad-mac');
    // The same fields sealed as a verifier's announcement (its own instance empty) are not a heartbeat.
    const announcement = current.sealAnnouncement({ instance: '', ...heartbeat });
    expect(current.checkHeartbeat(heartbeat, announcement)).toBe('bad-mac');
  });

  describe('usage batch seals', () => {
    const batchId = 'ub_01jf0000000000000000000000';
    const payload = new TextEncoder().encode('{"schemaVersion":2,"batchId":"ub_01jf0000000000000000000000","groups":[]}');
    const macUnder = (label: string, id = batchId, body = payload): string =>
      createHmac('sha256', Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 2), Buffer.alloc(0), label, 32)))
        .update(`${canonicalize({ v: 2, batchId: id })!}\n`)
        .update(body)
        .digest('base64');

    it('is HMAC-SHA256 of the version, the batch id and the exact body under the usage batch subkey', () => {
      const seal = current.sealUsageBatch(batchId, payload);
      expect(seal).toEqual({ v: 2, mac: macUnder('keyledger usage batch v1') });
      expect(current.checkUsageBatch(batchId, payload, seal)).toBe('ok');
    });

    it('refuses a changed byte of the body, a genuine body under another batch id, and a seal of another batch', () => {
      const seal = current.sealUsageBatch(batchId, payload);
      const tampered = Uint8Array.from(payload);
      tampered[tampered.length - 3] = 0x5d;
      expect(current.checkUsageBatch(batchId, tampered, seal)).toBe('bad-mac');
      expect(current.checkUsageBatch('ub_01jf0000000000000000000001', payload, seal)).toBe('bad-mac');
      expect(current.checkUsageBatch('', payload, seal)).toBe('bad-mac');
      const other = new TextEncoder().encode('{"schemaVersion":2,"batchId":"ub_01jf0000000000000000000001","groups":[]}');
      expect(current.checkUsageBatch('ub_01jf0000000000000000000001', other, seal)).toBe('bad-mac');
    });

    it('cannot be moved between the batch id and the body', () => {
      // The id's end glued to the body's start: the same bytes if the two were simply concatenated.
      const seal = current.sealUsageBatch('ub_a', new TextEncoder().encode('b{}'));
      expect(current.checkUsageBatch('ub_ab', new TextEncoder().encode('{}'), seal)).toBe('bad-mac');
    });

    it('is made under its own subkey: a MAC of the same bytes under any other purpose does not verify', () => {
      for (const label of [
        'keyledger stored event v1',
        'keyledger published event v1',
        'keyledger verifier announcement v1',
        'keyledger usage answer v1',
        'keyledger relay heartbeat v1',
      ])
        expect({ label, verdict: current.checkUsageBatch(batchId, payload, { v: 2, mac: macUnder(label) }) }).toEqual({ label, verdict: 'bad-mac' });
    });

    it('verifies a batch sealed under an older version still configured; refuses another secret and a version not configured', () => {
      const before = new EventAuthenticator([key(1, 1)]);
      const old = before.sealUsageBatch(batchId, payload);
      expect(old.v).toBe(1);
      expect(current.checkUsageBatch(batchId, payload, old)).toBe('ok');
      expect(new EventAuthenticator([key(2, 2)]).checkUsageBatch(batchId, payload, old)).toBe('unknown-key-version');
      expect(current.checkUsageBatch(batchId, payload, new EventAuthenticator([key(2, 9)]).sealUsageBatch(batchId, payload))).toBe('bad-mac');
      expect(current.checkUsageBatch(batchId, payload, { v: 2, mac: Buffer.alloc(31).toString('base64') })).toBe('bad-mac');
    });
  });

  it('verifies what an older configured version sealed, and nothing of a version not configured', () => {
    const before = new EventAuthenticator([key(1, 1)]);
    expect(current.checkStored(event, before.sealStored(event))).toBe('ok');
    expect(current.checkPublished(event, before.sealPublished(event))).toBe('ok');
    const retired = new EventAuthenticator([key(2, 2)]);
    expect(retired.checkStored(event, before.sealStored(event))).toBe('unknown-key-version');
    expect(current.checkStored(event, { version: 3, mac: Buffer.alloc(32) })).toBe('unknown-key-version');
  });

  it('refuses a seal made with another secret under the same version, and a MAC of the wrong length', () => {
    const impostor = new EventAuthenticator([key(2, 9)]);
    expect(current.checkStored(event, impostor.sealStored(event))).toBe('bad-mac');
    expect(current.checkStored(event, { version: 2, mac: Buffer.alloc(31) })).toBe('bad-mac');
  });

  it('needs a key, and versions the events table can store', () => {
    expect(() => new EventAuthenticator([])).toThrow(RangeError);
    expect(() => new EventAuthenticator([key(40_000, 1)])).toThrow(RangeError);
  });
});
