import fc from 'fast-check';
import type { EventEnvelope, SecurityAlert } from '@keyledger/contracts';
import {
  OctetCountingDecoder,
  SyslogFormatError,
  escapeCefExtensionValue,
  escapeCefHeader,
  formatCef,
  formatRfc5424,
  formatSiemRecord,
  frameOctetCounting,
  parseRfc5424,
  siemRecordOf,
  siemRecordOfAlert,
  siemRecordOfVerification,
  toOcsf,
} from './index.js';

const device = { vendor: 'Keyledger', product: 'Keyledger', version: '0.1.0' };
const origin = { facility: 13, hostname: 'auditor-1', appName: 'keyledger', procId: '42' };

function event(type: string, data: unknown, overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    eventId: '0193a4c0-0000-7000-8000-000000000001',
    type,
    schemaVersion: 1,
    streamId: 'key-key_01',
    streamVersion: 1,
    occurredAt: '2026-12-06T16:00:00.123Z',
    data,
    metadata: { actor: 'admin-key:key_root', correlationId: 'corr-1', causationId: 'cmd-1' },
    hash: 'a'.repeat(64),
    transactionId: '900',
    position: '17',
    ...overrides,
  };
}

const issued = event('KeyIssued', {
  keyId: 'key_01',
  tenant: 'acme',
  owner: 'billing',
  environment: 'live',
  prefix: 'kl_live_SECRETPREFIX',
  digest: 'DIGEST-OF-THE-SECRET',
  hint: 'HINT9',
  scopes: ['orders:read'],
  ipAllowlist: [],
  metadata: { note: 'METADATA-VALUE' },
});

/** Reads a CEF extension back, per ArcSight's escaping, to check what the escaping kept. */
function parseCefExtension(extension: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of extension.matchAll(/(?:^| )(\w+)=((?:[^\\=]|\\.)*?)(?= \w+=|$)/g)) {
    fields[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return fields;
}

/** Splits a CEF line at its first seven unescaped pipes: the seven header fields and the extension. */
function splitCef(line: string): string[] {
  const parts: string[] = [];
  let at = 0;
  let start = 0;
  while (parts.length < 7 && at < line.length) {
    if (line[at] === '\\') at += 2;
    else if (line[at] === '|') {
      parts.push(line.slice(start, at));
      start = at += 1;
    } else at += 1;
  }
  return [...parts, line.slice(start)];
}

describe('SIEM records', () => {
  it('name a key only by its id: nothing of the secret, nor the owner metadata, reaches a record', () => {
    const record = siemRecordOf(issued);
    const everything = [JSON.stringify(record), formatCef(record, device), JSON.stringify(toOcsf(record, device))].join('\n');
    expect(record).toMatchObject({ keyId: 'key_01', tenant: 'acme', owner: 'billing', recordClass: 'entity-management', position: '900:17' });
    for (const secret of ['SECRETPREFIX', 'DIGEST-OF-THE-SECRET', 'HINT9', 'METADATA-VALUE']) expect(everything).not.toContain(secret);
  });

  it('take the tenant of the stream for an event that names none', () => {
    expect(siemRecordOf(event('KeyRevoked', { keyId: 'key_01', reason: 'gone' }), 'acme')).toMatchObject({ tenant: 'acme', reason: 'gone', severity: 'low' });
  });

  it('classify anomalies and leak reports as findings with their severity', () => {
    const anomaly = siemRecordOf(event('AnomalyDetected', { keyId: 'key_01', tenant: 'acme', kind: 'usage-spike', severity: 'critical', detail: '1200/min', detectedAt: '2026-12-06T16:00:00Z' }));
    expect(anomaly).toMatchObject({ recordClass: 'detection-finding', severity: 'critical', findingKind: 'usage-spike', reason: '1200/min' });
    expect(siemRecordOf(event('KeyLeakReported', { keyId: 'key_01', tenant: 'acme' }))).toMatchObject({ recordClass: 'detection-finding', severity: 'high', findingKind: 'leak' });
  });
});

describe('CEF', () => {
  it('writes the exact ArcSight header and extension', () => {
    expect(formatCef(siemRecordOf(issued), device)).toBe(
      'CEF:0|Keyledger|Keyledger|0.1.0|KeyIssued|API key issued|1|rt=1796572800123 externalId=0193a4c0-0000-7000-8000-000000000001 cat=entity-management ' +
        'suser=admin-key:key_root cs1Label=tenant cs1=acme cs2Label=keyId cs2=key_01 cs3Label=owner cs3=billing cs4Label=correlationId cs4=corr-1 cs5Label=position cs5=900:17',
    );
  });

  it('escapes backslash and pipe in the header, and turns its line breaks into spaces', () => {
    expect(escapeCefHeader('a|b\\c\nd\re')).toBe('a\\|b\\\\c d e');
  });

  it('escapes backslash, equals and line breaks in extension values, and leaves pipes', () => {
    expect(escapeCefExtensionValue('a=b\\c\nd\re|f')).toBe('a\\=b\\\\c\\nd\\re|f');
  });

  it('keeps hostile tenants, owners and reasons inside their own fields', () => {
    const hostile = 'evil|x=1 suser=root\\\nCEF:0|forged|';
    const record = siemRecordOf(event('KeyIssued', { keyId: 'key_01', tenant: hostile, owner: hostile }), undefined);
    const line = formatCef({ ...record, type: hostile, reason: hostile }, { ...device, vendor: hostile });
    expect(line).not.toMatch(/[\r\n]/);
    const parts = splitCef(line);
    expect(parts).toHaveLength(8);
    expect(parts[1]).toBe('evil\\|x=1 suser=root\\\\ CEF:0\\|forged\\|');
    const fields = parseCefExtension(parts[7]!);
    expect(fields).toMatchObject({ cs1: hostile, cs3: hostile, msg: hostile, suser: 'admin-key:key_root' });
  });

  it('round-trips any extension value through ArcSight unescaping', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const escaped = escapeCefExtensionValue(value);
        expect(escaped).not.toMatch(/[\r\n]/);
        expect(escaped.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c))).toBe(value.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/g, ' '));
      }),
    );
  });
});

