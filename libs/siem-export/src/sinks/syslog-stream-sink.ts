import type { Socket } from 'node:net';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { SiemFormat, SyslogOrigin } from '@keyledger/siem-format';
import { formatRfc5424, frameOctetCounting } from '@keyledger/siem-format';
import type { SiemLine, SiemSink } from './siem-sink.js';

export interface SyslogStreamSettings {
  readonly host: string;
  readonly port: number;
  /** TLS (RFC 5425) with these CAs, or Node's when undefined; absent: plain TCP. */
  readonly tls?: { readonly ca?: string };
  readonly origin: SyslogOrigin;
  readonly connectTimeoutMs?: number;
  /** A connection with nothing written or read for this long is closed (a stalled write fails). */
  readonly idleTimeoutMs?: number;
}

/**
 * Sends records as RFC 5424 messages over TCP or TLS, framed by octet counting (RFC 6587), one
 * connection kept open. A batch counts as written once the socket flushed it to the kernel:
 * syslog has no acknowledgement, so a batch in flight when the receiver dies can be lost;
 * a connection the receiver closed is dropped before the next batch, never written into.
 */
export class SyslogStreamSink implements SiemSink {
  private socket: Socket | undefined;

  constructor(
    readonly name: string,
    readonly format: SiemFormat,
    private readonly settings: SyslogStreamSettings,
  ) {}

  async write(lines: readonly SiemLine[]): Promise<void> {
    const data = lines
      .map((line) => frameOctetCounting(formatRfc5424(line.text, { severity: line.record.severity, occurredAt: line.record.occurredAt, msgId: line.record.type }, this.settings.origin)))
      .join('');
    const socket = await this.connected();
    await new Promise<void>((resolve, reject) => {
      socket.write(data, (error) => {
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 5000).unref();
    });
  }

  private connected(): Promise<Socket> {
    const current = this.socket;
    if (current && !current.destroyed && current.writable && !current.readableEnded) return Promise.resolve(current);
    current?.destroy();
    this.socket = undefined;
    const { host, port, tls } = this.settings;
    return new Promise((resolve, reject) => {
      const socket = tls ? connectTls({ host, port, servername: host, ...(tls.ca !== undefined && { ca: tls.ca }) }) : connectTcp({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`syslog ${host}:${port}: no connection after ${this.settings.connectTimeoutMs ?? 10_000} ms`)), this.settings.connectTimeoutMs ?? 10_000);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
      socket.on('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      // The receiver closing its end: the connection is done; the next batch opens another.
      socket.on('end', () => socket.destroy());
      // A collector that stops reading would hold a write (and a shutdown) for good: give up on it.
      socket.setTimeout(this.settings.idleTimeoutMs ?? 30_000, () => socket.destroy(new Error(`syslog ${host}:${port}: idle for ${this.settings.idleTimeoutMs ?? 30_000} ms`)));
      socket.on('data', () => undefined);
    });
  }
}
