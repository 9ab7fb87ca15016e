import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { siemSinkList } from './siem-sinks.js';

/** The problems AUDIT_EXPORT_SINKS is refused for (none: accepted). */
function problemsOf(value: string): string[] {
  const parsed = siemSinkList.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
}

describe('AUDIT_EXPORT_SINKS', () => {
  it('is no sink when unset or empty', () => {
    expect(siemSinkList.parse(undefined)).toEqual([]);
    expect(siemSinkList.parse(' ')).toEqual([]);
  });

  it('reads each sink URL with its format, and names each after its address', () => {
    expect(siemSinkList.parse('syslog+tcp://siem.example:514?format=cef, file:///var/log/keyledger/audit.jsonl?format=ocsf&maxBytes=1048576&maxFiles=3 stdout: syslog+udp://10.0.0.1:514')).toEqual([
      { kind: 'syslog-tcp', name: 'syslog-tcp-siem.example-514', format: 'cef', host: 'siem.example', port: 514, usage: false },
      { kind: 'file', name: 'file-var-log-keyledger-audit.jsonl', format: 'ocsf', path: '/var/log/keyledger/audit.jsonl', maxBytes: 1048576, maxFiles: 3, usage: false },
      { kind: 'stdout', name: 'stdout', format: 'jsonl', usage: false },
      { kind: 'syslog-udp', name: 'syslog-udp-10.0.0.1-514', format: 'cef', host: '10.0.0.1', port: 514, usage: false },
    ]);
  });

  it('reads a webhook sink, its target URL without the sink parameters', () => {
    expect(siemSinkList.parse('webhook+https://siem.example:8443/ingest/keyledger?format=cef')).toEqual([
      { kind: 'webhook', name: 'webhook-siem.example-8443-ingest-keyledger', format: 'cef', url: 'https://siem.example:8443/ingest/keyledger', usage: false },
    ]);
  });

  it('exports verifications only to a sink that asks with ?usage=true', () => {
    const sinks = siemSinkList.parse('stdout:?usage=true file:///var/log/a.jsonl?usage=false syslog+tls://siem:6514?usage=true webhook+https://siem/ingest?usage=true syslog+udp://siem:514');
    expect(sinks.map((sink) => [sink.kind, sink.usage])).toEqual([
      ['stdout', true],
      ['file', false],
      ['syslog-tls', true],
      ['webhook', true],
      ['syslog-udp', false],
    ]);
  });

  it('reads the CA a TLS sink trusts from its file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'siem-sinks-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=siem'], { stdio: 'ignore' });
      const [sink] = siemSinkList.parse(`syslog+tls://siem:6514?ca=${join(dir, 'ca.pem')}&name=siem`);
      expect(sink).toMatchObject({ kind: 'syslog-tls', name: 'siem', host: 'siem', port: 6514, ca: expect.stringContaining('BEGIN CERTIFICATE') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['not-a-url', /is not a URL/],
    ['http://siem:80', /must be stdout:, file:/],
    ['webhook+https://siem/ingest?token=x', /Unrecognized key/],
    ['syslog+tcp://siem', /host:port/],
    ['syslog+tcp://siem:514/path', /host:port/],
    ['syslog+tcp://siem:514?format=leef', /format must be one of jsonl, cef, ocsf/],
    ['syslog+tcp://siem:514?colour=red', /Unrecognized key/],
    ['syslog+tcp://siem:514?ca=/etc/hosts', /ca/],
    ['file:///var/log/?format=cef', /must name a file/],
    ['file:///var/log/a.log?maxBytes=12', /maxBytes/],
    ['stdout: stdout:?format=cef', /two sinks are named stdout/],
    ['stdout:?usage=yes', /usage must be true or false/],
  ])('refuses %s', (value, problem) => {
    expect(problemsOf(value)).toEqual([expect.stringMatching(problem)]);
  });
});