describe('OCSF', () => {
  it('shapes lifecycle changes as Entity Management (3004) with the key as the token', () => {
    const ocsf = toOcsf(siemRecordOf(event('KeySuspended', { keyId: 'key_01' }), 'acme'), device);
    expect(ocsf).toMatchObject({
      class_uid: 3004,
      category_uid: 3,
      activity_id: 12,
      type_uid: 300412,
      token: { uid: 'key_01', type: 'API Key' },
      entity: { uid: 'key_01', type: 'API Key' },
      metadata: { uid: '0193a4c0-0000-7000-8000-000000000001', tenant_uid: 'acme', version: '1.3.0' },
      actor: { user: { uid: 'admin-key:key_root' } },
    });
  });

  it.each([
    ['KeyIssued', 1],
    ['KeyUpdated', 3],
    ['KeyRevoked', 4],
    ['KeyResumed', 13],
    ['KeyRotated', 3],
  ])('maps %s to activity %i', (type, activity) => {
    expect(toOcsf(siemRecordOf(event(type, { keyId: 'key_01' })), device)).toMatchObject({ class_uid: 3004, activity_id: activity });
  });

  it("names the address a honeytoken was presented from, in CEF's src and OCSF's src_endpoint", () => {
    const tripped = siemRecordOf(
      event('AnomalyDetected', { keyId: 'key_01', tenant: 'acme', kind: 'honeytoken', severity: 'critical', detectedAt: '2026-12-06T16:00:00Z', call: { at: '2026-12-06T16:00:00Z', ip: '203.0.113.9', scopes: [] } }),
    );
    expect(tripped).toMatchObject({ findingKind: 'honeytoken', severity: 'critical', sourceAddress: '203.0.113.9' });
    expect(formatCef(tripped, device)).toMatch(/\|10\|.* src=203\.0\.113\.9/);
    expect(toOcsf(tripped, device)).toMatchObject({ class_uid: 2004, severity_id: 5, src_endpoint: { ip: '203.0.113.9' }, finding_info: { types: ['honeytoken'] } });
  });

  it('shapes anomalies as Detection Findings (2004)', () => {
    const ocsf = toOcsf(siemRecordOf(event('AnomalyDetected', { keyId: 'key_01', tenant: 'acme', kind: 'new-source', severity: 'high', detectedAt: '2026-12-06T16:00:00Z' })), device);
    expect(ocsf).toMatchObject({ class_uid: 2004, category_uid: 2, type_uid: 200401, severity_id: 4, finding_info: { types: ['new-source'] }, token: { uid: 'key_01' } });
  });

  it('writes one JSON line whatever the values hold', () => {
    const line = formatSiemRecord(siemRecordOf(event('KeyRevoked', { keyId: 'key_01', reason: 'a\nb\r\u2028' })), 'ocsf', device);
    expect(line).not.toMatch(/[\r\n]/);
    expect(JSON.parse(line)).toMatchObject({ comment: 'a\nb\r\u2028' });
  });
});

