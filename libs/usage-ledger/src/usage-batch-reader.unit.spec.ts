import fc from 'fast-check';
import { headers } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { KeyUsed, UsageBatchV2 } from '@keyledger/contracts';
import { MESSAGE_HEADERS, USAGE_TRANSPORTS, VERIFY_CODES, columnarUsageBatch, toColumnarUsageBatch, usageBatchV3Schema } from '@keyledger/contracts';
import type { EventRejection } from '@keyledger/event-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { MalformedUsageMessageError, UsageBatchReader, checkColumnarBatch } from './usage-batch-reader.js';

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

  it('reads a version 3 batch sealed by a verifier, checked by its compiled validator', () => {
    const columns = toColumnarUsageBatch(batch(id));
    expect(read(genuine(verifier, JSON.stringify(columns), id))).toEqual(columns);
    expect(() => read(genuine(verifier, JSON.stringify({ ...columns, at: [0, -5] }), id))).toThrow(/not a valid batch: at\.1 must be >= 0/);
    expect(() => read(genuine(verifier, JSON.stringify({ ...columns, keyIds: [] }), id))).toThrow(/groups\.keyId\.0 names entry 0 of a table of 0/);
    expect(() => read(genuine(verifier, JSON.stringify({ ...columns, groups: { ...columns.groups, weight: [1] } }), id))).toThrow(
      /groups must NOT have additional properties: weight/,
    );
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

describe('the compiled check of version 3', () => {
  const KEYS = ['key_01jd8x0000000000000000000a', 'key_01jd8x0000000000000000000b'];
  /** Strings a request can carry, and a few that no field allows. */
  const text = fc.oneof(
    fc.constantFrom('10.0.0.1', 'orders:read', 'acme', '', 'x'.repeat(64), 'x'.repeat(65), '\u0000', '\u{1f600}'.repeat(40), 'é'),
    fc.string({ maxLength: 8 }),
  );
  const record: fc.Arbitrary<KeyUsed> = fc
    .record({
      keyId: fc.option(fc.constantFrom(...KEYS), { nil: undefined }),
      tenant: fc.option(fc.constantFrom('acme', 'globex'), { nil: undefined }),
      at: fc.integer({ min: T0, max: T0 + 5000 }),
      ip: fc.option(fc.constantFrom('10.0.0.1', '::1', 'x'.repeat(64)), { nil: undefined }),
      scopes: fc.array(fc.constantFrom('orders:read', 'a,"b\\', '\u{1f600}'), { maxLength: 3 }),
      code: fc.constantFrom(...VERIFY_CODES),
      cost: fc.integer({ min: 0, max: 3 }),
      transport: fc.constantFrom(...USAGE_TRANSPORTS),
    })
    .map(({ keyId, ...rest }) => (keyId === undefined ? { ...rest, fingerprint: '0123456789abcdef' } : { ...rest, keyId }));
  const valid = fc.array(fc.tuple(record, fc.array(fc.integer({ min: T0, max: T0 + 5000 }), { maxLength: 3 })), { minLength: 1, maxLength: 6 }).map((groups) =>
    columnarUsageBatch(
      { batchId: 'ub_01jf0000000000000000000000', instance: 'verifier-a', createdAt: T0 },
      groups.map(([fields, more]) => ({ fields, at: [fields.at, ...more] })),
    ),
  );
  /** Values a stranger's (or a buggy verifier's) batch might put anywhere. */
  const odd = fc.oneof(
    fc.constantFrom(-2, -1, 0, 1, 2, 1.5, 9999, 10_000, 3_600_001, 2_147_483_648, null, true, [], {}, '0'),
    text,
    fc.integer(),
    fc.array(fc.integer({ min: -2, max: 4 }), { maxLength: 4 }),
  );
  /** Every place in a JSON value: object keys and array entries, nested. */
  const places = (value: unknown, at: (string | number)[] = []): (string | number)[][] => {
    if (value === null || typeof value !== 'object') return [at];
    const inner = Object.entries(value).flatMap(([key, child]) => places(child, [...at, Array.isArray(value) ? Number(key) : key]));
    return [at, ...inner];
  };
  /** A copy of `batch` with the value at `path` set to `to`, removed, or `to` added beside it. */
  const mutate = (batch: unknown, path: readonly (string | number)[], to: unknown, how: 'set' | 'remove' | 'add'): unknown => {
    const copy = structuredClone(batch);
    const parent: unknown = path.slice(0, -1).reduce((value, key) => (value as Record<string | number, unknown>)[key], copy);
    const last = path.at(-1)!;
    if (Array.isArray(parent)) {
      if (how === 'set') parent[last as number] = to;
      else if (how === 'remove') parent.splice(last as number, 1);
      else parent.push(to);
    } else {
      const object = parent as Record<string, unknown>;
      if (how === 'set') object[last] = to;
      else if (how === 'remove') delete object[last];
      else object['extra'] = to;
    }
    return copy;
  };
  const agree = (json: unknown): void => {
    const zod = usageBatchV3Schema.safeParse(json);
    const compiled = checkColumnarBatch(json);
    expect('batch' in compiled).toBe(zod.success);
    if (zod.success && 'batch' in compiled) expect(compiled.batch).toEqual(zod.data);
  };

  it('accepts every batch a verifier makes, as the contract does', () => {
    fc.assert(
      fc.property(valid, (batch) => {
        expect(usageBatchV3Schema.safeParse(batch).success).toBe(true);
        agree(batch);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses exactly what the contract’s zod schema refuses, wherever a value is changed, removed or added', () => {
    fc.assert(
      fc.property(valid, fc.nat(), odd, fc.constantFrom('set', 'remove', 'add'), (batch, pick, value, how) => {
        const all = places(batch).filter((path) => path.length > 0);
        const changed = mutate(batch, all[pick % all.length]!, value, how);
        agree(changed);
      }),
      { numRuns: 3000 },
    );
  });
});
