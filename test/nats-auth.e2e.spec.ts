import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { MIN_QUIET_PERIOD_MS, apiSubject, auditCheckpointsSubject, deliverySubject, eventSubject, usageSubject, verifierAppliedSubject } from '@keyledger/contracts';
import type { AuditCheckpoint, KeyUsage, KeyView, VerifyResult } from '@keyledger/contracts';
import { openNote, parseCheckpoint, parseVerifierKey } from '@keyledger/transparency-log';
import { SERVICE_ROLES } from '@keyledger/nats-auth';
import { formatNewKey } from '@keyledger/key-domain';
import type { AuthenticatedNats, RunningServices, TestContext } from '@keyledger/testing';
import { connectNats } from '@keyledger/event-bus';
import { createTestContext, eventually, runCli, serviceOutput, spawnService, startAuthenticatedNats, startServices, waitForExit } from '@keyledger/testing';

/** Resolves with the error the server closed a subscription with (a permission violation), or undefined. */
async function subscriptionRefusal(nc: NatsConnection, subject: string): Promise<string | undefined> {
  const sub = nc.subscribe(subject);
  const closed = sub.closed.then((error) => (error instanceof Error ? error.message : undefined));
  await nc.flush();
  const outcome = await Promise.race([closed, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 1000))]);
  sub.unsubscribe();
  return outcome === 'open' ? undefined : outcome;
}

/** Whether a message published by `nc` on `subject` reaches a subscriber that may read it (the services' own messages aside). */
async function delivered(nc: NatsConnection, observer: NatsConnection, subject: string): Promise<boolean> {
  const marker = `forged-${randomBytes(6).toString('hex')}`;
  const sub = observer.subscribe(subject);
  await observer.flush();
  nc.publish(subject, marker);
  await nc.flush().catch(() => undefined);
  const got = await Promise.race([
    (async () => {
      for await (const message of sub) if (message.string() === marker) return true;
      return false;
    })(),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
  ]);
  sub.unsubscribe();
  return got;
}