describe('security alerts and verifications', () => {
  const alert: SecurityAlert = {
    kind: 'events-rejected',
    service: 'verifier-2',
    at: '2026-12-06T16:00:01.000Z',
    source: 'bus',
    reason: 'bad-mac',
    eventId: '0193a4c0-0000-7000-8000-0000000000ff',
    streamId: 'key-key_07',
    subject: 'keyledger.events.key.KeyIssued',
    rejected: 12,
  };
  const alertRecord = siemRecordOfAlert(alert, { alertId: 'sa_0123', position: '901:3' });
  const verification = siemRecordOfVerification({
    id: 'ub_01jf:4',
    position: '902:ub_01jf:4',
    at: '2026-12-06T16:00:02.000Z',
    keyId: 'key_07',
    tenant: 'acme',
    ip: '198.51.100.7',
    scopes: ['orders:read', 'orders:write'],
    code: 'REVOKED',
    cost: 0,
    transport: 'grpc',
  });

  it('shape an alert as a high Detection Finding (2004) that counts the refusals and names where they were met', () => {
    expect(toOcsf(alertRecord, device)).toMatchObject({
      class_uid: 2004,
      type_uid: 200401,
      severity_id: 4,
      count: 12,
      actor: { user: { uid: 'verifier-2' } },
      finding_info: {
        uid: 'sa_0123',
        types: ['events-rejected', 'bad-mac'],
        desc: expect.stringContaining('12 event(s) refused on the bus at keyledger.events.key.KeyIssued (bad-mac)'),
      },
      unmapped: { met_on: 'bus', subject: 'keyledger.events.key.KeyIssued', refused_event_uid: alert.eventId, refused_stream_uid: 'key-key_07' },
      metadata: { uid: 'sa_0123', sequence: '901:3', event_code: 'EventsRejected' },
    });
    const [header, extension] = [splitCef(formatCef(alertRecord, device)).slice(0, 7), parseCefExtension(splitCef(formatCef(alertRecord, device))[7]!)];
    expect(header).toEqual(['CEF:0', 'Keyledger', 'Keyledger', '0.1.0', 'EventsRejected', 'Events refused as not authentic or not valid', '8']);
    expect(extension).toMatchObject({
      externalId: 'sa_0123',
      cat: 'detection-finding',
      suser: 'verifier-2',
      cnt: '12',
      outcome: 'bad-mac',
      app: 'bus',
      cs6: 'events-rejected',
    });
  });

  it('shape a verification as API Activity (6003): the key as the token, its code as the status, the scopes as resources', () => {
    expect(toOcsf(verification, device)).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      activity_id: 99,
      activity_name: 'Verify',
      type_uid: 600399,
      status_id: 2,
      status: 'Failure',
      status_code: 'REVOKED',
      token: { uid: 'key_07', type: 'API Key' },
      api: { operation: 'keys.verify', request: { uid: 'ub_01jf:4' } },
      src_endpoint: { ip: '198.51.100.7' },
      resources: [
        { type: 'Scope', name: 'orders:read' },
        { type: 'Scope', name: 'orders:write' },
      ],
      metadata: { uid: 'ub_01jf:4', tenant_uid: 'acme', event_code: 'KeyUsed' },
    });
    expect(toOcsf({ ...verification, outcome: 'VALID' }, device)).toMatchObject({ status_id: 1, status: 'Success' });
    const cef = splitCef(formatCef(verification, device));
    expect(cef.slice(4, 7)).toEqual(['KeyUsed', 'API key verified', '3']);
    expect(parseCefExtension(cef[7]!)).toMatchObject({
      cs2: 'key_07',
      cs3Label: 'scopes',
      cs3: 'orders:read,orders:write',
      outcome: 'REVOKED',
      app: 'grpc',
      src: '198.51.100.7',
      cn1Label: 'cost',
      cn1: '0',
    });
  });

  it('keep the owner label for events: a scopes label appears only on a verification', () => {
    const fields = parseCefExtension(splitCef(formatCef(siemRecordOf(issued), device))[7]!);
    expect(fields).toMatchObject({ cs3Label: 'owner', cs3: 'billing' });
    expect(fields).not.toHaveProperty('cn1');
  });
});

