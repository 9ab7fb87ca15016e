import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One request an HttpsReceiver got: the body exactly as sent, and its headers. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A real HTTPS server on 127.0.0.1 with a fresh self-signed certificate, standing in for a webhook receiver. */
export interface HttpsReceiver {
  /** `https://localhost:<port>`; the certificate is for `localhost` and `127.0.0.1`. */
  readonly url: string;
  /** The certificate (PEM) to trust: the receiver's own CA. */
  readonly caFile: string;
  readonly caPem: string;
  readonly requests: ReceivedRequest[];
  /** The status of each next answer, in order; once used up, `defaultStatus`. */
  readonly statuses: number[];
  defaultStatus: number;
  /**
   * Holds the answers to requests whose path starts with `path` (a webhook that does not answer):
   * they are recorded on arrival and answered once the returned function is called (or on close).
   */
  hold(path: string): () => void;
  close(): Promise<void>;
}

/**
 * Starts an HTTPS server whose self-signed certificate is made by the `openssl` command for
 * this test only; it records every request and answers the queued statuses.
 */
export async function startHttpsReceiver(): Promise<HttpsReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-https-'));
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const caPem = readFileSync(caFile, 'utf8');
  const requests: ReceivedRequest[] = [];
  const statuses: number[] = [];
  const receiver = { defaultStatus: 200 };
  const holds = new Map<string, (() => void)[]>();
  const release = (path: string): void => {
    for (const answer of holds.get(path) ?? []) answer();
    holds.delete(path);
  };
  const server = createServer({ key: readFileSync(keyFile), cert: caPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      requests.push({ method: request.method ?? '', path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = (): void => {
        response.statusCode = statuses.shift() ?? receiver.defaultStatus;
        response.end();
      };
      const held = [...holds.entries()].find(([prefix]) => path.startsWith(prefix));
      if (held) held[1].push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(receiver, {
    url: `https://localhost:${port}`,
    caFile,
    caPem,
    requests,
    statuses,
    hold(path: string) {
      holds.set(path, holds.get(path) ?? []);
      return () => release(path);
    },
    async close() {
      for (const path of [...holds.keys()]) release(path);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
