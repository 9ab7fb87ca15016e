import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadRotatorConfig, loadServiceConfig } from './service-config.js';

/** A self-signed CA certificate (public, no key kept), as a private CA's file would hold. */
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBkDCCATWgAwIBAgIUPahCkbvfjzUf7Xi0dYxoREtKhJwwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRa2V5bGVkZ2VyLXRlc3QtY2EwIBcNMjYxMTI1MDMyMzM0WhgP
MjEyNjExMDEwMzIzMzRaMBwxGjAYBgNVBAMMEWtleWxlZGdlci10ZXN0LWNhMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4/hxhrchGzY4EJCvwOf9d1cbbofEn13g
t69+LrGED9KpYslMEAzg8vdCkQNfZBSjUHfiTEXdmuBOkpuNNUAVaqNTMFEwHQYD
VR0OBBYEFFk4C7z3q/CmU457W+9r+sjOC84mMB8GA1UdIwQYMBaAFFk4C7z3q/Cm
U457W+9r+sjOC84mMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
AOAc2EAogr4wdmO+HIj9vWyAkp+Q9LUm3McsvLfvhs0mAiEA0kPfcwb3lzenaRei
qrddJ13qZn8/AWcaI7C5fRNeo4M=
-----END CERTIFICATE-----
`;

/** The problems a configuration is refused for (none: accepted). */
function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const EVENT_KEY = Buffer.alloc(32, 9).toString('base64');
const minimal = { DATABASE_URL: 'postgres://localhost/keyledger', NATS_URL: 'nats://localhost:4222', KEYLEDGER_EVENT_KEYS: `1:${EVENT_KEY}` };

describe('service config', () => {
  it('applies defaults to a minimal environment', () => {
    const config = loadServiceConfig(minimal);
    expect(config).toMatchObject({ DATABASE_SCHEMA: 'keyledger', KEYLEDGER_SUBJECT_PREFIX: 'keyledger', CONSUMER_BACKOFF_MS: [200, 1000, 5000, 15000] });
  });

  it('names every bad variable', () => {
    const error = (() => {
      try {
        loadServiceConfig({ ...minimal, DATABASE_URL: 'mysql://x', DATABASE_SCHEMA: 'Drop Table', CONSUMER_BACKOFF_MS: '1,x' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.split(':')[0])).toEqual(['DATABASE_URL', 'DATABASE_SCHEMA', 'CONSUMER_BACKOFF_MS']);
  });

  it('requires the database and NATS URLs and the event keys', () => {
    expect(() => loadServiceConfig({})).toThrow(/DATABASE_URL[\s\S]*NATS_URL[\s\S]*KEYLEDGER_EVENT_KEYS/);
  });

  it('parses the event keys, current first, and refuses a bad list without echoing a secret', () => {
    const older = Buffer.alloc(40, 3).toString('base64');
    const keys = loadServiceConfig({ ...minimal, KEYLEDGER_EVENT_KEYS: `2:${EVENT_KEY},1:${older}` }).KEYLEDGER_EVENT_KEYS;
    expect(keys.map((key) => [key.version, key.secret.length])).toEqual([
      [2, 32],
      [1, 40],
    ]);
    const short = Buffer.alloc(16, 5).toString('base64');
    for (const [text, message] of [
      [`1:${short}`, /event key version 1 is shorter than 32 bytes/],
      [`1:${EVENT_KEY},1:${older}`, /distinct/],
      ['nonsense', /not <version>:<base64 secret>/],
      [`40000:${EVENT_KEY}`, /at most 32767/],
    ] as const) {
      const problems = problemsOf(() => loadServiceConfig({ ...minimal, KEYLEDGER_EVENT_KEYS: text }));
      expect(problems).toEqual([expect.stringMatching(/^KEYLEDGER_EVENT_KEYS: /)]);
      expect(problems[0]).toMatch(message);
      expect(problems.join()).not.toContain(short);
      expect(problems.join()).not.toContain(EVENT_KEY);
    }
  });

  it('gives the rotator its delivery settings, and refuses a bad one by name', () => {
    const rotator = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    expect(loadRotatorConfig(rotator)).toMatchObject({
      DELIVERY_RETRY_MIN_MS: 5000,
      DELIVERY_RETRY_MAX_MS: 3_600_000,
      DELIVERY_TTL_MS: 86_400_000,
      DELIVERY_POLL_INTERVAL_MS: 1000,
      DELIVERY_WEBHOOK_TIMEOUT_MS: 10_000,
      DELIVERY_CONCURRENCY: 16,
    });
    expect(loadRotatorConfig(rotator).KEYLEDGER_WEBHOOK_CA_FILE).toBeUndefined();
    expect(() => loadRotatorConfig({ ...rotator, DELIVERY_RETRY_MIN_MS: '0' })).toThrow(/DELIVERY_RETRY_MIN_MS/);
  });

  describe('KEYLEDGER_WEBHOOK_CA_FILE', () => {
    const rotator = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    let dir: string;
    const file = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyledger-config-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads the CA certificates once, at config loading', () => {
      const path = file('ca.pem', `# the private CA\n${CA_PEM}${CA_PEM}`);
      expect(loadRotatorConfig({ ...rotator, KEYLEDGER_WEBHOOK_CA_FILE: path }).KEYLEDGER_WEBHOOK_CA_FILE).toEqual({
        path,
        pem: `# the private CA\n${CA_PEM}${CA_PEM}`,
      });
    });

    it('refuses, by name, a file that is missing, unreadable, empty of certificates or holding a broken one', () => {
      const missing = join(dir, 'missing.pem');
      const broken = CA_PEM.replace('MIIBkDCCATWg', 'MIIBkDCCATXX');
      for (const [path, problem] of [
        [missing, /^KEYLEDGER_WEBHOOK_CA_FILE: cannot be read \(ENOENT\)/],
        [dir, /^KEYLEDGER_WEBHOOK_CA_FILE: cannot be read \(EISDIR\)/],
        [file('empty.pem', ''), /^KEYLEDGER_WEBHOOK_CA_FILE: holds no PEM certificate/],
        [
          file('key.pem', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n'),
          /^KEYLEDGER_WEBHOOK_CA_FILE: holds no PEM certificate/,
        ],
        [file('broken.pem', broken), /^KEYLEDGER_WEBHOOK_CA_FILE: certificate #1 is not a valid X.509 certificate/],
      ] as const) {
        const problems = problemsOf(() => loadRotatorConfig({ ...rotator, KEYLEDGER_WEBHOOK_CA_FILE: path }));
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(problem);
      }
    });
  });
});
