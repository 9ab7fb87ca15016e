import type { SiemSeverity } from './siem-record.js';
import { decodeUtf8Strictly, utf8Bytes } from './utf8.js';

/** Facility 13, "log audit" (RFC 5424 table 1): where SIEMs look for audit trails. */
export const LOG_AUDIT_FACILITY = 13;

/** Syslog severity of each record severity: informational (6) down to critical (2). */
export const SYSLOG_SEVERITY: Readonly<Record<SiemSeverity, number>> = { info: 6, low: 5, medium: 4, high: 3, critical: 2 };

/** The fixed parts of a syslog header: who sends, as RFC 5424 names them. */
export interface SyslogOrigin {
  readonly facility: number;
  readonly hostname: string;
  readonly appName: string;
  readonly procId?: string;
}

/** The NILVALUE `-` when empty; otherwise printable US-ASCII (33–126) only, cut to the field's length. */
function headerField(value: string | undefined, maxLength: number): string {
  const printable = (value ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, maxLength);
  return printable === '' ? '-' : printable;
}

/**
 * One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, no structured
 * data, the message as UTF-8 without a BOM (MSG-ANY: CEF receivers take the line as it is).
 */
export function formatRfc5424(message: string, fields: { severity: SiemSeverity; occurredAt: string; msgId: string }, origin: SyslogOrigin): string {
  if (!Number.isInteger(origin.facility) || origin.facility < 0 || origin.facility > 23) throw new RangeError(`syslog facility must be 0 to 23, not ${origin.facility}`);
  const pri = origin.facility * 8 + SYSLOG_SEVERITY[fields.severity];
  const timestamp = new Date(fields.occurredAt).toISOString();
  const header = [headerField(origin.hostname, 255), headerField(origin.appName, 48), headerField(origin.procId, 128), headerField(fields.msgId, 32)].join(' ');
  return `<${pri}>1 ${timestamp} ${header} - ${message}`;
}

/** Octet-counting framing (RFC 6587 3.4.1): `MSG-LEN SP SYSLOG-MSG`, the length in UTF-8 bytes. */
export function frameOctetCounting(message: string): string {
  return `${utf8Bytes(message).length} ${message}`;
}

/** A syslog message, as `parseRfc5424` reads it. */
export interface ParsedSyslogMessage {
  readonly facility: number;
  readonly severity: number;
  readonly timestamp: string | null;
  readonly hostname: string | null;
  readonly appName: string | null;
  readonly procId: string | null;
  readonly msgId: string | null;
  /** Each SD-ELEMENT's id and parameters, unescaped; empty for the NILVALUE. */
  readonly structuredData: readonly { readonly id: string; readonly params: Readonly<Record<string, string>> }[];
  readonly message: string;
}

/** Thrown by the parser and the frame decoder: the bytes are not RFC 5424 / RFC 6587. */
export class SyslogFormatError extends Error {
  readonly code = 'SYSLOG_FORMAT';
}

const HEADER =
  /^<(\d{1,3})>1 (-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) /;
const SD_NAME = /^[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}/;

const nil = (value: string | undefined): string | null => (value === undefined || value === '-' ? null : value);

function parseStructuredData(text: string): { elements: ParsedSyslogMessage['structuredData']; rest: string } {
  if (text.startsWith('-')) return { elements: [], rest: text.slice(1) };
  const elements: { id: string; params: Record<string, string> }[] = [];
  let at = 0;
  while (text[at] === '[') {
    const id = SD_NAME.exec(text.slice(at + 1))?.[0];
    if (id === undefined) throw new SyslogFormatError('structured data: an element without an id');
    at += 1 + id.length;
    const params: Record<string, string> = {};
    while (text[at] === ' ') {
      const name = SD_NAME.exec(text.slice(at + 1))?.[0];
      if (name === undefined || text.slice(at + 1 + name.length, at + 3 + name.length) !== '="') throw new SyslogFormatError('structured data: a malformed parameter');
      at += 3 + name.length;
      let value = '';
      for (;;) {
        const c = text[at];
        if (c === undefined) throw new SyslogFormatError('structured data: an unterminated value');
        if (c === '"') break;
        if (c === '\\' && (text[at + 1] === '"' || text[at + 1] === '\\' || text[at + 1] === ']')) {
          value += text[at + 1];
          at += 2;
        } else {
          value += c;
          at += 1;
        }
      }
      params[name] = value;
      at += 1;
    }
    if (text[at] !== ']') throw new SyslogFormatError('structured data: an unterminated element');
    at += 1;
    elements.push({ id, params });
  }
  if (elements.length === 0) throw new SyslogFormatError('structured data: neither - nor an element');
  return { elements, rest: text.slice(at) };
}

/** Reads one RFC 5424 message strictly: anything off the grammar is a SyslogFormatError. */
export function parseRfc5424(text: string): ParsedSyslogMessage {
  const header = HEADER.exec(text);
  if (!header) throw new SyslogFormatError('not an RFC 5424 header');
  const pri = Number(header[1]);
  if (pri > 191 || (header[1]!.length > 1 && header[1]!.startsWith('0'))) throw new SyslogFormatError(`PRI ${header[1]} out of range`);
  const { elements, rest } = parseStructuredData(text.slice(header[0].length));
  if (rest !== '' && !rest.startsWith(' ')) throw new SyslogFormatError('structured data not followed by a space');
  const message = rest.slice(1).replace(/^\ufeff/, '');
  return {
    facility: Math.floor(pri / 8),
    severity: pri % 8,
    timestamp: nil(header[2]),
    hostname: nil(header[3]),
    appName: nil(header[4]),
    procId: nil(header[5]),
    msgId: nil(header[6]),
    structuredData: elements,
    message,
  };
}

function utf8Frame(bytes: Uint8Array): string {
  try {
    return decodeUtf8Strictly(bytes);
  } catch {
    throw new SyslogFormatError('a frame that is not UTF-8');
  }
}

/**
 * Splits a TCP byte stream framed by octet counting into messages, whatever the chunks it
 * arrives in; a frame that is not `MSG-LEN SP` is a SyslogFormatError.
 */
export class OctetCountingDecoder {
  private buffered = new Uint8Array(0);

  constructor(private readonly maxMessageBytes = 1 << 20) {}

  push(chunk: Uint8Array): string[] {
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    const messages: string[] = [];
    let at = 0;
    for (;;) {
      const space = joined.indexOf(0x20, at);
      if (space < 0) {
        if (joined.length - at > 10) throw new SyslogFormatError('a frame length longer than 10 digits');
        break;
      }
      const digits = utf8Frame(joined.subarray(at, space));
      if (!/^[1-9]\d{0,9}$/.test(digits)) throw new SyslogFormatError(`a frame that does not start with its length: ${JSON.stringify(digits.slice(0, 20))}`);
      const length = Number(digits);
      if (length > this.maxMessageBytes) throw new SyslogFormatError(`a frame of ${length} bytes, more than ${this.maxMessageBytes}`);
      if (joined.length < space + 1 + length) break;
      messages.push(utf8Frame(joined.subarray(space + 1, space + 1 + length)));
      at = space + 1 + length;
    }
    this.buffered = joined.slice(at);
    return messages;
  }

  /** True when no partial frame is left over. */
  get idle(): boolean {
    return this.buffered.length === 0;
  }
}