describe('NATS with operator, accounts and per-service users', () => {
  let ctx: TestContext;
  let nats: AuthenticatedNats;
  const running: RunningServices[] = [];
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let admin: NatsConnection;
  let verifyClient: NatsConnection;
  let operator: NatsConnection;

  beforeAll(async () => {
    ctx = await createTestContext('natsauth', {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology);
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
    operator = ctx.nc;
    admin = await nats.connectWith(await nats.store.addClient('ops', ['admin'], ctx.topology, new Date()), 'ops');
    verifyClient = await nats.connectWith(await nats.store.addClient('billing', ['verify'], ctx.topology, new Date()), 'billing');
    // One user per service: each starts with its own creds. The relay first: the issuer and the
    // verifier are ready once they have applied a store head its heartbeat announced.
    for (const service of ['relay' as const, ...SERVICE_ROLES.filter((role) => role !== 'relay')]) {
      running.push(
        await startServices(ctx, [service], {
          KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
          NATS_CREDS: nats.credsFile(service),
          ROTATOR_INTERVAL_MS: '1000',
          DELIVERY_RETRY_MIN_MS: '500',
        }),
      );
    }
  });

  afterAll(async () => {
    running.forEach((services) => services.stop());
    await Promise.all([admin?.close(), verifyClient?.close()]);
    await ctx?.close();
    await nats?.stop();
  });

  const prefix = (): string => ctx.topology.subjectPrefix;

  async function adminCall<T>(operation: string, body: unknown): Promise<{ ok: boolean; result?: T; error?: { code: string } }> {
    const h = headers();
    h.set('Authorization', `Bearer ${rootKey}`);
    return (await admin.request(apiSubject(prefix(), operation), JSON.stringify(body), { timeout: 15_000, headers: h })).json();
  }

  it('refuses a connection without a user', async () => {
    await expect(connect({ servers: nats.url, maxReconnectAttempts: 0, timeout: 5000 })).rejects.toThrow(/Authorization Violation/);
  });

  it('runs every service on its own user: an admin client issues a key, a verify client verifies it, the auditor counts the use', async () => {
    await eventually('admin key accepted', () => adminCall('keys.list', { tenant: 'acme' }).then((reply) => reply.ok), Boolean, 30_000);
    const issued = await adminCall<{ key: string; view: KeyView }>('keys.issue', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] });
    expect(issued.ok).toBe(true);
    const verdict = await eventually(
      'the verifier knows the key',
      async () =>
        (
          await verifyClient.request(apiSubject(prefix(), 'keys.verify'), JSON.stringify({ key: issued.result!.key, scopes: ['orders:read'] }), {
            timeout: 10_000,
          })
        ).json<VerifyResult>(),
      (result) => result.valid,
      30_000,
    );
    expect(verdict).toMatchObject({ valid: true, code: 'VALID' });
    // Verifier → usage stream → auditor's durable consumer → the admin's usage query.
    await eventually(
      'the auditor has the use',
      () => adminCall<KeyUsage>('usage.key', { keyId: issued.result!.view.keyId, by: 'minute' }),
      (reply) => (reply.result?.totals.valid ?? 0) >= 1,
      60_000,
    );
    for (const service of running.flatMap((services) => services.all)) {
      const health = (await (await fetch(`http://127.0.0.1:${service.httpPort}/health/ready`)).json()) as { details: { nats: { bus: string } } };
      expect(health.details.nats.bus).toBe('authenticated');
    }
    expect(nats.log()).not.toMatch(/Violation/);
  });

  it('lets an admin client ask the auditor for a checkpoint and hear checkpoints published, and a verify client neither', async () => {
    await eventually('admin key accepted', () => adminCall('keys.list', { tenant: 'acme' }).then((reply) => reply.ok), Boolean, 30_000);
    const heard = new Promise<string>((resolve) => admin.subscribe(auditCheckpointsSubject(prefix()), { max: 1, callback: (_error, message) => resolve(message.string()) }));
    await admin.flush();
    expect((await adminCall('keys.issue', { tenant: 'acme', owner: 'audited' })).ok).toBe(true);
    // The new event makes the tree grow: the refresh signs a checkpoint, which is also published.
    const reply = await adminCall<AuditCheckpoint>('audit.checkpoint', { refresh: true });
    const key = parseVerifierKey(ctx.auditVerifierKey);
    expect(parseCheckpoint(openNote(reply.result!.note, [key]).text).size).toBe(reply.result!.treeSize);
    expect(parseCheckpoint(openNote(await heard, [key]).text).size).toBeGreaterThan(0);
    await expect(verifyClient.request(apiSubject(prefix(), 'audit.checkpoint'), '{}', { timeout: 5000 })).rejects.toThrow(/Permissions Violation|timeout/i);
    expect(await subscriptionRefusal(verifyClient, auditCheckpointsSubject(prefix()))).toMatch(/Permissions Violation/);
  });

  it('lets the CLI find its credentials in .keyledger/nats-auth without flags, and fails in one line without them', async () => {
    const home = mkdtempSync(join(tmpdir(), 'keyledger-cli-home-'));
    try {
      mkdirSync(join(home, '.keyledger', 'nats-auth'), { recursive: true });
      mkdirSync(join(home, 'project', 'src'), { recursive: true });
      writeFileSync(join(home, '.keyledger', 'nats-auth', 'cli.creds'), await nats.store.addClient('cli', ['admin'], ctx.topology, new Date()), {
        mode: 0o600,
      });
      const cli = (cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: nats.url, KEYLEDGER_SUBJECT_PREFIX: prefix() };
          delete env['NATS_CREDS'];
          execFile(process.execPath, [fileURLToPath(new URL('../bin/keyledger.mjs', import.meta.url)), ...args], { cwd, env }, (error, stdout, stderr) =>
            resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
          );
        });
      const status = await cli(join(home, 'project', 'src'), ['status', '--json']);
      const report = JSON.parse(status.stdout) as { ready: boolean; bus: string };
      expect(report).toMatchObject({ ready: true, bus: 'authenticated' });
      const refused = await cli(tmpdir(), ['--creds', join(home, 'missing.creds'), 'status']);
      expect(refused).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error: cannot read the NATS credentials .*missing\.creds \(ENOENT\)\n$/) });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('keeps a verify client to keys.verify: it can read no one else’s traffic', async () => {
    for (const subject of [
      apiSubject(prefix(), 'keys.verify'),
      '_INBOX.>',
      '_INBOX.client-ops.>',
      '_INBOX.issuer.>',
      `${prefix()}.events.>`,
      '$JS.API.>',
      '>',
    ]) {
      expect(await subscriptionRefusal(verifyClient, subject)).toMatch(/Permissions Violation/);
    }
  });

  it('keeps a verify client from publishing events, verifier announcements, usage or admin requests', async () => {
    for (const subject of [
      eventSubject(prefix(), 'key', 'KeyRevoked'),
      verifierAppliedSubject(prefix()),
      `${prefix()}.v1.verifiers.consumption`,
      usageSubject(prefix()),
      apiSubject(prefix(), 'usage.last-used'),
      apiSubject(prefix(), 'keys.issue'),
    ]) {
      expect(await delivered(verifyClient, operator, subject)).toBe(false);
    }
    // The same observer does see a message a permitted user sends: the check above can fail.
    expect(await delivered(operator, operator, eventSubject(prefix(), 'key', 'KeyRevoked'))).toBe(true);
  });

  it('lets no one but the operator identity delete or purge a stream', async () => {
    const before = (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages;
    expect(before).toBeGreaterThan(0);
    for (const role of ['relay', 'auditor'] as const) {
      const nc = await nats.connectAs(role);
      const jsm = await jetstreamManager(nc);
      await expect(jsm.streams.purge(ctx.topology.eventStream)).rejects.toThrow(/Permissions Violation|timeout/i);
      await expect(jsm.streams.delete(ctx.topology.eventStream)).rejects.toThrow(/Permissions Violation|timeout/i);
      await nc.close();
    }
    await expect(jetstreamManager(verifyClient)).rejects.toThrow();
    expect((await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages).toBe(before);
  });

  it("refuses a verifier's update of the event stream that would capture verify requests, and leaves the stream as it was", async () => {
    const stream = ctx.topology.eventStream;
    const before = (await ctx.jsm.streams.info(stream)).config;
    const verifier = await nats.connectAs('verifier');
    try {
      const jsm = await jetstreamManager(verifier);
      // Reading the configuration is what a service does at start, and is allowed.
      expect((await jsm.streams.info(stream)).config.subjects).toEqual(before.subjects);
      await expect(jsm.streams.update(stream, { subjects: [...before.subjects, `${prefix()}.v1.keys.>`] })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.update(stream, { max_bytes: 1024, max_age: nanos(1000) })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.add({ name: `${stream}_CAPTURE`, subjects: [`${prefix()}.v1.keys.>`] })).rejects.toThrow(/Permissions Violation/);
    } finally {
      await verifier.close();
    }
    expect((await ctx.jsm.streams.info(stream)).config).toEqual(before);
    await expect(ctx.jsm.streams.info(`${stream}_CAPTURE`)).rejects.toThrow(/stream not found/);
  });

  it("keeps a verifier from pulling from, reading, acknowledging or re-creating the auditor's durable consumer", async () => {
    const stream = ctx.topology.eventStream;
    const before = await ctx.jsm.consumers.info(stream, 'auditor-trail');
    const verifier = await nats.connectAs('verifier');
    try {
      const jsm = await jetstreamManager(verifier);
      await expect(
        verifier.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.auditor-trail`, JSON.stringify({ batch: 10, expires: nanos(2000) }), { timeout: 5000 }),
      ).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.consumers.info(stream, 'auditor-trail')).rejects.toThrow(/Permissions Violation/);
      // Re-created under its name, with and without a filter: another ack wait would hand its messages out again and again.
      for (const filter of [{}, { filter_subject: `${prefix()}.events.>` }]) {
        await expect(
          jsm.consumers.add(stream, { durable_name: 'auditor-trail', ack_policy: AckPolicy.Explicit, ack_wait: nanos(1000), ...filter }),
        ).rejects.toThrow(/Permissions Violation/);
      }
      expect(await delivered(verifier, operator, `$JS.ACK.${stream}.auditor-trail.1.1.1.1700000000000000000.0`)).toBe(false);
    } finally {
      await verifier.close();
    }
    const after = await ctx.jsm.consumers.info(stream, 'auditor-trail');
    expect(after.config).toEqual(before.config);
    expect(after.delivered.stream_seq).toBeGreaterThanOrEqual(before.delivered.stream_seq);
  });

  it('lets the migrate identity configure the streams, and neither delete nor purge them', async () => {
    const stream = ctx.topology.eventStream;
    const before = (await ctx.jsm.streams.info(stream)).state.messages;
    const migrate = await nats.connectAs('migrate');
    try {
      const jsm = await jetstreamManager(migrate);
      // What the migrate job does: the same configuration again is accepted.
      const config = (await jsm.streams.info(stream)).config;
      expect((await jsm.streams.update(stream, { max_bytes: config.max_bytes })).config.max_bytes).toBe(config.max_bytes);
      await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.deleteMessage(stream, 1)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.consumers.delete(stream, 'auditor-trail')).rejects.toThrow(/Permissions Violation/);
    } finally {
      await migrate.close();
    }
    expect((await ctx.jsm.streams.info(stream)).state.messages).toBe(before);
  });

  it('stops a service at start, in one line naming the stream, while a stream is not as configured, until the migrate job has configured it', async () => {
    const { eventStream, deadLetterStream } = ctx.topology;
    const expected = (await ctx.jsm.streams.info(eventStream)).config.max_bytes;
    // Changed by hand (as the operator identity may), and a stream lost.
    await ctx.jsm.streams.update(eventStream, { max_bytes: expected + 1024 * 1024 });
    await ctx.jsm.streams.delete(deadLetterStream);
    const refused = spawnService(ctx, 'anomaly-detector', { NATS_CREDS: nats.credsFile('anomaly-detector') });
    expect(await waitForExit(refused)).toBe(78);
    expect(serviceOutput(refused).trim().split('\n')).toEqual([
      `anomaly-detector: stream ${eventStream} differs from this configuration (max_bytes is ${expected + 1024 * 1024}, expected ${expected}): run \`keyledger migrate\` with the same stream settings; it alone configures the streams`,
    ]);
    expect((await ctx.jsm.streams.info(eventStream)).config.max_bytes).toBe(expected + 1024 * 1024);

    const migrate = spawnService(ctx, 'migrate', { NATS_CREDS: nats.credsFile('migrate') });
    expect([await waitForExit(migrate), serviceOutput(migrate)]).toEqual([
      0,
      expect.stringContaining(`streams: ${eventStream} updated, ${deadLetterStream} created,`),
    ]);
    expect((await ctx.jsm.streams.info(eventStream)).config.max_bytes).toBe(expected);
    running.push(await startServices(ctx, ['anomaly-detector'], { NATS_CREDS: nats.credsFile('anomaly-detector') }));
  });

  it("shows a deliveries client only its owner's deliveries, which it may acknowledge", async () => {
    const own = deliverySubject(prefix(), 'acme', 'billing');
    const other = deliverySubject(prefix(), 'acme', 'payroll');
    await ctx.js.publish(other, JSON.stringify({ for: 'payroll' }));
    await ctx.js.publish(own, JSON.stringify({ for: 'billing' }));
    const client = await nats.connectWith(await nats.store.addClient('billing-app', ['deliveries:acme/billing'], ctx.topology, new Date()), 'billing-app');
    try {
      const stream = await (await jetstreamManager(client)).streams.find(own);
      const consumer = await jetstream(client).consumers.get(stream, { filter_subjects: own });
      const message = await consumer.next({ expires: 5000 });
      expect(message?.json()).toEqual({ for: 'billing' });
      await expect(
        jetstream(client)
          .consumers.get(stream, { filter_subjects: other })
          .then((c) => c.next({ expires: 2000 })),
      ).rejects.toThrow();
      expect(await subscriptionRefusal(client, `${prefix()}.v1.delivery.>`)).toMatch(/Permissions Violation/);
      // The acknowledgement subject is the client's to publish on (the rotator answers it; not running here).
      expect(await delivered(client, operator, `${prefix()}.v1.deliveries.ack`)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('cuts a revoked client off at once, without restarting NATS', async () => {
    const creds = await nats.store.addClient('doomed', ['verify'], ctx.topology, new Date());
    const doomed = await nats.connectWith(creds, 'doomed');
    const closed = doomed.closed();
    const revoked = await runCli(ctx, ['clients', '--auth-dir', nats.authDir, '--event-stream', ctx.topology.eventStream, 'revoke', 'doomed'], {
      env: { NATS_URL: nats.url },
    });
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect(String(await closed)).toMatch(/Authorization Violation|Revoked/);
    await expect(nats.connectWith(creds, 'doomed-again')).rejects.toThrow(/Authorization Violation/);
    const listed = await runCli(ctx, ['--json', 'clients', '--auth-dir', nats.authDir, 'list']);
    expect(JSON.parse(listed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'doomed', revokedAt: expect.any(String) })]));
    // Others are untouched.
    expect(verifyClient.isClosed()).toBe(false);
  });

  it('never refused a service anything it does while running', async () => {
    // The rotator looks for due keys every second here, and asks the auditor for last uses on rotation.
    // An owner with a public key: its rotated key is sealed and delivered on NATS (issuer, then the rotator's resends).
    const publicKey = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await adminCall('owners.register-public-key', { tenant: 'acme', owner: 'payroll', publicKey })).ok).toBe(true);
    const issued = await adminCall<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'payroll' });
    const rotated = await adminCall('keys.rotate', { keyId: issued.result!.keyId, graceMs: 60_000, quietPeriodMs: MIN_QUIET_PERIOD_MS });
    expect(rotated.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const refusals = nats
      .log()
      .split('\n')
      .filter((line) => /Violation/.test(line) && /keyledger-/.test(line));
    expect(refusals).toEqual([]);
  });
});

