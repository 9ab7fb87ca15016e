import { NatsJsonReplySerializer } from './nats-json.serializer.js';

describe('NatsJsonReplySerializer', () => {
  it('sends a reply within the message limit as it is', () => {
    const reply = { ok: true, result: { keys: ['é'.repeat(10)] } };
    expect(JSON.parse(new NatsJsonReplySerializer(1000).serialize({ response: reply }).data)).toEqual(reply);
  });

  it('answers an error naming the sizes, never silence, when the reply would not fit a message', () => {
    const oversize: number[] = [];
    const serializer = new NatsJsonReplySerializer(1000, (bytes) => oversize.push(bytes));
    // About 520 characters but over 1,000 bytes of UTF-8: measured in bytes, as NATS does.
    const reply = { ok: true, result: { text: 'é'.repeat(490) } };
    const sent = JSON.parse(serializer.serialize({ response: reply }).data) as { ok: boolean; error: { code: string; message: string } };
    expect(sent.ok).toBe(false);
    expect(sent.error.code).toBe('INTERNAL');
    expect(sent.error.message).toMatch(/the reply is \d+ bytes, more than the 1000/);
    expect(oversize).toHaveLength(1);
    expect(oversize[0]).toBeGreaterThan(1000);
  });

  it('reads the limit at each reply when given where to read it (a reconnect may reach a server with another max_payload)', () => {
    let limit = 1000;
    const told: [number, number][] = [];
    const serializer = new NatsJsonReplySerializer(
      () => limit,
      (bytes, over) => told.push([bytes, over]),
    );
    const reply = { ok: true, result: { text: 'a'.repeat(600) } };
    expect(JSON.parse(serializer.serialize({ response: reply }).data)).toEqual(reply);
    limit = 500;
    const sent = JSON.parse(serializer.serialize({ response: reply }).data) as { ok: boolean; error: { message: string } };
    expect(sent.ok).toBe(false);
    expect(sent.error.message).toMatch(/more than the 500 a NATS message may carry/);
    expect(told).toEqual([[Buffer.byteLength(JSON.stringify(reply)), 500]]);
  });

  it('keeps an unexpected failure to the generic INTERNAL answer', () => {
    expect(JSON.parse(new NatsJsonReplySerializer().serialize({ err: new Error('secret detail') }).data)).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'internal error' },
    });
  });
});
