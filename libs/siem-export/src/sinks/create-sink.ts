import type { SiemSinkSpec } from '@keyledger/config';
import type { SyslogOrigin } from '@keyledger/siem-format';
import { RotatingFileSink } from './rotating-file-sink.js';
import type { SiemSink } from './siem-sink.js';
import { StreamSink } from './stream-sink.js';
import { SyslogStreamSink } from './syslog-stream-sink.js';
import { SyslogUdpSink } from './syslog-udp-sink.js';
import { WebhookSink } from './webhook-sink.js';

/**
 * The sink a configured AUDIT_EXPORT_SINKS entry names; `origin` is the syslog header's sender,
 * `webhookSecrets` what webhook bodies are signed with.
 */
export function createSiemSink(spec: SiemSinkSpec, origin: SyslogOrigin, webhookSecrets: readonly string[]): SiemSink {
  switch (spec.kind) {
    case 'stdout':
      return new StreamSink(spec.name, spec.format, process.stdout);
    case 'file':
      return new RotatingFileSink(spec.name, spec.format, spec.path, spec.maxBytes, spec.maxFiles);
    case 'syslog-tcp':
      return new SyslogStreamSink(spec.name, spec.format, { host: spec.host, port: spec.port, origin });
    case 'syslog-tls':
      return new SyslogStreamSink(spec.name, spec.format, { host: spec.host, port: spec.port, origin, tls: spec.ca === undefined ? {} : { ca: spec.ca } });
    case 'syslog-udp':
      return new SyslogUdpSink(spec.name, spec.format, { host: spec.host, port: spec.port, origin });
    case 'webhook':
      return new WebhookSink(spec.name, spec.format, { url: spec.url, secrets: webhookSecrets, ...(spec.ca !== undefined && { ca: spec.ca }) });
    default:
      return spec satisfies never;
  }
}
