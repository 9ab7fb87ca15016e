import type { Socket } from 'node:dgram';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { SiemFormat, SyslogOrigin } from '@keyledger/siem-format';
import { formatRfc5424 } from '@keyledger/siem-format';
import type { SiemLine, SiemSink } from './siem-sink.js';

/**
 * Sends each record as one RFC 5424 message in one UDP datagram (RFC 5426). UDP says nothing
 * of delivery: a datagram the network drops is gone, checkpoint or not. For a SIEM that only
 * listens on UDP; prefer TCP or TLS.
 */
export class SyslogUdpSink implements SiemSink {
  private socket: Socket | undefined;

  constructor(
    readonly name: string,
    readonly format: SiemFormat,
    private readonly settings: { readonly host: string; readonly port: number; readonly origin: SyslogOrigin },
  ) {}

  async write(lines: readonly SiemLine[]): Promise<void> {
    this.socket ??= createSocket(isIPv6(this.settings.host) ? 'udp6' : 'udp4');
    const socket = this.socket;
    for (const line of lines) {
      const message = formatRfc5424(line.text, { severity: line.record.severity, occurredAt: line.record.occurredAt, msgId: line.record.type }, this.settings.origin);
      await new Promise<void>((resolve, reject) => socket.send(message, this.settings.port, this.settings.host, (error) => (error ? reject(error) : resolve())));
    }
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
