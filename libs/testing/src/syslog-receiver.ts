import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { ParsedSyslogMessage } from '@keyledger/siem-format';
import { OctetCountingDecoder, parseRfc5424 } from '@keyledger/siem-format';

/**
 * A real syslog receiver on 127.0.0.1 (RFC 6587 octet counting over TCP, or RFC 5425 over TLS),
 * standing in for a SIEM's collector: every frame is parsed as RFC 5424, strictly; a frame that
 * does not parse is kept in `errors`, which a test expects empty.
 */
export interface SyslogReceiver {
  readonly port: number;
  /** TLS only: the certificate (PEM file) to trust, for `localhost` and 127.0.0.1. */
  readonly caFile: string | undefined;
  readonly messages: ParsedSyslogMessage[];
  readonly errors: string[];
  /** Closes the port and drops every connection, as a collector that goes down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startSyslogReceiver(options: { tls?: boolean } = {}): Promise<SyslogReceiver> {
  const dir = options.tls ? mkdtempSync(join(tmpdir(), 'keyledger-syslog-')) : undefined;
  const messages: ParsedSyslogMessage[] = [];
  const errors: string[] = [];
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket): void => {
    sockets.add(socket);
    const decoder = new OctetCountingDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const text of decoder.push(chunk)) messages.push(parseRfc5424(text));
      } catch (error) {
        errors.push(String(error));
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (!decoder.idle) errors.push('a connection closed in the middle of a frame');
    });
  };
  let makeServer: () => Server = () => createTcpServer(onConnection);
  if (dir) {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    const tlsOptions = { key: readFileSync(keyFile), cert: readFileSync(certFile) };
    makeServer = () => createTlsServer(tlsOptions, onConnection);
  }
  let server = makeServer();
  let port = 0;
  const listen = async (): Promise<void> => {
    server = makeServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  };
  await listen();
  let listening = true;
  const stop = async (): Promise<void> => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    get port() {
      return port;
    },
    caFile: dir && join(dir, 'cert.pem'),
    messages,
    errors,
    stop,
    async start() {
      await listen();
      listening = true;
    },
    async close() {
      await stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