describe('RFC 5424', () => {
  it('frames a CEF line as a message of the log audit facility that parses back', () => {
    const cef = formatCef(siemRecordOf(issued), device);
    const message = formatRfc5424(cef, { severity: 'high', occurredAt: issued.occurredAt, msgId: 'KeyIssued' }, origin);
    expect(message).toBe(`<107>1 2026-12-06T16:00:00.123Z auditor-1 keyledger 42 KeyIssued - ${cef}`);
    expect(parseRfc5424(message)).toEqual({
      facility: 13,
      severity: 3,
      timestamp: '2026-12-06T16:00:00.123Z',
      hostname: 'auditor-1',
      appName: 'keyledger',
      procId: '42',
      msgId: 'KeyIssued',
      structuredData: [],
      message: cef,
    });
  });

  it('writes the nil value for empty header fields and strips what is not printable ASCII', () => {
    const message = formatRfc5424('x', { severity: 'info', occurredAt: issued.occurredAt, msgId: '' }, { facility: 13, hostname: 'host name\n', appName: 'é' });
    expect(message).toBe('<110>1 2026-12-06T16:00:00.123Z hostname - - - - x');
  });

  it('refuses what is off the grammar', () => {
    for (const bad of ['<13>2 - - - - - - x', '<192>1 - - - - - - x', '<013>1 - - - - - - x', '<13>1 - - - - - x', '<13>1 - - - - - [id x', '<13>1 2026-12-06 - - - - - x'])
      expect(() => parseRfc5424(bad)).toThrow(SyslogFormatError);
  });

  it('reads structured data with its escapes', () => {
    expect(parseRfc5424('<13>1 - h a p m [ex@1 a="x\\"y\\]z\\\\"][b] hi').structuredData).toEqual([
      { id: 'ex@1', params: { a: 'x"y]z\\' } },
      { id: 'b', params: {} },
    ]);
  });

  it('counts octets in UTF-8 bytes and decodes frames split anywhere', () => {
    const messages = ['<110>1 - h a - - - café', '<110>1 - h a - - - second\nline'];
    const bytes = new TextEncoder().encode(messages.map(frameOctetCounting).join(''));
    expect(frameOctetCounting(messages[0]!)).toBe(`24 ${messages[0]}`);
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      const decoder = new OctetCountingDecoder();
      expect([...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))]).toEqual(messages);
      expect(decoder.idle).toBe(true);
    }
  });

  it('refuses a stream that is not octet-counted', () => {
    expect(() => new OctetCountingDecoder().push(new TextEncoder().encode('<13>1 - - - - - - x\n'))).toThrow(SyslogFormatError);
    expect(() => new OctetCountingDecoder(10).push(new TextEncoder().encode('11 '))).toThrow(SyslogFormatError);
    expect(() => new OctetCountingDecoder().push(Uint8Array.of(0x32, 0x20, 0xc3, 0x28))).toThrow(SyslogFormatError);
  });
});
