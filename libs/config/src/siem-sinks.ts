import { z } from 'zod';
import { pemCertificateFile } from './pem-files.js';

/** The record formats a SIEM sink may be given (libs/siem-format). */
export const SIEM_SINK_FORMATS = ['jsonl', 'cef', 'ocsf'] as const;

const format = z.enum(SIEM_SINK_FORMATS, { error: `must be one of ${SIEM_SINK_FORMATS.join(', ')}` });
const sinkName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be 1 to 63 of a-z, 0-9, _ . - (the checkpoint is stored under it)');
const bytes = z.coerce
  .number()
  .int()
  .min(4096)
  .max(2 ** 40);
// Off unless asked for: verifications are many, and some SIEMs bill by volume.
const usage = z.enum(['true', 'false'], { error: 'must be true or false' }).default('false');

/**
 * Where audit records go, and in which format: one entry of AUDIT_EXPORT_SINKS. Every sink gets
 * the audit events and the security alerts; with `?usage=true`, the verifications too.
 */
export type SiemSinkSpec = { readonly usage: boolean } & SiemSinkTarget;

/** The sink itself: its kind, name, format and where it is. */
export type SiemSinkTarget =
  | { readonly kind: 'stdout'; readonly name: string; readonly format: (typeof SIEM_SINK_FORMATS)[number] }
  | {
      readonly kind: 'file';
      readonly name: string;
      readonly format: (typeof SIEM_SINK_FORMATS)[number];
      readonly path: string;
      readonly maxBytes: number;
      readonly maxFiles: number;
    }
  | {
      readonly kind: 'syslog-tcp' | 'syslog-tls' | 'syslog-udp';
      readonly name: string;
      readonly format: (typeof SIEM_SINK_FORMATS)[number];
      readonly host: string;
      readonly port: number;
      /** TLS only: the CAs to trust instead of Node's (PEM). */
      readonly ca?: string;
    }
  | {
      readonly kind: 'webhook';
      readonly name: string;
      readonly format: (typeof SIEM_SINK_FORMATS)[number];
      /** Where each batch is POSTed: `https://…`. */
      readonly url: string;
      /** CAs trusted besides Node's (PEM). */
      readonly ca?: string;
    };

const fileParams = z
  .object({
    format: format.default('jsonl'),
    name: sinkName.optional(),
    maxBytes: bytes.default(100 * 1024 * 1024),
    maxFiles: z.coerce.number().int().min(1).max(1000).default(10),
    usage,
  })
  .strict();
const syslogParams = z.object({ format: format.default('cef'), name: sinkName.optional(), usage }).strict();
const tlsParams = syslogParams.extend({ ca: pemCertificateFile.optional() }).strict();
const stdoutParams = z.object({ format: format.default('jsonl'), name: sinkName.optional(), usage }).strict();

const webhookParams = z.object({ format: format.default('ocsf'), name: sinkName.optional(), ca: pemCertificateFile.optional(), usage }).strict();

const SYSLOG_KINDS = { 'syslog+tcp:': 'syslog-tcp', 'syslog+tls:': 'syslog-tls', 'syslog+udp:': 'syslog-udp' } as const;

function issuesOf(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'value'} ${issue.message}`).join('; ');
}

/** One sink from its URL (`syslog+tcp://siem:514?format=cef`, `file:///var/log/audit.jsonl?maxBytes=…`, `stdout:`, `webhook+https://siem/ingest`). */
function parseSink(text: string, ctx: z.RefinementCtx): SiemSinkSpec | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not a URL` });
    return undefined;
  }
  const params = Object.fromEntries(url.searchParams);
  const fail = (message: string): undefined => {
    ctx.addIssue({ code: 'custom', message: `${url.protocol}//${url.host}${url.pathname}: ${message}` });
    return undefined;
  };
  if (url.protocol === 'stdout:') {
    const parsed = stdoutParams.safeParse(params);
    if (!parsed.success) return fail(issuesOf(parsed.error));
    return { kind: 'stdout', name: parsed.data.name ?? 'stdout', format: parsed.data.format, usage: parsed.data.usage === 'true' };
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.pathname === '/' || url.pathname.endsWith('/')) return fail('must name a file: file:///absolute/path');
    const parsed = fileParams.safeParse(params);
    if (!parsed.success) return fail(issuesOf(parsed.error));
    const path = decodeURIComponent(url.pathname);
    return {
      kind: 'file',
      name: parsed.data.name ?? `file${path.replace(/[^a-z0-9_.-]/gi, '-')}`.toLowerCase().slice(0, 63),
      format: parsed.data.format,
      path,
      maxBytes: parsed.data.maxBytes,
      maxFiles: parsed.data.maxFiles,
      usage: parsed.data.usage === 'true',
    };
  }
  if (url.protocol === 'webhook+https:') {
    if (url.hostname === '' || url.username !== '' || url.password !== '' || url.hash !== '')
      return fail('must be webhook+https://host[:port]/path with no user or fragment');
    const parsed = webhookParams.safeParse(params);
    if (!parsed.success) return fail(issuesOf(parsed.error));
    const target = `https://${url.host}${url.pathname}`;
    return {
      kind: 'webhook',
      name:
        parsed.data.name ??
        `webhook-${url.host}${url.pathname}`
          .toLowerCase()
          .replace(/[^a-z0-9_.-]/g, '-')
          .slice(0, 63),
      format: parsed.data.format,
      url: target,
      usage: parsed.data.usage === 'true',
      ...(parsed.data.ca !== undefined && { ca: parsed.data.ca.pem }),
    };
  }
  const kind = SYSLOG_KINDS[url.protocol as keyof typeof SYSLOG_KINDS] as 'syslog-tcp' | 'syslog-tls' | 'syslog-udp' | undefined;
  if (kind === undefined) return fail('must be stdout:, file:, syslog+tcp:, syslog+tls:, syslog+udp: or webhook+https:');
  if (url.hostname === '' || url.port === '' || url.pathname !== '' || url.username !== '' || url.password !== '')
    return fail('must be <scheme>://host:port with no path or user');
  const parsed = tlsParams.safeParse(params);
  if (!parsed.success) return fail(issuesOf(parsed.error));
  if (kind !== 'syslog-tls' && parsed.data.ca !== undefined) return fail('ca is for syslog+tls only');
  const ca = parsed.data.ca?.pem;
  return {
    kind,
    name:
      parsed.data.name ??
      `${kind}-${url.hostname}-${url.port}`
        .toLowerCase()
        .replace(/[^a-z0-9_.-]/g, '-')
        .slice(0, 63),
    format: parsed.data.format,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port),
    usage: parsed.data.usage === 'true',
    ...(ca !== undefined && { ca }),
  };
}

/**
 * AUDIT_EXPORT_SINKS: sink URLs separated by spaces or commas, each with its own format; empty:
 * no export. Two sinks may not share a name: each keeps its own checkpoint under it.
 */
export const siemSinkList = z
  .string()
  .default('')
  .transform((value, ctx): readonly SiemSinkSpec[] => {
    const sinks: SiemSinkSpec[] = [];
    for (const entry of value.split(/[\s,]+/)) {
      if (entry === '') continue;
      const sink = parseSink(entry, ctx);
      if (sink === undefined) continue;
      if (sinks.some((other) => other.name === sink.name)) ctx.addIssue({ code: 'custom', message: `two sinks are named ${sink.name}: give one a ?name=` });
      sinks.push(sink);
    }
    return sinks;
  });
