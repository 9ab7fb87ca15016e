import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import type { KeyDeliveredData } from '@keyledger/contracts';
import { ROOT_TENANT, deliverySubject, streamIdOf } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { SealedKeyPublisher, ackTokenHash, openSealedKey, x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import { PendingDeliveries } from '@keyledger/pending-deliveries';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, openDelivered } from '@keyledger/testing';
import type { CommandContext } from '@keyledger/admin-auth';
import { KeyCommands } from '@keyledger/key-commands';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { KeyDeliveries } from './key-deliveries.js';
import { KeyRotation } from './key-rotation.js';

describe('delivery of rotated keys', () => {
  let ctx: TestContext;
  let keys: KeyCommands;
  let rotation: KeyRotation;
  let tenants: TenantSettingsCommands;
  const owner = generateKeyPairSync('x25519');
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const issue = (ownerName: string) =>
    keys.issue({ tenant: 'acme', owner: ownerName, environment: 'live', scopes: ['orders:read'], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);

  /** Every delivery stored for one owner (its raw body), oldest first, read as an offline client would on reconnecting. */
  async function envelopesFor(ownerName: string): Promise<Uint8Array[]> {
    const consumer = await ctx.js.consumers.get(ctx.topology.deliveryStream, {
      filter_subjects: deliverySubject(ctx.topology.subjectPrefix, 'acme', ownerName),
    });
    const found: Uint8Array[] = [];
    for (;;) {
      const message = await consumer.next({ expires: 1000 });
      if (!message) return found;
      found.push(message.data);
    }
  }

  beforeAll(async () => {
    ctx = await createTestContext('key-delivery');
    const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
    const delivery = new KeyDeliveries(
      { store: ctx.store, pending: new PendingDeliveries(ctx.appDb), publisher: new SealedKeyPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.deliverySigner) },
      { retry: { minMs: 5000, maxMs: 60_000 }, ttlMs: 3_600_000 },
    );
    const deps = { store: ctx.store, hasher, index: new KeyIndex(), delivery };
    keys = new KeyCommands(deps);
    rotation = new KeyRotation(deps);
    tenants = new TenantSettingsCommands(deps);
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('publishes each new key sealed to the owner’s public key, keeps the sealed copy until acknowledged and records KeyDelivered, never the plaintext', async () => {
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing service', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const first = await issue('billing service');
    const second = await rotation.rotate({ keyId: first.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
    const third = await rotation.rotate({ keyId: second.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
    expect([second.delivery, third.delivery]).toEqual(['DELIVERED', 'DELIVERED']);

    const envelopes = await envelopesFor('billing service');
    const receiver = { tenant: 'acme', owner: 'billing service', privateKey: owner.privateKey };
    const opened = envelopes.map((envelope) => openDelivered(ctx, envelope, receiver));
    expect(opened).toMatchObject([
      { keyId: second.keyId, key: second.key },
      { keyId: third.keyId, key: third.key },
    ]);
    expect(envelopes.map((envelope) => JSON.parse(Buffer.from(envelope).toString()) as unknown)).toMatchObject([
      { delivery: 1, tenant: 'acme', owner: 'billing service', envelope: { v: 2 }, signature: { alg: 'Ed25519', kid: 1 } },
      { delivery: 1, envelope: { v: 2 } },
    ]);
    for (const [i, rotated] of [second, third].entries()) {
      const [delivered] = await ctx.store.readStream(streamIdOf('delivery', rotated.keyId));
      expect(delivered?.type).toBe('KeyDelivered');
      expect(delivered?.data as KeyDeliveredData).toMatchObject({
        keyId: rotated.keyId,
        tenant: 'acme',
        owner: 'billing service',
        publicKey: x25519PublicKeyToBase64(owner.publicKey),
        ackTokenHash: ackTokenHash(opened[i]!.ackToken!),
        channels: ['nats'],
      });
    }
    // The sealed copy waits in Postgres for the acknowledgement: sent once, the next send scheduled.
    const rows = await ctx.appDb.query<{ key_id: string; channel: string; attempts: number; envelope: string }[]>(
      `select key_id, channel, attempts, envelope from pending_deliveries order by key_id`,
    );
    expect(rows.map((row) => [row.key_id, row.channel, row.attempts])).toEqual([
      [second.keyId, 'nats', 1],
      [third.keyId, 'nats', 1],
    ]);
    expect(openSealedKey(JSON.parse(rows[0]!.envelope), owner.privateKey).key).toBe(second.key);
    const stored = JSON.stringify(await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events)) + JSON.stringify(await ctx.ownerDb.query(`select * from pending_deliveries`));
    for (const key of [first.key, second.key, third.key]) expect(stored).not.toContain(key);
  });

  it('sends nothing for an owner without a public key, and only to the owner’s latest key', async () => {
    const unregistered = await issue('orders');
    const rotated = await rotation.rotate({ keyId: unregistered.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
    expect(rotated.delivery).toBe('NO_PUBLIC_KEY');
    expect(await envelopesFor('orders')).toEqual([]);
    expect(await ctx.store.streamVersion(streamIdOf('delivery', rotated.keyId))).toBe(0);

    const replaced = generateKeyPairSync('x25519');
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'orders', publicKey: x25519PublicKeyToBase64(replaced.publicKey) }, admin);
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'orders', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const next = await rotation.rotate({ keyId: rotated.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
    const [envelope] = await envelopesFor('orders');
    expect(() => openDelivered(ctx, envelope!, { tenant: 'acme', owner: 'orders', privateKey: replaced.privateKey })).toThrow('could not be opened');
    expect(openDelivered(ctx, envelope!, { tenant: 'acme', owner: 'orders', privateKey: owner.privateKey })).toMatchObject({ keyId: next.keyId, key: next.key });
  });

  it('reads the tenant’s stream once per rotation, for its quiet period, the owner’s public key and its webhook', async () => {
    const first = await issue('billing service');
    const tenantStream = streamIdOf('tenant', 'acme');
    const read = jest.spyOn(ctx.store, 'readStream');
    try {
      const rotated = await rotation.rotate({ keyId: first.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
      expect(rotated.delivery).toBe('DELIVERED');
      expect(read.mock.calls.filter(([streamId]) => streamId === tenantStream)).toHaveLength(1);
    } finally {
      read.mockRestore();
    }
  });

  it('reads the store twice per rotation: the old key’s stream and the tenant’s, nothing again and no replacement stream', async () => {
    const first = await issue('billing service');
    const reads = [jest.spyOn(ctx.store, 'readStream'), jest.spyOn(ctx.store, 'streamVersion'), jest.spyOn(ctx.store, 'readAll')];
    try {
      const rotated = await rotation.rotate({ keyId: first.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin);
      expect(rotated.delivery).toBe('DELIVERED');
      expect(reads.flatMap((read) => read.mock.calls.map(([stream]) => stream))).toEqual([streamIdOf('key', first.keyId), streamIdOf('tenant', 'acme')]);
    } finally {
      for (const read of reads) read.mockRestore();
    }
  });

  it('reports NOT_CONFIGURED where no publisher is given', async () => {
    const plain = new KeyRotation({ store: ctx.store, hasher: new KeyHasher([{ version: 1, secret: randomBytes(32) }]), index: new KeyIndex() });
    const key = await issue('billing service');
    expect((await plain.rotate({ keyId: key.keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false }, admin)).delivery).toBe('NOT_CONFIGURED');
  });
});