describe('NATS over mutual TLS', () => {
  let ctx: TestContext;
  let nats: AuthenticatedNats;
  const running: RunningServices[] = [];

  beforeAll(async () => {
    ctx = await createTestContext('natstls', {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology, { tls: true });
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8'), tls: nats.tls };
      },
    });
  });

  afterAll(async () => {
    running.forEach((services) => services.stop());
    await ctx?.close();
    await nats?.stop();
  });

  it('refuses a client without a certificate the CA signed, even with valid credentials', async () => {
    const creds = readFileSync(nats.credsFile('relay'), 'utf8');
    await expect(
      connectNats({ servers: nats.url, name: 'no-cert', creds: { text: creds, userName: 'relay' }, tls: { caFile: nats.tls!.caFile }, timeoutMs: 5000 }),
    ).rejects.toThrow();
    await (await nats.connectAs('relay')).close();
  });

  it('runs a service with NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE', async () => {
    running.push(
      await startServices(ctx, ['anomaly-detector'], {
        NATS_CREDS: nats.credsFile('anomaly-detector'),
        NATS_TLS_CA_FILE: nats.tls!.caFile,
        NATS_TLS_CERT_FILE: nats.tls!.certFile,
        NATS_TLS_KEY_FILE: nats.tls!.keyFile,
      }),
    );
    const health = (await (await fetch(`http://127.0.0.1:${running[0]!.all[0]!.httpPort}/health/ready`)).json()) as {
      details: { nats: { status: string; bus: string } };
    };
    expect(health.details.nats).toMatchObject({ status: 'up', bus: 'authenticated' });
  });
});
