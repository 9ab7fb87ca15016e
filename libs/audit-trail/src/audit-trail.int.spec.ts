import { DurableEventConsumer, rebuildProjection } from '@keyledger/consumer-runtime';
import { NO_STREAM } from '@keyledger/event-store';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { AuditTrailProjection } from './audit-trail.projection.js';

interface TrailRow {
  event_id: string;
  type: string;
  tenant: string | null;
  actor: string;
  correlation_id: string;
  trace_id: string | null;
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('audit trail', () => {
  let ctx: TestContext;
  let relay: OutboxRelay;
  let consumer: DurableEventConsumer | undefined;

  const trail = (): Promise<TrailRow[]> =>
    ctx.ownerDb.query<TrailRow[]>(`select event_id::text, type, tenant, actor, correlation_id, trace_id from audit_trail order by transaction_id, position`);

  const startConsumer = async (): Promise<void> => {
    consumer = new DurableEventConsumer(
      { dataSource: ctx.appDb, nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, projection: new AuditTrailProjection(), logger: ctx.logger, auth: ctx.auth },
      { redelivery: { maxDeliveries: 3, backoffMs: [50] }, ackWaitMs: 5000, prefetch: 16 },
    );
    await consumer.start();
  };

  beforeEach(async () => {
    ctx = await createTestContext('audittrail');
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
  });

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    await relay.stop();
    await ctx.close();
  });

  it('records every event once, in store order, with its actor, correlation, trace and tenant', async () => {
    const traced = testMetadata({ actor: 'key:key_admin', correlationId: 'corr-1', traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` });
    await ctx.store.append('key-key_000000000000000000000000a0', NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData('key_000000000000000000000000a0', 'acme'), metadata: traced }]);
    await ctx.store.append('key-key_000000000000000000000000a0', 1, [
      { type: 'KeyRevoked', data: { keyId: 'key_000000000000000000000000a0', reason: 'leaked' }, metadata: testMetadata({ correlationId: 'corr-2' }) },
    ]);
    await ctx.store.append('admin-root', NO_STREAM, [{ type: 'AdminKeyBootstrapped', data: { keyId: 'key_000000000000000000000000r7' }, metadata: testMetadata() }]);
    await startConsumer();
    const rows = await eventually('three events in the trail', trail, (r) => r.length === 3);
    expect(rows.map(({ type, tenant, actor, correlation_id, trace_id }) => ({ type, tenant, actor, correlation_id, trace_id }))).toEqual([
      { type: 'KeyIssued', tenant: 'acme', actor: 'key:key_admin', correlation_id: 'corr-1', trace_id: TRACE_ID },
      // KeyRevoked names no tenant: it takes its stream's.
      { type: 'KeyRevoked', tenant: 'acme', actor: 'test:suite', correlation_id: 'corr-2', trace_id: null },
      { type: 'AdminKeyBootstrapped', tenant: null, actor: 'test:suite', correlation_id: 'corr-test', trace_id: null },
    ]);
  });

  it('stays the same through a restart of its consumer and a rebuild from the store', async () => {
    await ctx.store.append('key-key_000000000000000000000000b0', NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData('key_000000000000000000000000b0', 'globex'), metadata: testMetadata() }]);
    await startConsumer();
    await eventually('one event', trail, (r) => r.length === 1);
    await consumer!.stop();
    await ctx.store.append('key-key_000000000000000000000000b0', 1, [{ type: 'KeySuspended', data: { keyId: 'key_000000000000000000000000b0' }, metadata: testMetadata() }]);
    await startConsumer();
    const live = await eventually('two events', trail, (r) => r.length === 2);
    await consumer!.stop();
    consumer = undefined;
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
    expect(await trail()).toEqual(live);
  });

  it("gives an event without a tenant its stream's tenant even when it is recorded first", async () => {
    await ctx.store.append('key-key_000000000000000000000000c0', NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData('key_000000000000000000000000c0', 'initech'), metadata: testMetadata() }]);
    await ctx.store.append('key-key_000000000000000000000000c0', 1, [{ type: 'KeyRevoked', data: { keyId: 'key_000000000000000000000000c0', reason: 'x' }, metadata: testMetadata() }]);
    const [, revoked] = await ctx.store.readStream('key-key_000000000000000000000000c0');
    // The revocation applied before its stream's KeyIssued, as a redelivery can order them.
    await ctx.appDb.transaction((tx) => new AuditTrailProjection().apply(revoked!, tx));
    const [row] = await ctx.ownerDb.query<TrailRow[]>(`select type, tenant from audit_trail`);
    expect(row).toMatchObject({ type: 'KeyRevoked', tenant: 'initech' });
  });

  it('gives the services role no way to change a recorded row', async () => {
    await expect(ctx.appDb.query(`update audit_trail set actor = 'someone else'`)).rejects.toThrow(/permission denied/);
  });
});
