import { lookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { isPublicUnicastAddress } from '@keyledger/key-domain';

/** What a webhook POST came to: a 2xx status is an acknowledgement; anything else is retried. */
export type WebhookOutcome = { readonly ok: true; readonly status: number } | { readonly ok: false; readonly status?: number; readonly error: string };

export interface WebhookSenderOptions {
  /** Longest a POST may take, connection and answer included. */
  readonly timeoutMs: number;
  /** Extra CA certificates (PEM) trusted besides Node's bundled roots, e.g. a private CA. */
  readonly extraCa?: string | undefined;
  readonly userAgent?: string;
  /**
   * Whether webhooks may reach private, loopback, link-local and other non-public addresses.
   * Off by default: an admin who may register a webhook must not be able to point the rotator
   * at a service inside the network (or a cloud metadata endpoint).
   */
  readonly allowPrivateAddresses?: boolean;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A DNS lookup that keeps only public addresses, for the connection to use: the address checked
 * is the address connected to, so a name cannot resolve to a public address for the check and
 * to a private one for the connection.
 */
function publicOnlyLookup(hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const allowed = addresses.filter((candidate) => isPublicUnicastAddress(candidate.address));
    if (allowed.length === 0) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to no public address (${addresses.map((a) => a.address).join(', ')})`);
      refused.code = 'EADDRNOTPUBLIC';
      return callback(refused, []);
    }
    if (options.all) return callback(null, allowed);
    return callback(null, allowed[0]!.address, allowed[0]!.family);
  });
}

/** Longest answer body read (and thrown away) before the connection is dropped. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs to owners' webhooks over HTTPS only, verifying the server's certificate against Node's
 * roots and any extra CA, and only to public addresses unless told otherwise. Redirects are not
 * followed (a 3xx is a failure), so a delivery goes only to the registered URL. Never throws:
 * every outcome is a value.
 */
export class WebhookSender {
  private readonly ca: string[] | undefined;

  constructor(private readonly options: WebhookSenderOptions) {
    this.ca = options.extraCa ? [...rootCertificates, options.extraCa] : undefined;
  }

  /** Longest a POST may take. */
  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<WebhookOutcome> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.resolve({ ok: false, error: 'not a URL' });
    }
    if (target.protocol !== 'https:') return Promise.resolve({ ok: false, error: 'not an https URL' });
    const literal = target.hostname.replace(/^\[(.*)\]$/, '$1');
    // An address in the URL is connected to without a lookup: it is checked here.
    if (!this.options.allowPrivateAddresses && isIP(literal) !== 0 && !isPublicUnicastAddress(literal))
      return Promise.resolve({ ok: false, error: `${literal} is not a public address` });
    return new Promise<WebhookOutcome>((resolve) => {
      const outgoing = request(
        target,
        {
          method: 'POST',
          ...(this.ca ? { ca: this.ca } : {}),
          ...(this.options.allowPrivateAddresses ? {} : { lookup: publicOnlyLookup }),
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'user-agent': this.options.userAgent ?? 'keyledger-delivery',
          },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        },
        (response) => {
          const status = response.statusCode ?? 0;
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) response.destroy();
          });
          const done = (): void => resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
          response.on('end', done);
          response.on('close', done);
          response.on('error', done);
        },
      );
      outgoing.on('error', (error: Error) => resolve({ ok: false, error: error.name === 'AbortError' ? 'timed out' : error.message }));
      outgoing.end(body);
    });
  }
}
