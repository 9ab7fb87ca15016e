import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '@nats-io/jwt';
import type { Account, User } from '@nats-io/jwt';
import type { BusNames } from './bus-permissions.js';
import { AUTH_FILES, NatsAuthError, NatsAuthStore, serviceCredsFile } from './auth-store.js';

const names: BusNames = {
  subjectPrefix: 'kl',
  eventStream: 'EV',
  deadLetterStream: 'EV_DLQ',
  usageStream: 'EV_USAGE',
  deliveryStream: 'EV_DELIVERY',
  notificationStream: 'EV_NOTIFICATIONS',
};

function jwtOf(creds: string): string {
  const match = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(creds);
  if (!match?.[1]) throw new Error('no JWT in creds');
  return match[1];
}

describe('NatsAuthStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nats-auth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the operator once and keeps it', async () => {
    const first = await NatsAuthStore.open(dir, { create: true });
    const again = await NatsAuthStore.open(dir, { create: false });
    expect(again.account).toBe(first.account);
    expect((await stat(join(dir, AUTH_FILES.state))).mode & 0o777).toBe(0o600);
  });

  it('refuses to open a missing store unless asked to create it', async () => {
    await expect(NatsAuthStore.open(join(dir, 'none'), { create: false })).rejects.toMatchObject({ code: 'NO_AUTH_STORE' });
  });

  it('writes each service its creds, signed by the account, private to the owner', async () => {
    const store = await NatsAuthStore.open(dir, { create: true });
    await store.writeServerFiles(names);
    const creds = await readFile(serviceCredsFile(dir, 'relay'), 'utf8');
    const claims = decode<User>(jwtOf(creds));
    expect(claims.iss).toBe(store.account);
    expect(claims.name).toBe('relay');
    expect(claims.nats.pub?.allow).toContain('kl.events.>');
    expect((await stat(serviceCredsFile(dir, 'relay'))).mode & 0o777).toBe(0o600);
    const config = await readFile(join(dir, AUTH_FILES.serverConfig), 'utf8');
    expect(config).toContain('resolver: MEMORY');
    expect(config).toContain(`${store.account}: `);
  });

  it('mints a client once by name and revokes it in the account JWT and the server configuration', async () => {
    const store = await NatsAuthStore.open(dir, { create: true });
    await store.writeServerFiles(names);
    const creds = await store.addClient('billing', ['verify'], names, new Date('2026-01-01T00:00:00.200Z'));
    expect(decode<User>(jwtOf(creds)).nats.pub?.allow).toEqual(['kl.v1.keys.verify', 'kl.v1.keys.verify-batch']);
    await expect(store.addClient('billing', ['admin'], names, new Date())).rejects.toMatchObject({ code: 'CLIENT_EXISTS' });
    const { accountJwt } = await store.revokeClient('billing', new Date('2026-01-01T00:00:00.200Z'));
    const publicKey = store.clients()[0]!.publicKey;
    expect(decode<Account>(accountJwt).nats.revocations).toEqual({ [publicKey]: Date.parse('2026-01-01T00:00:01Z') / 1000 });
    expect(await readFile(join(dir, AUTH_FILES.serverConfig), 'utf8')).toContain(accountJwt);
    const reopened = await NatsAuthStore.open(dir, { create: false });
    expect(reopened.revocations()).toEqual({ [publicKey]: Date.parse('2026-01-01T00:00:01Z') / 1000 });
    await expect(reopened.revokeClient('billing', new Date())).rejects.toBeInstanceOf(NatsAuthError);
  });

  it('refuses a bad client name or permission and registers nothing', async () => {
    const store = await NatsAuthStore.open(dir, { create: true });
    await expect(store.addClient('Bad Name', ['verify'], names, new Date())).rejects.toMatchObject({ code: 'INVALID_CLIENT' });
    await expect(store.addClient('ok', ['root'], names, new Date())).rejects.toMatchObject({ code: 'INVALID_CLIENT' });
    expect((await NatsAuthStore.open(dir, { create: false })).clients()).toEqual([]);
  });
});
