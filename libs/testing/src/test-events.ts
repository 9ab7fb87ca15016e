import type { EventMetadata, KeyUsed, UsageBatchV1 } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import type { NewEvent } from '@keyledger/event-store';

export const testMetadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: 'test:suite',
  correlationId: 'corr-test',
  causationId: 'cmd-test',
  ...overrides,
});

/** The key id of `testEvent`s: well formed, and never issued. */
export const TEST_KEY_ID = 'key_00000000000000000000000000';

/**
 * A well-formed event for store and bus tests: a KeyUpdated of a key never issued (so no key
 * projection folds it), carrying `fields` as its metadata, each value as a string (JSON for
 * anything but a string), so a test can tell its events apart by `testFields(event.data)`.
 */
export function testEvent(fields: Record<string, unknown> = {}, overrides: Partial<NewEvent> = {}): NewEvent {
  const metadata = Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]));
  return { type: 'KeyUpdated', data: { keyId: TEST_KEY_ID, metadata }, metadata: testMetadata(), ...overrides };
}

/** The fields a `testEvent` carries, as given (strings as they were, other values parsed back). */
export function testFields(data: unknown): Record<string, unknown> {
  const metadata = (data as { metadata?: Record<string, string> } | undefined)?.metadata ?? {};
  return Object.fromEntries(
    Object.entries(metadata).map(([name, value]) => {
      try {
        return [name, JSON.parse(value) as unknown];
      } catch {
        return [name, value];
      }
    }),
  );
}

/**
 * The data of a KeyIssued that fits its schema, for a key nobody can present (its digest is
 * made from its id, not from a key's plaintext).
 */
export function testKeyIssuedData(keyId: string, tenant = 'acme', overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    keyId,
    tenant,
    owner: 'svc',
    environment: 'live',
    prefix: 'kl',
    digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: Buffer.from(keyId.padEnd(32, '0').slice(-32)).toString('hex') },
    hint: 'kl_live_…abcd',
    scopes: [],
    ipAllowlist: [],
    metadata: {},
    ...overrides,
  };
}

/** One verification of `keyId` as a verifier records it: from 198.51.100.7 over HTTP, no scopes, no cost. */
export function testKeyUsed(keyId: string, code: KeyUsed['code'], at = Date.now()): KeyUsed {
  return { keyId, tenant: 'acme', ip: '198.51.100.7', at, scopes: [], code, cost: 0, transport: 'http' };
}

/** A version 1 usage batch of these records from verifier `verifier-int`. */
export function testUsageBatch(records: KeyUsed[], batchId = newPrefixedId('ub')): UsageBatchV1 {
  return { schemaVersion: 1, batchId, instance: 'verifier-int', createdAt: Date.now(), records };
}
