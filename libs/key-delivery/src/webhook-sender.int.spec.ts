import { startHttpsReceiver } from '@keyledger/testing';
import type { HttpsReceiver } from '@keyledger/testing';
import { WebhookSender } from './webhook-sender.js';

describe('webhook sender (a real HTTPS server on loopback)', () => {
  let receiver: HttpsReceiver;

  beforeAll(async () => {
    receiver = await startHttpsReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('reaches a loopback webhook only when private addresses are allowed, by address or by name', async () => {
    const port = new URL(receiver.url).port;
    const strict = new WebhookSender({ timeoutMs: 5000, extraCa: receiver.caPem });
    const lenient = new WebhookSender({ timeoutMs: 5000, extraCa: receiver.caPem, allowPrivateAddresses: true });
    const before = receiver.requests.length;

    expect(await strict.post(`https://127.0.0.1:${port}/hook`, '{}', {})).toEqual({ ok: false, error: '127.0.0.1 is not a public address' });
    expect(await strict.post(`https://[::1]:${port}/hook`, '{}', {})).toEqual({ ok: false, error: '::1 is not a public address' });
    // A name is resolved, and no address it resolves to is public: no connection is made.
    expect(await strict.post(`https://localhost:${port}/hook`, '{}', {})).toMatchObject({ ok: false, error: expect.stringContaining('no public address') });
    expect(receiver.requests.length).toBe(before);

    expect(await lenient.post(`https://127.0.0.1:${port}/hook`, '{}', {})).toMatchObject({ ok: true });
    expect(receiver.requests.length).toBe(before + 1);
  });
});
