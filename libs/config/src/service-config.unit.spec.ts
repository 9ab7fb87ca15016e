import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr } from '@keyledger/key-domain';
import { ConfigError, loadAnomalyDetectorConfig, loadAuditorConfig, loadIssuerConfig, loadKeyServiceConfig, loadRotatorConfig, loadServiceConfig } from './service-config.js';

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
const SIGNING_SEED = Buffer.alloc(32, 7).toString('base64');
/** What the services that send deliveries (issuer, rotator) need besides a key service's settings. */
const delivering = { KEYLEDGER_DELIVERY_SIGNING_KEYS: `1:${SIGNING_SEED}` };

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

  it("parses the verifier's trusted proxies with the allowlists' CIDR parser, trusting no one by default", () => {
    const keyService = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    expect(loadKeyServiceConfig(keyService).VERIFIER_TRUSTED_PROXIES).toEqual([]);
    expect(loadKeyServiceConfig({ ...keyService, VERIFIER_TRUSTED_PROXIES: '' }).VERIFIER_TRUSTED_PROXIES).toEqual([]);
    const proxies = loadKeyServiceConfig({ ...keyService, VERIFIER_TRUSTED_PROXIES: ' 10.0.0.0/8, 2001:db8::/32,192.0.2.1 ,::ffff:172.16.0.0/108' }).VERIFIER_TRUSTED_PROXIES;
    expect(proxies.map(formatCidr)).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.1/32', '172.16.0.0/12']);
    expect(problemsOf(() => loadKeyServiceConfig({ ...keyService, VERIFIER_TRUSTED_PROXIES: '10.0.0.0/8,10.0.0.0/33,proxy.internal' }))).toEqual([
      'VERIFIER_TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or CIDR',
      'VERIFIER_TRUSTED_PROXIES: "proxy.internal" is not an IP address or CIDR',
    ]);
  });

  it('gives every stream a size limit, and the verifier its throttling and unknown-key tallies, by default', () => {
    const config = loadKeyServiceConfig({ ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` });
    expect(config).toMatchObject({
      KEYLEDGER_EVENT_STREAM_MAX_BYTES: 8 * 1024 ** 3,
      KEYLEDGER_USAGE_STREAM_MAX_BYTES: 4 * 1024 ** 3,
      VERIFIER_FAILED_VERIFY_LIMIT: 100,
      VERIFIER_FAILED_VERIFY_WINDOW_MS: 60_000,
      USAGE_UNKNOWN_SOURCES_PER_MINUTE: 500,
      USAGE_UNKNOWN_FINGERPRINTS_PER_SOURCE: 5,
    });
    expect(problemsOf(() => loadServiceConfig({ ...minimal, KEYLEDGER_EVENT_STREAM_MAX_BYTES: '0' }))[0]).toMatch(/^KEYLEDGER_EVENT_STREAM_MAX_BYTES:/);
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

  it('requires delivery signing keys of the issuer and the rotator, only of them, and names a bad one without its secret', () => {
    const keyService = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    for (const load of [loadIssuerConfig, loadRotatorConfig]) {
      expect(problemsOf(() => load(keyService))).toEqual([expect.stringMatching(/^KEYLEDGER_DELIVERY_SIGNING_KEYS: is required/)]);
      const older = Buffer.alloc(32, 8).toString('base64');
      expect(load({ ...keyService, KEYLEDGER_DELIVERY_SIGNING_KEYS: `2:${SIGNING_SEED},1:${older}` }).KEYLEDGER_DELIVERY_SIGNING_KEYS).toEqual([
        { version: 2, secret: Buffer.alloc(32, 7) },
        { version: 1, secret: Buffer.alloc(32, 8) },
      ]);
      const long = Buffer.alloc(48, 5).toString('base64');
      const problems = problemsOf(() => load({ ...keyService, KEYLEDGER_DELIVERY_SIGNING_KEYS: `1:${long}` }));
      expect(problems).toEqual(['KEYLEDGER_DELIVERY_SIGNING_KEYS: delivery signing key version 1 is not 32 bytes (an Ed25519 seed)']);
      expect(problems.join()).not.toContain(long);
    }
    // The verifier and the auditor never sign deliveries: they are not given the key.
    expect(loadKeyServiceConfig(keyService)).not.toHaveProperty('KEYLEDGER_DELIVERY_SIGNING_KEYS');
  });

  it("requires the auditor's checkpoint signing key in note signer form, names a bad one without the key, and defaults its intervals", () => {
    const auditor = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    expect(problemsOf(() => loadAuditorConfig(auditor))).toEqual([expect.stringMatching(/^KEYLEDGER_AUDIT_SIGNING_KEY: is required/)]);
    const key = `PRIVATE+KEY+keyledger.example/audit+0a1b2c3d+${Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 9)]).toString('base64')}`;
    expect(loadAuditorConfig({ ...auditor, KEYLEDGER_AUDIT_SIGNING_KEY: key })).toMatchObject({
      KEYLEDGER_AUDIT_SIGNING_KEY: key,
      AUDIT_CHECKPOINT_INTERVAL_MS: 60_000,
      AUDIT_TREE_INTERVAL_MS: 1000,
    });
    const truncated = key.slice(0, -4);
    const problems = problemsOf(() => loadAuditorConfig({ ...auditor, KEYLEDGER_AUDIT_SIGNING_KEY: truncated }));
    expect(problems).toEqual([expect.stringMatching(/^KEYLEDGER_AUDIT_SIGNING_KEY: must be PRIVATE\+KEY\+/)]);
    expect(problems.join()).not.toContain(truncated.slice(-20));
  });

  it('stores usage batches together for a second by default, and refuses a wait JetStream would redeliver within', () => {
    const key = `PRIVATE+KEY+keyledger.example/audit+0a1b2c3d+${Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 9)]).toString('base64')}`;
    const auditor = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}`, KEYLEDGER_AUDIT_SIGNING_KEY: key };
    expect(loadAuditorConfig(auditor)).toMatchObject({ USAGE_INGEST_WAIT_MS: 1000, USAGE_INGEST_BATCHES: 64 });
    expect(loadAuditorConfig({ ...auditor, USAGE_INGEST_WAIT_MS: '0' }).USAGE_INGEST_WAIT_MS).toBe(0);
    // Unset under a short ack wait: half of it, so a configuration valid before stays valid.
    expect(loadAuditorConfig({ ...auditor, CONSUMER_ACK_WAIT_MS: '1500' }).USAGE_INGEST_WAIT_MS).toBe(750);
    expect(problemsOf(() => loadAuditorConfig({ ...auditor, CONSUMER_ACK_WAIT_MS: '1500', USAGE_INGEST_WAIT_MS: '1000' }))).toEqual([
      'USAGE_INGEST_WAIT_MS: must be at most half of CONSUMER_ACK_WAIT_MS (1500)',
    ]);
    expect(problemsOf(() => loadAuditorConfig({ ...auditor, USAGE_INGEST_WAIT_MS: '-1' }))).toEqual([expect.stringMatching(/^USAGE_INGEST_WAIT_MS: /)]);
  });

  it('exports to no SIEM by default, and requires the webhook secrets when a webhook sink is configured', () => {
    const key = `PRIVATE+KEY+keyledger.example/audit+0a1b2c3d+${Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 9)]).toString('base64')}`;
    const auditor = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}`, KEYLEDGER_AUDIT_SIGNING_KEY: key };
    expect(loadAuditorConfig(auditor)).toMatchObject({ AUDIT_EXPORT_SINKS: [], AUDIT_EXPORT_BATCH: 500, AUDIT_EXPORT_POLL_MS: 1000, AUDIT_EXPORT_WEBHOOK_SECRETS: [] });
    const webhook = { ...auditor, AUDIT_EXPORT_SINKS: 'webhook+https://siem.example/ingest' };
    expect(problemsOf(() => loadAuditorConfig(webhook))).toEqual(['AUDIT_EXPORT_WEBHOOK_SECRETS: is required by a webhook sink of AUDIT_EXPORT_SINKS']);
    expect(problemsOf(() => loadAuditorConfig({ ...webhook, AUDIT_EXPORT_WEBHOOK_SECRETS: 'short' }))).toEqual(['AUDIT_EXPORT_WEBHOOK_SECRETS: each secret must be at least 32 characters']);
    expect(loadAuditorConfig({ ...webhook, AUDIT_EXPORT_WEBHOOK_SECRETS: `${'s'.repeat(32)},${'o'.repeat(40)}` }).AUDIT_EXPORT_WEBHOOK_SECRETS).toEqual(['s'.repeat(32), 'o'.repeat(40)]);
  });

  it('saves the anomaly baselines once per 64 usage batches unless told otherwise, and refuses a number outside 1 to 128', () => {
    expect(loadAnomalyDetectorConfig(minimal).ANOMALY_BATCHES_PER_SAVE).toBe(64);
    expect(loadAnomalyDetectorConfig({ ...minimal, ANOMALY_BATCHES_PER_SAVE: '16' }).ANOMALY_BATCHES_PER_SAVE).toBe(16);
    for (const bad of ['0', '129', 'many'])
      expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_BATCHES_PER_SAVE: bad }))).toEqual([expect.stringMatching(/^ANOMALY_BATCHES_PER_SAVE: /)]);
  });

  it('saves the anomaly baselines every 5 s by default, and refuses a wait JetStream would redeliver within', () => {
    expect(loadAnomalyDetectorConfig(minimal).ANOMALY_SAVE_WAIT_MS).toBe(5000);
    expect(loadAnomalyDetectorConfig({ ...minimal, ANOMALY_SAVE_WAIT_MS: '1000' }).ANOMALY_SAVE_WAIT_MS).toBe(1000);
    expect(loadAnomalyDetectorConfig({ ...minimal, CONSUMER_ACK_WAIT_MS: '2000' }).ANOMALY_SAVE_WAIT_MS).toBe(1000);
    expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_SAVE_WAIT_MS: '1000', CONSUMER_ACK_WAIT_MS: '1999' }))).toEqual([
      'ANOMALY_SAVE_WAIT_MS: must be at most half of CONSUMER_ACK_WAIT_MS (1999)',
    ]);
    expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_SAVE_WAIT_MS: '10001' }))).toEqual([expect.stringMatching(/^ANOMALY_SAVE_WAIT_MS: /)]);
  });

  it("leaves the anomaly detector's thresholds unset unless given, and refuses a bad one by name", () => {
    expect(loadAnomalyDetectorConfig(minimal).ANOMALY_RATE_WARMUP_MS).toBeUndefined();
    expect(loadAnomalyDetectorConfig({ ...minimal, ANOMALY_RATE_WARMUP_MS: '0', ANOMALY_RATE_FLOOR: '8', ANOMALY_COOLDOWN_MS: '5000' })).toMatchObject({
      ANOMALY_RATE_WARMUP_MS: 0,
      ANOMALY_RATE_FLOOR: 8,
      ANOMALY_COOLDOWN_MS: 5000,
    });
    expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_RATE_FLOOR: '0', ANOMALY_RATE_WINDOW_MS: 'soon' }))).toEqual([
      expect.stringMatching(/^ANOMALY_RATE_WINDOW_MS: /),
      expect.stringMatching(/^ANOMALY_RATE_FLOOR: /),
    ]);
  });

  it('reads the network table of the new-network detector at start, and refuses a bad one by its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-networks-'));
    try {
      const good = join(dir, 'networks.csv');
      writeFileSync(good, '# ranges\n52.94.0.0/15,AS16509 amazon\n');
      const table = loadAnomalyDetectorConfig({ ...minimal, ANOMALY_NETWORK_TABLE: good }).ANOMALY_NETWORK_TABLE;
      expect(table?.size).toBe(1);
      const bad = join(dir, 'bad.csv');
      writeFileSync(bad, '52.94.0.0/15,AS16509 amazon\n52.94.0.0/99,broken\n');
      expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_NETWORK_TABLE: bad }))).toEqual([
        `ANOMALY_NETWORK_TABLE: line 2: not a CIDR range: "52.94.0.0/99": ${bad}`,
      ]);
      expect(problemsOf(() => loadAnomalyDetectorConfig({ ...minimal, ANOMALY_NETWORK_TABLE: join(dir, 'missing.csv') }))).toEqual([
        `ANOMALY_NETWORK_TABLE: cannot be read (ENOENT): ${join(dir, 'missing.csv')}`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the rotator its delivery settings, and refuses a bad one by name', () => {
    const rotator = { ...minimal, ...delivering, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
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
    const rotator = { ...minimal, ...delivering, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
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

  describe('NATS_CREDS and NATS_TLS_*', () => {
    let dir: string;
    const file = (name: string, text: string): string => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const userJwt = (claims: object): string =>
      ['{"typ":"JWT","alg":"ed25519-nkey"}', JSON.stringify(claims)].map((part) => Buffer.from(part).toString('base64url')).join('.') + '.c2ln';
    const creds = (jwt: string): string =>
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n------END USER NKEY SEED------\n`;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyledger-nats-config-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads a creds file at start, with the user it names', () => {
      const path = file('relay.creds', creds(userJwt({ name: 'relay', nats: { type: 'user' } })));
      expect(loadServiceConfig({ ...minimal, NATS_CREDS: path }).NATS_CREDS).toMatchObject({ path, userName: 'relay' });
    });

    it('refuses, by name, a creds file that is missing or is not a user credentials file', () => {
      expect(problemsOf(() => loadServiceConfig({ ...minimal, NATS_CREDS: join(dir, 'none.creds') }))[0]).toMatch(/^NATS_CREDS: cannot be read \(ENOENT\)/);
      expect(problemsOf(() => loadServiceConfig({ ...minimal, NATS_CREDS: file('ca.creds', CA_PEM) }))[0]).toMatch(
        /^NATS_CREDS: is not a NATS user credentials file/,
      );
      const account = file('account.creds', creds(userJwt({ name: 'acct', nats: { type: 'account' } })));
      expect(problemsOf(() => loadServiceConfig({ ...minimal, NATS_CREDS: account }))[0]).toMatch(/^NATS_CREDS: is not a NATS user credentials file/);
    });

    it('takes a CA file alone, and refuses a client certificate without its key, naming the missing one', () => {
      const ca = file('nats-ca.pem', CA_PEM);
      expect(loadServiceConfig({ ...minimal, NATS_TLS_CA_FILE: ca }).NATS_TLS_CA_FILE).toEqual({ path: ca, pem: CA_PEM });
      expect(problemsOf(() => loadServiceConfig({ ...minimal, NATS_TLS_CERT_FILE: ca }))).toEqual([
        'NATS_TLS_KEY_FILE: is required with NATS_TLS_CERT_FILE (mutual TLS needs the certificate and its key)',
      ]);
      expect(problemsOf(() => loadServiceConfig({ ...minimal, NATS_TLS_KEY_FILE: ca }))[0]).toMatch(/^NATS_TLS_KEY_FILE: holds no valid PEM private key/);
    });
  });
});
