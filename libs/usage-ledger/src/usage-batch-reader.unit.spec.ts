import { headers } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { UsageBatchV2 } from '@keyledger/contracts';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import type { EventRejection } from '@keyledger/event-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { MalformedUsageMessageError, UsageBatchReader } from './usage-batch-reader.js';

const key = (version: number, fill: number) => ({ version, secret: Buffer.alloc(32, fill) });
const SUBJECT = 'keyledger.v1.usage.batches';
const T0 = Date.UTC(2030, 1, 1, 12);

const batch = (batchId: string, code: 'VALID' | 'REVOKED' = 'VALID'): UsageBatchV2 => ({
  schemaVersion: 2,
  batchId,
  instance: 'verifier-a',
  createdAt: T0,
  since: T0,
  groups: [{ keyId: 'key_00000000000000000000000000', tenant: 'acme', scopes: [], code, cost: 0, transport: 'http', at: [0, 5] }],
});

/** A message as the usage stream delivers it: the body, its seal header if any, and the id it was published under. */
function delivered(payload: string | Uint8Array, msgID: string, seal?: string): { data: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  h.set(MESSAGE_HEADERS.msgId, msgID);
  if (seal !== undefined) h.set(MESSAGE_HEADERS.usageSeal, seal);
  return { data: typeof payload === 'string' ? new TextEncoder().encode(payload) : payload, headers: h };
}

/** What a verifier holding `authenticator` publishes for this batch. */
function genuine(authenticator: EventAuthenticator, payload: string, msgID: string): { data: Uint8Array; headers: MsgHdrs } {
  const sealed = sealUsageBatchMessage(authenticator, { batchId: msgID, payload });
  return delivered(sealed.payload, msgID, sealed.headers.get(MESSAGE_HEADERS.usageSeal));
}

describe('UsageBatchReader', () => {
  const verifier = new EventAuthenticator([key(2, 2), key(1, 1)]);
  const refusals: EventRejection[] = [];
  const reader = new UsageBatchReader({ authenticator: verifier, rejections: { reject: (rejection) => refusals.push(rejection) } });
  const read = (message: { data: Uint8Array; headers: MsgHdrs | undefined }) => reader.read(message.data, SUBJECT, message.headers);
  const id = 'ub_01jf0000000000000000000000';
  const payload = JSON.stringify(batch(id));

  beforeEach(() => refusals.splice(0));

  it('reads a batch sealed by a verifier, and reports nothing', () => {
    expect(read(genuine(verifier, payload, id))).toEqual(batch(id));
    expect(refusals).toEqual([]);
  });

  it('reads a batch sealed under an older key version still configured', () => {
    const before = new EventAuthenticator([key(1, 1)]);
    expect(read(genuine(before, payload, id))).toEqual(batch(id));
    expect(refusals).toEqual([]);
  });

  const refused: [string, () => { data: Uint8Array; headers: MsgHdrs | undefined }, EventRejection['reason']][] = [
    ['a batch without a seal (an older verifier, or a stranger)', () => delivered(payload, id), 'unsealed'],
    ['a message without any header', () => ({ data: new TextEncoder().encode(payload), headers: undefined }), 'unsealed'],
    ['a seal header that is not a seal', () => delivered(payload, id, 'sealed, honestly'), 'malformed'],
    ['a batch sealed with a stranger’s key under the configured version', () => genuine(new EventAuthenticator([key(2, 9)]), payload, id), 'bad-mac'],
    [
      'a genuine seal on a changed body',
      () => {
        const real = genuine(verifier, payload, id);
        return delivered(JSON.stringify(batch(id, 'REVOKED')), id, real.headers.get(MESSAGE_HEADERS.usageSeal));
      },
      'bad-mac',
    ],
    [
      'a genuine batch and seal re-sent under another batch id',
      () => {
        const real = genuine(verifier, payload, id);
        return delivered(real.data, 'ub_01jf0000000000000000000001', real.headers.get(MESSAGE_HEADERS.usageSeal));
      },
      'bad-mac',
    ],
    [
      'a genuine seal moved onto another batch',
      () => {
        const other = 'ub_01jf0000000000000000000001';
        return delivered(JSON.stringify(batch(other, 'REVOKED')), other, genuine(verifier, payload, id).headers.get(MESSAGE_HEADERS.usageSeal));
      },
      'bad-mac',
    ],
    ['a batch sealed under a key version not configured', () => genuine(new EventAuthenticator([key(7, 2)]), payload, id), 'unknown-key-version'],
  ];

  it.each(refused)('refuses %s: nothing read, one refusal reported from the bus, without the batch', (_what, message, reason) => {
    expect(read(message())).toBeUndefined();
    expect(refusals).toEqual([{ source: 'bus', reason, subject: SUBJECT, detail: expect.any(String) }]);
    expect(refusals[0]!.detail).not.toContain('key_00000000000000000000000000');
  });

  it('checks the seal before parsing: an unsealed body that is not even JSON is refused, not dead-lettered', () => {
    expect(read(delivered('{not json', id))).toBeUndefined();
    expect(refusals.map((refusal) => refusal.reason)).toEqual(['unsealed']);
  });

  it('throws for an authentic message that is no batch, so it is dead-lettered to be looked at', () => {
    expect(() => read(genuine(verifier, '{"schemaVersion":1,"records":"nope"}', id))).toThrow(MalformedUsageMessageError);
    expect(() => read(genuine(verifier, '{not json', id))).toThrow(/not JSON/);
    expect(refusals).toEqual([]);
  });
});
