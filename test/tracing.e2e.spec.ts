import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { apiSubject, streamIdOf } from '@keyledger/contracts';
import { protoPath } from '@keyledger/proto-paths';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, OtlpReceiver, ReceivedSpan, RunningServices, TestContext } from '@keyledger/testing';
import {
  GRPC_TEST_LOADER,
  GrpcApi,
  OTLP_SPAN_KIND,
  createTestContext,
  eventually,
  natsKeyApi,
  runCli,
  startOtlpReceiver,
  startServices,
} from '@keyledger/testing';

/** The spans one command leaves, from the issuer's handling to the verifier's projection. */
interface CommandTrace {
  readonly handled: ReceivedSpan;
  readonly appended: ReceivedSpan;
  readonly published: ReceivedSpan;
  readonly verifierApplied: ReceivedSpan;
  readonly issuerApplied: ReceivedSpan;
  /** The auditor recording the event in the audit trail. */
  readonly auditorRecorded: ReceivedSpan;
}

describe('one OpenTelemetry trace from a command, across the bus, into the projections and the audit trail', () => {
  let ctx: TestContext;
  let receiver: OtlpReceiver;
  let services: RunningServices;
  let keys: GrpcApi;
  let api: NatsKeyApi;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  /** Waits until every span of the command's trace has been exported, found by kind and name only. */
  async function commandTrace(traceId: string, handlerName: string, eventType: string): Promise<CommandTrace> {
    const find = (spans: ReceivedSpan[]): Partial<CommandTrace> => ({
      handled: spans.find((s) => s.service === 'issuer' && s.kind === OTLP_SPAN_KIND.server && s.name === handlerName),
      appended: spans.find((s) => s.service === 'issuer' && s.name === 'append events'),
      published: spans.find((s) => s.service === 'relay' && s.kind === OTLP_SPAN_KIND.producer && s.name.endsWith(`.events.key.${eventType}`)),
      verifierApplied: spans.find((s) => s.service === 'verifier' && s.kind === OTLP_SPAN_KIND.consumer),
      issuerApplied: spans.find((s) => s.service === 'issuer' && s.kind === OTLP_SPAN_KIND.consumer),
      auditorRecorded: spans.find(
        (s) => s.service === 'auditor' && s.kind === OTLP_SPAN_KIND.consumer && s.attributes['messaging.consumer.group.name'] === 'auditor-trail',
      ),
    });
    const found = await eventually(
      `the spans of trace ${traceId}`,
      () => find(receiver.spans().filter((span) => span.traceId === traceId)),
      (trace) => Object.values(trace).every(Boolean),
      20_000,
    );
    return found as CommandTrace;
  }

  /** The OTEL_* variables of every traced process here: OTLP/JSON to the test's receiver. */
  const otelEnv = (): Record<string, string> => ({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    ctx = await createTestContext('tracing');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'auditor'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, ...otelEnv() });
    keys = new GrpcApi(`127.0.0.1:${services.of('issuer')[0]!.grpcPort}`, loadSync(protoPath('keys'), GRPC_TEST_LOADER), 'keyledger.v1.KeyService');
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    keys?.close();
    services?.stop();
    await ctx?.close();
    await receiver?.close();
  });

  it("continues a gRPC caller's trace through the issuer, the event store, the relay and JetStream into each projection and the audit trail", async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${rootKey}`);
    metadata.set('traceparent', `00-${traceId}-${callerSpanId}-01`);
    const issued = await keys.call<{ keyId: string; key: string }>('IssueKey', { tenant: 'acme', owner: 'tracing', scopes: ['orders:read'] }, metadata);
    await eventually(
      'the verifier knows the key',
      () => api.verify({ key: issued.key }),
      (result) => result.code === 'VALID',
    );

    const trace = await commandTrace(traceId, 'keyledger.v1.KeyService/IssueKey', 'KeyIssued');
    expect(trace.handled.parentSpanId).toBe(callerSpanId);
    expect(trace.appended.parentSpanId).toBe(trace.handled.spanId);
    expect(trace.appended.attributes['keyledger.stream.id']).toBe(streamIdOf('key', issued.keyId));
    expect(trace.published.parentSpanId).toBe(trace.appended.spanId);
    expect(trace.published.attributes['messaging.destination.name']).toBe(`${ctx.topology.subjectPrefix}.events.key.KeyIssued`);
    expect(trace.verifierApplied.parentSpanId).toBe(trace.published.spanId);
    expect(trace.issuerApplied.parentSpanId).toBe(trace.published.spanId);
    expect(trace.auditorRecorded.parentSpanId).toBe(trace.published.spanId);
    const [recorded] = await ctx.ownerDb.query<{ trace_id: string }[]>(`select trace_id from audit_trail where stream_id = $1`, [
      streamIdOf('key', issued.keyId),
    ]);
    expect(recorded?.trace_id).toBe(traceId);
    // The store keeps the append's context with the event: that is what the relay continued.
    const [stored] = await ctx.store.readStream(streamIdOf('key', issued.keyId));
    expect(stored?.metadata.traceparent).toBe(`00-${traceId}-${trace.appended.spanId}-01`);

    // Secrets rule: no key, issued or admin, in anything exported.
    const exported = receiver.bodies().join('\n');
    expect(exported).toContain(traceId);
    for (const secret of [issued.key, rootKey]) {
      expect(exported).not.toContain(secret);
      expect(exported).not.toContain(secret.slice(-38));
    }
  });

  it('starts a trace at the issuer for a NATS command that brings none, and follows it to the verifier', async () => {
    const { keyId } = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'tracing-nats' });
    const handlerName = `process ${apiSubject(ctx.topology.subjectPrefix, 'keys.revoke')}`;
    const revoked = await api.ok<{ fence: { complete: boolean } }>('keys.revoke', { keyId, reason: 'compromised', waitForVerifiers: true });
    expect(revoked.fence.complete).toBe(true);

    const handled = await eventually(
      'the revocation handled',
      () => receiver.spans().find((span) => span.service === 'issuer' && span.name === handlerName),
      Boolean,
      20_000,
    );
    expect(handled!.parentSpanId).toBeUndefined();
    const trace = await commandTrace(handled!.traceId, handlerName, 'KeyRevoked');
    expect(trace.handled.spanId).toBe(handled!.spanId);
    expect(trace.appended.parentSpanId).toBe(trace.handled.spanId);
    expect(trace.published.parentSpanId).toBe(trace.appended.spanId);
    expect(trace.verifierApplied.parentSpanId).toBe(trace.published.spanId);
    expect(trace.verifierApplied.attributes['keyledger.event.type']).toBe('KeyRevoked');
  });

  it("starts the trace at the keyledger command, whose request span is the parent of the issuer's handling", async () => {
    const { keyId, key } = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'tracing-cli' });
    const subject = apiSubject(ctx.topology.subjectPrefix, 'keys.suspend');
    const run = await runCli(ctx, ['keys', 'suspend', keyId, '--reason', 'traced from the CLI'], { adminKey: rootKey, env: otelEnv() });
    expect(run).toMatchObject({ code: 0, stderr: '' });

    // The command exits only after exporting its span: it is there as soon as the CLI is done.
    const sent = receiver.spans().find((span) => span.service === 'keyledger-cli' && span.name === `send ${subject}`);
    expect(sent?.kind).toBe(OTLP_SPAN_KIND.client);
    expect(sent?.parentSpanId).toBeUndefined();
    expect(sent?.attributes['messaging.destination.name']).toBe(subject);
    const trace = await commandTrace(sent!.traceId, `process ${subject}`, 'KeySuspended');
    expect(trace.handled.parentSpanId).toBe(sent!.spanId);
    expect(trace.appended.parentSpanId).toBe(trace.handled.spanId);
    expect(trace.verifierApplied.attributes['keyledger.event.type']).toBe('KeySuspended');

    const exported = receiver.bodies().join('\n');
    for (const secret of [key, rootKey]) expect(exported).not.toContain(secret.slice(-38));
  });

  it('answers a command whose trace cannot be exported, with a warning and its own exit code', async () => {
    const { keyId } = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'tracing-cli-lost' });
    const closed = { ...otelEnv(), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces' };
    const run = await runCli(ctx, ['keys', 'get', keyId, '--json'], { adminKey: rootKey, env: closed });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ keyId, owner: 'tracing-cli-lost' });
    expect(run.stderr).toMatch(/^warning: the command's trace was not exported \(.+\)\n$/);
  });

  it('sends no span from a command run without OTEL_* variables', async () => {
    const { keyId } = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'tracing-cli-off' });
    const run = await runCli(ctx, ['keys', 'suspend', keyId], { adminKey: rootKey });
    expect(run.code).toBe(0);
    const subject = apiSubject(ctx.topology.subjectPrefix, 'keys.suspend');
    // The issuer's handling of that command is exported as the root of a trace of its own.
    const handled = await eventually(
      'the suspension handled',
      () => receiver.spans().find((span) => span.service === 'issuer' && span.name === `process ${subject}` && span.parentSpanId === undefined),
      Boolean,
      20_000,
    );
    expect(receiver.spans().filter((span) => span.traceId === handled!.traceId && span.service === 'keyledger-cli')).toEqual([]);
  });
});
