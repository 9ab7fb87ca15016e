import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@keyledger/event-bus';
import type { BusNames, BusRole } from '@keyledger/nats-auth';
import { AUTH_FILES, NatsAuthStore, credsUserName, serviceCredsFile } from '@keyledger/nats-auth';
import { freePort } from './free-port.js';

/** A nats-server of its own, started with the shipped operator/account/users configuration. */
export interface AuthenticatedNats {
  readonly url: string;
  /** The auth store: operator, accounts, service users and the client registry. */
  readonly authDir: string;
  readonly store: NatsAuthStore;
  /** The `.creds` file of a service's user (or of the operator identity). */
  credsFile(role: BusRole): string;
  /** Connects with `.creds` text, failing on the first refusal (no retries). */
  connectWith(creds: string, name: string): Promise<NatsConnection>;
  connectAs(role: BusRole): Promise<NatsConnection>;
  /** With `tls`: the CA, and a client certificate and key it signed (PEM files). */
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string } | undefined;
  /** The server's log so far. */
  log(): string;
  /** Stops the server process (SIGSTOP) with its connections open, as a hung server: nothing answers. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
  /** Shuts the server down (SIGTERM) and waits for it to exit, keeping its JetStream store, as an operator's restart does. */
  halt(): Promise<void>;
  /**
   * Starts a halted server again on the same port and store; resolves once it accepts connections.
   * `jetStreamLateMs`: first runs it that long without JetStream (clients reconnect, JetStream
   * requests find no responder), as a clustered JetStream electing its leaders after a restart.
   * `maxPayload`: the max_payload it comes back with (as before when unset).
   */
  restart(options?: { readonly jetStreamLateMs?: number; readonly maxPayload?: number }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `nats-server` with JetStream on a free port, configured as `npm start` configures
 * it: a trusted operator, the system account and Keyledger's account in a memory resolver,
 * and the service users minted from the permission table for `names`.
 */
export async function startAuthenticatedNats(
  names: BusNames,
  /** `maxPayload`: the server's max_payload in bytes (NATS's default, 1 MiB, when unset). */
  options: { readonly tls?: boolean; readonly maxPayload?: number } = {},
): Promise<AuthenticatedNats> {
  const dir = await mkdtemp(join(tmpdir(), 'keyledger-nats-auth-'));
  const tls = options.tls ? await makeCertificates(dir) : undefined;
  const authDir = join(dir, 'auth');
  const store = await NatsAuthStore.open(authDir, { create: true });
  await store.writeServerFiles(names);
  const port = await freePort();
  const config = join(dir, 'nats-server.conf');
  let maxPayload = options.maxPayload;
  const lines = (jetStream: boolean): string =>
    [
      `host: 127.0.0.1`,
      `port: ${port}`,
      ...(maxPayload === undefined ? [] : [`max_payload: ${maxPayload}`]),
      ...(jetStream ? [`jetstream: { store_dir: ${JSON.stringify(join(dir, 'js'))} }`] : []),
      // Relative: nats-server resolves an include against the including file's folder.
      `include ${JSON.stringify(join('auth', AUTH_FILES.serverConfig))}`,
      // Mutual TLS: the server's certificate from the test CA, and clients must present one it signed.
      ...(tls
        ? [
            `tls { cert_file: ${JSON.stringify(tls.serverCert)}, key_file: ${JSON.stringify(tls.serverKey)}, ca_file: ${JSON.stringify(tls.caFile)}, verify: true }`,
          ]
        : []),
      '',
    ].join('\n');
  await writeFile(config, lines(true));
  // The same server without JetStream: clients connect, JetStream requests find no responder.
  const configWithoutJetStream = join(dir, 'nats-server-no-js.conf');
  await writeFile(configWithoutJetStream, lines(false));
  const output: Buffer[] = [];
  const launch = (file = config): ChildProcess => {
    const started = spawn('nats-server', ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
    started.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
    return started;
  };
  let child = launch();
  const url = `nats://127.0.0.1:${port}`;
  const connectWith = (creds: string, name: string): Promise<NatsConnection> =>
    connectNats({
      servers: url,
      name,
      creds: { text: creds, userName: credsUserName(creds) ?? name },
      tls: tls && { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile },
      timeoutMs: 5000,
    });
  const credsFile = (role: BusRole): string => serviceCredsFile(authDir, role);
  const log = (): string => Buffer.concat(output).toString('utf8');
  const accepting = async (): Promise<void> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await (await connectWith(readFileSync(credsFile('operator'), 'utf8'), 'readiness')).close();
        return;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) {
          child.kill('SIGKILL');
          throw new Error(`nats-server with auth did not start: ${String(error)}\n${log()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };
  const halt = async (): Promise<void> => {
    child.kill('SIGCONT');
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  };
  await accepting();
  return {
    url,
    authDir,
    store,
    credsFile,
    connectWith,
    tls: tls && { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile },
    connectAs: (role) => connectWith(readFileSync(credsFile(role), 'utf8'), `test-${role}`),
    log,
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
    halt,
    async restart(options = {}) {
      if (options.maxPayload !== undefined) {
        maxPayload = options.maxPayload;
        await writeFile(config, lines(true));
        await writeFile(configWithoutJetStream, lines(false));
      }
      if (options.jetStreamLateMs !== undefined) {
        child = launch(configWithoutJetStream);
        await accepting();
        await new Promise((resolve) => setTimeout(resolve, options.jetStreamLateMs));
        await halt();
      }
      child = launch();
      await accepting();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makeCertificates(dir: string): Promise<{ caFile: string; serverCert: string; serverKey: string; certFile: string; keyFile: string }> {
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=keyledger-test-ca');
  for (const [name, extension] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    await writeFile(file(`${name}.ext`), extension);
    openssl('req', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=keyledger-test-${name}`);
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file(`${name}.pem`),
      '-days',
      '1',
      '-extfile',
      file(`${name}.ext`),
    );
  }
  return { caFile: file('ca.pem'), serverCert: file('server.pem'), serverKey: file('server.key'), certFile: file('client.pem'), keyFile: file('client.key') };
}
