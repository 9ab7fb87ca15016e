import { NetworkTable, NetworkTableError } from '@keyledger/anomaly-detection';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { pemCertificateFile } from './pem-files.js';
import { siemSinkList } from './siem-sinks.js';
import { credsUserName } from '@keyledger/nats-auth';
import type { IpRange } from '@keyledger/key-domain';
import { parseCidr } from '@keyledger/key-domain';
import type { VersionedSecret } from '@keyledger/key-secrets';
import { parseDeliverySigningKeys, parseVersionedSecrets } from '@keyledger/key-secrets';

const positiveInt = z.coerce.number().int().positive();
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier');
const durationList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'must be a comma-separated list of milliseconds')
  .transform((value) => value.split(',').map(Number));

/** Comma-separated IPv4 and IPv6 CIDRs (or single addresses), parsed by the allowlists' own parser; empty: none. */
const cidrList = z.string().transform((value, ctx): readonly IpRange[] => {
  const ranges: IpRange[] = [];
  for (const entry of value.split(',').map((text) => text.trim())) {
    if (entry === '') continue;
    const range = parseCidr(entry);
    if (range) ranges.push(range);
    else ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not an IP address or CIDR` });
  }
  return ranges;
});


/** A NATS `.creds` file as read at start: its path, text and the user name in its JWT (which names the user's inbox). */
export interface NatsCreds {
  readonly path: string;
  readonly text: string;
  readonly userName: string;
}

function readText(path: string, ctx: z.RefinementCtx): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ${path}` });
    return undefined;
  }
}

/** A NATS user's `.creds` file (JWT and nkey seed), read and checked at start. */
const natsCredsFile = z
  .string()
  .min(1)
  .transform((path, ctx): NatsCreds => {
    const text = readText(path, ctx);
    if (text === undefined) return z.NEVER;
    const userName = credsUserName(text);
    if (userName === undefined) {
      ctx.addIssue({ code: 'custom', message: `is not a NATS user credentials file (a user JWT and its nkey seed): ${path}` });
      return z.NEVER;
    }
    return { path, text, userName };
  });

/** A PEM private key file (the NATS client certificate's key), read and checked at start. */
const pemPrivateKeyFile = z
  .string()
  .min(1)
  .transform((path, ctx) => {
    const pem = readText(path, ctx);
    if (pem === undefined) return z.NEVER;
    try {
      createPrivateKey(pem);
    } catch {
      ctx.addIssue({ code: 'custom', message: `holds no valid PEM private key: ${path}` });
      return z.NEVER;
    }
    return { path, pem };
  });

/** Largest event key version: the events table stores it as a smallint. */
const MAX_EVENT_KEY_VERSION = 32_767;

/**
 * `KEYLEDGER_EVENT_KEYS`, parsed: versioned secrets, current first. An error names the entry,
 * never a secret.
 */
const eventKeys = z
  .string({ error: 'is required: comma-separated <version>:<base64 secret>, current first' })
  .min(1, 'is required: comma-separated <version>:<base64 secret>, current first')
  .transform((text, ctx): VersionedSecret[] => {
    try {
      const keys = parseVersionedSecrets(text, 'event key');
      const high = keys.find((key) => key.version > MAX_EVENT_KEY_VERSION);
      if (high) throw new Error(`event key versions are at most ${MAX_EVENT_KEY_VERSION}`);
      return keys;
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

/**
 * `KEYLEDGER_DELIVERY_SIGNING_KEYS`, parsed: Ed25519 seeds by version, current first. An error
 * names the entry, never a secret.
 */
const deliverySigningKeys = z
  .string({ error: 'is required: comma-separated <version>:<base64 of a 32-byte Ed25519 seed>, current first' })
  .min(1, 'is required: comma-separated <version>:<base64 of a 32-byte Ed25519 seed>, current first')
  .transform((text, ctx): VersionedSecret[] => {
    try {
      return parseDeliverySigningKeys(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

/**
 * Every setting a Keyledger process reads from its environment, validated once at start.
 * A bad or missing value stops the process with a message naming the variable.
 */
export const serviceEnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  DATABASE_SCHEMA: identifier.default('keyledger'),
  /** Role this process assumes on every connection; unset: its service's own (`databaseRoleOf`). Empty: none. */
  DATABASE_ROLE: z.union([identifier, z.literal('')]).optional(),
  /** Before per-service roles: the one role every service assumed. Set, it still is (unless DATABASE_ROLE is); the migrate job grants it every service's role. */
  DATABASE_APP_ROLE: z.union([identifier, z.literal('')]).optional(),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  NATS_URL: z.string().min(1),
  /** The service's NATS user (`.creds`); unset: connect unauthenticated, and say so. */
  NATS_CREDS: natsCredsFile.optional(),
  /** CA certificates the NATS server's certificate must chain to (TLS). */
  NATS_TLS_CA_FILE: pemCertificateFile.optional(),
  /** Client certificate and key for mutual TLS; both or neither. */
  NATS_TLS_CERT_FILE: pemCertificateFile.optional(),
  NATS_TLS_KEY_FILE: pemPrivateKeyFile.optional(),
  KEYLEDGER_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated NATS tokens')
    .default('keyledger'),
  KEYLEDGER_EVENT_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('KEYLEDGER_EVENTS'),
  /** JetStream stream of usage records; unset: `<KEYLEDGER_EVENT_STREAM>_USAGE`. */
  KEYLEDGER_USAGE_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
  /** How long the usage stream keeps a batch: the longest an auditor may be down without losing usage. */
  KEYLEDGER_USAGE_STREAM_MAX_AGE_MS: positiveInt.default(7 * 24 * 3_600_000),
  /** How long the delivery stream keeps a key sealed to its owner: the longest an owner's client may be offline and still receive it. */
  KEYLEDGER_DELIVERY_STREAM_MAX_AGE_MS: positiveInt.default(24 * 3_600_000),
  /** Largest size of each JetStream stream in bytes (NATS reserves it on its store); see DEFAULT_STREAM_MAX_BYTES in libs/event-bus. */
  KEYLEDGER_EVENT_STREAM_MAX_BYTES: positiveInt.default(8 * 1024 ** 3),
  KEYLEDGER_DLQ_STREAM_MAX_BYTES: positiveInt.default(1024 ** 3),
  KEYLEDGER_USAGE_STREAM_MAX_BYTES: positiveInt.default(4 * 1024 ** 3),
  KEYLEDGER_DELIVERY_STREAM_MAX_BYTES: positiveInt.default(1024 ** 3),
  KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES: positiveInt.default(1024 ** 3 / 4),
  KEYLEDGER_STREAM_REPLICAS: positiveInt.max(5).default(1),
  KEYLEDGER_DUPLICATE_WINDOW_MS: positiveInt.default(600_000),
  HTTP_HOST: z.string().default('0.0.0.0'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RELAY_BATCH_SIZE: positiveInt.max(5000).default(500),
  RELAY_POLL_INTERVAL_MS: positiveInt.default(250),
  RELAY_STANDBY_RETRY_MS: positiveInt.default(1000),
  RELAY_LEASE_TTL_MS: positiveInt.min(500).default(3000),
  RELAY_LEASE_RENEW_MS: positiveInt.default(1000),
  CONSUMER_MAX_DELIVERIES: positiveInt.max(100).default(5),
  CONSUMER_BACKOFF_MS: durationList.default([200, 1000, 5000, 15000]),
  CONSUMER_ACK_WAIT_MS: positiveInt.default(30_000),
  /** Keys that authenticate events in the store and on the bus (`<version>:<base64>`, current first). A secret. */
  KEYLEDGER_EVENT_KEYS: eventKeys,
});

export type ServiceEnv = z.infer<typeof serviceEnvSchema>;

/** A setting that is missing or invalid; the message lists each variable and why. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** A client certificate without its key, or a key without its certificate, cannot make mutual TLS. */
function checkNatsTlsPair<T extends Pick<ServiceEnv, 'NATS_TLS_CERT_FILE' | 'NATS_TLS_KEY_FILE'>>(config: T): T {
  if ((config.NATS_TLS_CERT_FILE === undefined) !== (config.NATS_TLS_KEY_FILE === undefined)) {
    const missing = config.NATS_TLS_CERT_FILE === undefined ? 'NATS_TLS_CERT_FILE' : 'NATS_TLS_KEY_FILE';
    throw new ConfigError([
      `${missing}: is required with ${missing === 'NATS_TLS_CERT_FILE' ? 'NATS_TLS_KEY_FILE' : 'NATS_TLS_CERT_FILE'} (mutual TLS needs the certificate and its key)`,
    ]);
  }
  return config;
}

export function loadServiceConfig(env: Record<string, string | undefined>): ServiceEnv {
  const parsed = serviceEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return checkNatsTlsPair(parsed.data);
}

/** A service's own database login, as the migrate job reads it from that service's DATABASE_URL. */
export interface DatabaseLogin {
  readonly login: string;
  /** Unset when the URL carries none: the login's password is then left as it is. */
  readonly password: string | undefined;
}

/**
 * A service's DATABASE_URL given to the migrate job, which creates its login: it must name the
 * login, and a password must be printable ASCII (the job stores its SCRAM verifier, computed
 * here, which for ASCII is what every client computes). A message never repeats the password.
 */
const serviceLoginUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
  .transform((text, ctx): DatabaseLogin => {
    let url: URL;
    let login: string;
    let password: string;
    try {
      url = new URL(text);
      login = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a valid URL (are its login and password percent-encoded?)' });
      return z.NEVER;
    }
    if (!identifier.safeParse(login).success) {
      ctx.addIssue({ code: 'custom', message: `must name the service's own login, a lowercase SQL identifier (postgres://<login>:<password>@…), got ${JSON.stringify(login)}` });
      return z.NEVER;
    }
    if (!/^[\x20-\x7e]*$/.test(password)) {
      ctx.addIssue({ code: 'custom', message: 'password must be printable ASCII (e.g. hex: openssl rand -hex 24)' });
      return z.NEVER;
    }
    return { login, password: password === '' ? undefined : password };
  });

/**
 * The migration job: the base settings (the database, and NATS with the stream settings: it
 * configures the streams), but the event keys only when it seals events written before they
 * carried MACs (`--seal-unauthenticated-events`); a plain migration never sees them. With each
 * service's DATABASE_URL (all six or none; `serviceDatabaseLogins`), it also makes each service's
 * login a member of that service's role only.
 */
export const migrateEnvSchema = serviceEnvSchema.extend({
  KEYLEDGER_EVENT_KEYS: eventKeys.optional(),
  DATABASE_URL_ISSUER: serviceLoginUrl.optional(),
  DATABASE_URL_VERIFIER: serviceLoginUrl.optional(),
  DATABASE_URL_ROTATOR: serviceLoginUrl.optional(),
  DATABASE_URL_RELAY: serviceLoginUrl.optional(),
  DATABASE_URL_AUDITOR: serviceLoginUrl.optional(),
  DATABASE_URL_ANOMALY_DETECTOR: serviceLoginUrl.optional(),
});

export type MigrateEnv = z.infer<typeof migrateEnvSchema>;

export function loadMigrateConfig(env: Record<string, string | undefined>): MigrateEnv {
  const parsed = migrateEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  // It configures the streams, over the same NATS connection settings as the services.
  return checkNatsTlsPair(parsed.data);
}

/** Extra settings of the services that hash or verify keys (issuer, verifier). */
export const keyServiceEnvSchema = serviceEnvSchema.extend({
  /** `<version>:<base64>` entries, current first; each at least 32 bytes. A secret. */
  KEYLEDGER_HASH_PEPPERS: z.string().min(1, 'is required: comma-separated <version>:<base64 secret>, current first'),
  /** A valid key that becomes the root admin key on the first start, instead of a generated one. */
  KEYLEDGER_BOOTSTRAP_ADMIN_KEY: z.string().optional(),
  VERIFIER_FAIL_CLOSED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  VERIFIER_MAX_BUS_SILENCE_MS: positiveInt.default(30_000),
  /**
   * Verifier, issuer, auditor: answer (verify, admin authentication) only while every event up to a store
   * head the relay announced at most this long ago is applied; past it UNAVAILABLE and not ready.
   * Applies with VERIFIER_FAIL_CLOSED.
   */
  VERIFIER_MAX_STALENESS_MS: positiveInt.max(3_600_000).default(5000),
  /**
   * Verifier: the proxies (CIDRs) whose `X-Real-IP`, `X-Forwarded-For`, `X-Keyledger-Cost` and
   * `X-Keyledger-Tenant` on `/v1/authorize` are believed; from any other peer they are ignored. Empty: none.
   */
  VERIFIER_TRUSTED_PROXIES: cidrList.default([]),
  /** Verifier: failed verifications (NOT_FOUND, MALFORMED) a source may make per window before it is answered RATE_LIMITED; 0 turns throttling off. */
  VERIFIER_FAILED_VERIFY_LIMIT: z.coerce.number().int().min(0).default(100),
  /** Verifier: the throttling window, from a source's first failure. */
  VERIFIER_FAILED_VERIFY_WINDOW_MS: positiveInt.max(86_400_000).default(60_000),
  /** Verifier: sources remembered at most (about 150 bytes each); beyond it the oldest window is forgotten. */
  VERIFIER_FAILED_VERIFY_SOURCES: positiveInt.max(10_000_000).default(100_000),
  REVOCATION_FENCE_TIMEOUT_MS: positiveInt.default(5000),
  /** Issuer: how long a rotated key stays valid when the rotation names no grace period (24 h). */
  KEYLEDGER_ROTATION_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(90 * 24 * 3_600_000)
    .default(24 * 3_600_000),
  /** Store a key projection snapshot once this many key events were applied beyond the last one; 0 turns snapshots off (every start replays the store). */
  KEYLEDGER_SNAPSHOT_EVERY_EVENTS: z.coerce.number().int().min(0).default(50_000),
  /** How often a running issuer or verifier considers storing a snapshot. */
  KEYLEDGER_SNAPSHOT_CHECK_MS: positiveInt.default(60_000),
  /** Port of the gRPC API, bound on HTTP_HOST; unset: the service's default (issuer 50051, verifier 50052, auditor 50054). 0 picks a free port. */
  GRPC_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Verifier: record a KeyUsed for every verification (false: record nothing). */
  USAGE_RECORDING: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /** Verifier: most usage records waiting to be published; beyond it records are dropped and counted. */
  USAGE_BUFFER_RECORDS: positiveInt.max(10_000_000).default(200_000),
  /** Verifier: records per published batch at most (a full batch is published at once). */
  USAGE_BATCH_RECORDS: positiveInt.max(10_000).default(2000),
  /** Verifier: longest a record waits before its batch is published. */
  USAGE_FLUSH_INTERVAL_MS: positiveInt.max(60_000).default(250),
  /** Verifier: sources whose verifications of unknown keys are counted apart per minute; the rest are counted as one ('*'). */
  USAGE_UNKNOWN_SOURCES_PER_MINUTE: positiveInt.max(100_000).default(500),
  /** Verifier: fingerprints of unknown keys counted apart per source and minute; the rest are counted without one. */
  USAGE_UNKNOWN_FINGERPRINTS_PER_SOURCE: positiveInt.max(1000).default(5),
  /** Issuer, rotator: wait after the first send of an unacknowledged key; doubles after each send. */
  DELIVERY_RETRY_MIN_MS: positiveInt.max(86_400_000).default(5000),
  /** Issuer, rotator: longest wait between two sends of an unacknowledged key. */
  DELIVERY_RETRY_MAX_MS: positiveInt.max(86_400_000).default(3_600_000),
  /** Issuer, rotator: a delivery is retried at least this long (longer until the old key's grace end; never past the new key's expiry). */
  DELIVERY_TTL_MS: positiveInt.max(90 * 86_400_000).default(86_400_000),
  /** Issuer, rotator: live (not revoked, not expired) keys a tenant may hold; issuing or rotating with a grace beyond it is refused. */
  KEYLEDGER_TENANT_KEY_QUOTA: positiveInt.max(100_000_000).default(100_000),
});

export type KeyServiceEnv = z.infer<typeof keyServiceEnvSchema>;

/** The issuer: a key service that also sends the first delivery of each key it rotates, so it signs deliveries. */
export const issuerEnvSchema = keyServiceEnvSchema.extend({
  /** Issuer, rotator: keys that sign key deliveries (`<version>:<base64 32-byte Ed25519 seed>`, current first). A secret. */
  KEYLEDGER_DELIVERY_SIGNING_KEYS: deliverySigningKeys,
});

export type IssuerEnv = z.infer<typeof issuerEnvSchema>;

export function loadIssuerConfig(env: Record<string, string | undefined>): IssuerEnv {
  const parsed = issuerEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return checkNatsTlsPair(parsed.data);
}

/** The rotator: a key service (it issues the new keys) that also looks for due keys and delivers keys. */
export const rotatorEnvSchema = issuerEnvSchema.extend({
  /** How often the rotator looks for keys past their policy's maximum age. */
  ROTATOR_INTERVAL_MS: positiveInt.max(86_400_000).default(60_000),
  /** Keys fall due up to this much after their maximum age, spread by key id (0: exactly at it). */
  ROTATOR_JITTER_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  /**
   * The longest from a verification to its usage batch being in the usage stream (the verifiers'
   * flush interval, publish retries, clock skew): a quiet grace ends only on usage known complete
   * that far, and only while the auditor's usage is at most this old.
   */
  ROTATOR_USAGE_LAG_MS: z.coerce.number().int().min(0).max(3_600_000).default(5000),
  /** How long the rotator waits for the auditor's answer about old keys' last uses. */
  ROTATOR_USAGE_TIMEOUT_MS: positiveInt.max(60_000).default(5000),
  /** How often the rotator looks for deliveries due to be sent again or expired. */
  DELIVERY_POLL_INTERVAL_MS: positiveInt.max(3_600_000).default(1000),
  /** Pending deliveries one look claims at most, per channel. */
  DELIVERY_BATCH_SIZE: positiveInt.max(10_000).default(100),
  /** Sends in flight at once per channel (NATS, webhooks), at most. */
  DELIVERY_CONCURRENCY: positiveInt.max(1000).default(16),
  /** Longest a webhook POST may take (connection and answer). */
  DELIVERY_WEBHOOK_TIMEOUT_MS: positiveInt.max(300_000).default(10_000),
  /** PEM file of CA certificates trusted for webhooks besides Node's bundled roots (a private CA), read and checked at start. */
  KEYLEDGER_WEBHOOK_CA_FILE: pemCertificateFile.optional(),
  /** Whether webhooks may reach private, loopback and link-local addresses (false: public addresses only). */
  DELIVERY_WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
});

export type RotatorEnv = z.infer<typeof rotatorEnvSchema>;

export function loadRotatorConfig(env: Record<string, string | undefined>): RotatorEnv {
  const parsed = rotatorEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return checkNatsTlsPair(parsed.data);
}

export function loadKeyServiceConfig(env: Record<string, string | undefined>): KeyServiceEnv {
  const parsed = keyServiceEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return checkNatsTlsPair(parsed.data);
}

/**
 * `KEYLEDGER_AUDIT_SIGNING_KEY`: a C2SP note signer key, `PRIVATE+KEY+<name>+<8 hex key id>+<base64
 * of 0x01 and a 32-byte Ed25519 seed>` (golang.org/x/mod/sumdb/note's form). Its shape is checked
 * here, the key id against the key when the auditor loads it. An error never shows the key.
 */
const auditSigningKey = z
  .string({ error: 'is required: PRIVATE+KEY+<name>+<key id>+<base64> (keyledger audit generate-key)' })
  .regex(/^PRIVATE\+KEY\+[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/, 'must be PRIVATE+KEY+<name>+<8 hex key id>+<base64 of 0x01 and a 32-byte Ed25519 seed>');

/**
 * `AUDIT_WITNESSES`: the witnesses asked to cosign each checkpoint (c2sp.org/tlog-witness), comma
 * separated, each `<cosigner verifier key> <submission URL>`. The key's form and id are checked
 * when the auditor loads it; here, that each entry is a key-shaped word and an http(s) URL.
 */
const auditWitnesses = z
  .string()
  .default('')
  .transform((text, context) => {
    const witnesses: { key: string; url: string }[] = [];
    for (const entry of text.split(',').map((part) => part.trim()).filter((part) => part.length > 0)) {
      const [key, url, extra] = entry.split(/\s+/);
      let parsed: URL | undefined;
      try {
        parsed = url === undefined ? undefined : new URL(url);
      } catch {
        parsed = undefined;
      }
      if (!key || !/^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/.test(key) || !parsed || !['http:', 'https:'].includes(parsed.protocol) || extra !== undefined) {
        context.addIssue({ code: 'custom', message: `each witness is "<verifier key> <http(s) URL>", comma separated; ${JSON.stringify(entry.slice(0, 80))} is not` });
        return z.NEVER;
      }
      witnesses.push({ key, url: parsed.toString() });
    }
    return witnesses;
  });

/** Extra settings of the auditor, which stores usage and answers usage queries (admin keys: the peppers). */
export const auditorEnvSchema = keyServiceEnvSchema.extend({
  /** Signs the transparency log's checkpoints; its key name is the checkpoints' origin line. A secret. */
  KEYLEDGER_AUDIT_SIGNING_KEY: auditSigningKey,
  /** How often the auditor signs a checkpoint when the tree grew (it also signs on demand). */
  AUDIT_CHECKPOINT_INTERVAL_MS: positiveInt.max(3_600_000).default(60_000),
  /** Witnesses asked to cosign each new checkpoint; none by default. */
  AUDIT_WITNESSES: auditWitnesses,
  /** How often the auditor adds the store's new events to the transparency log's tree. */
  AUDIT_TREE_INTERVAL_MS: positiveInt.max(60_000).default(1000),
  /** Days of usage records and per-minute aggregates kept; older daily partitions are dropped. */
  USAGE_RETENTION_DAYS: positiveInt.max(3650).default(90),
  /** Daily partitions created ahead of today. */
  USAGE_PARTITIONS_AHEAD_DAYS: positiveInt.max(60).default(7),
  /** Usage batches stored per transaction at most (each one message of the usage stream). */
  USAGE_INGEST_BATCHES: positiveInt.max(256).default(64),
  /**
   * How long the first usage batch to arrive waits for more to be stored with it: the
   * aggregates are written once per key per transaction, so a longer wait costs Postgres less
   * per verification under load, and delays usage queries by as much. 0 stores whatever has arrived.
   * Unset: 1000, or half of CONSUMER_ACK_WAIT_MS when that is shorter (`loadAuditorConfig`).
   */
  USAGE_INGEST_WAIT_MS: z.coerce.number().int().min(0).max(10_000).optional(),
  /**
   * How often the stored verifications are folded into the usage aggregates (per key and
   * minute, per source and hour, last use): a key busy every second has its rows updated once
   * per fold. Queries fold what is pending before they read, so this bounds their work, not
   * what they see.
   */
  USAGE_AGGREGATE_EVERY_MS: positiveInt.max(300_000).default(10_000),
  /** Where the audit trail is exported for SIEMs: sink URLs (docs/operations.md#siem-export); empty: none. */
  AUDIT_EXPORT_SINKS: siemSinkList,
  /** Events read from the store and written to a sink per batch (one checkpoint per batch). */
  AUDIT_EXPORT_BATCH: positiveInt.max(10_000).default(500),
  /** How often an exporter that has caught up looks for new events. */
  AUDIT_EXPORT_POLL_MS: positiveInt.max(60_000).default(1000),
  /** Longest wait between two attempts at a sink that is down (the backoff doubles up to it). */
  AUDIT_EXPORT_RETRY_MAX_MS: positiveInt.max(600_000).default(30_000),
  /** Webhook sinks: the secrets each batch is signed with (Keyledger-Signature), current first. Secrets. */
  AUDIT_EXPORT_WEBHOOK_SECRETS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const secrets = (value ?? '').split(',').filter((secret) => secret !== '');
      if (secrets.some((secret) => secret.length < 32)) ctx.addIssue({ code: 'custom', message: 'each secret must be at least 32 characters' });
      return secrets;
    }),
}).superRefine((env, ctx) => {
  if (env.AUDIT_EXPORT_SINKS.some((sink) => sink.kind === 'webhook') && env.AUDIT_EXPORT_WEBHOOK_SECRETS.length === 0)
    ctx.addIssue({ code: 'custom', path: ['AUDIT_EXPORT_WEBHOOK_SECRETS'], message: 'is required by a webhook sink of AUDIT_EXPORT_SINKS' });
  // JetStream redelivers a batch held unacked past ack wait, so the wait must leave time to store it.
  if (env.USAGE_INGEST_WAIT_MS !== undefined && env.USAGE_INGEST_WAIT_MS * 2 > env.CONSUMER_ACK_WAIT_MS)
    ctx.addIssue({ code: 'custom', path: ['USAGE_INGEST_WAIT_MS'], message: `must be at most half of CONSUMER_ACK_WAIT_MS (${env.CONSUMER_ACK_WAIT_MS})` });
});

export type AuditorEnv = Omit<z.infer<typeof auditorEnvSchema>, 'USAGE_INGEST_WAIT_MS'> & { readonly USAGE_INGEST_WAIT_MS: number };

export function loadAuditorConfig(env: Record<string, string | undefined>): AuditorEnv {
  const parsed = auditorEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  const { USAGE_INGEST_WAIT_MS, ...config } = checkNatsTlsPair(parsed.data);
  return { ...config, USAGE_INGEST_WAIT_MS: USAGE_INGEST_WAIT_MS ?? waitWithinAckWait(1000, config.CONSUMER_ACK_WAIT_MS) };
}

/** A wait's default, shortened to half the ack wait when that is shorter: JetStream redelivers what waits longer. */
function waitWithinAckWait(wait: number, ackWaitMs: number): number {
  return Math.min(wait, Math.floor(ackWaitMs / 2));
}

/**
 * Extra settings of the anomaly detector: its thresholds, each unset by default so the
 * detectors' own defaults (DEFAULT_ANOMALY_SETTINGS in libs/anomaly-detection) stay the one
 * place they are written. Shorter ones let a test or a trial see findings in seconds.
 */
export const anomalyDetectorEnvSchema = serviceEnvSchema.extend({
  /** Rate spike: the window calls are counted in (and the baseline learns per). */
  ANOMALY_RATE_WINDOW_MS: positiveInt.max(3_600_000).optional(),
  /** Rate spike: a key's history before its rate is judged. */
  ANOMALY_RATE_WARMUP_MS: z.coerce.number().int().min(0).max(30 * 86_400_000).optional(),
  /** Rate spike: calls in a window below which a key never alarms. */
  ANOMALY_RATE_FLOOR: positiveInt.max(10_000_000).optional(),
  /** New network: a key's history before its networks count as known. */
  ANOMALY_NETWORK_LEARN_MS: z.coerce.number().int().min(0).max(90 * 86_400_000).optional(),
  /** New network: calls before a key's networks count as known. */
  ANOMALY_NETWORK_MIN_CALLS: z.coerce.number().int().min(0).max(10_000_000).optional(),
  /** Dormant key: time without a call after which a use is a finding. */
  ANOMALY_DORMANT_AFTER_MS: positiveInt.max(3650 * 86_400_000).optional(),
  /** After a finding, the same detector stays quiet on the same key (or source) this long. */
  ANOMALY_COOLDOWN_MS: z.coerce.number().int().min(0).max(30 * 86_400_000).optional(),
  /** New network: a file of `CIDR,name` lines (ASNs, regions), read and checked at start. */
  ANOMALY_NETWORK_TABLE: z
    .string()
    .min(1)
    .transform((path, ctx): NetworkTable => {
      const text = readText(path, ctx);
      if (text === undefined) return z.NEVER;
      try {
        return NetworkTable.parse(text);
      } catch (error) {
        if (!(error instanceof NetworkTableError)) throw error;
        ctx.addIssue({ code: 'custom', message: `${error.message}: ${path}` });
        return z.NEVER;
      }
    })
    .optional(),
  /**
   * Usage batches (messages) learned from per save of the baselines, at most. A backlog saves the
   * same busy keys' baselines once per this many; live traffic is saved as it comes. Capped so
   * that twice this many 2,000-record batches (what the consumer holds) are learned and saved
   * well within its ack wait.
   */
  ANOMALY_BATCHES_PER_SAVE: positiveInt.max(128).default(64),
  /**
   * How long what the first usage batch of a save taught waits for more batches before the
   * changed baselines are saved (and the batches acked). Each batch is learned from, and its
   * findings recorded, as it arrives; a key's baseline is written once per save however many
   * batches named it, so a longer wait costs Postgres and the detector less per verification.
   * Unset: 5000, or half of CONSUMER_ACK_WAIT_MS when that is shorter (`loadAnomalyDetectorConfig`).
   */
  ANOMALY_SAVE_WAIT_MS: z.coerce.number().int().min(0).max(10_000).optional(),
}).superRefine((env, ctx) => {
  // JetStream redelivers a batch held unacked past ack wait, so the wait must leave time to save it.
  if (env.ANOMALY_SAVE_WAIT_MS !== undefined && env.ANOMALY_SAVE_WAIT_MS * 2 > env.CONSUMER_ACK_WAIT_MS)
    ctx.addIssue({ code: 'custom', path: ['ANOMALY_SAVE_WAIT_MS'], message: `must be at most half of CONSUMER_ACK_WAIT_MS (${env.CONSUMER_ACK_WAIT_MS})` });
});

export type AnomalyDetectorEnv = Omit<z.infer<typeof anomalyDetectorEnvSchema>, 'ANOMALY_SAVE_WAIT_MS'> & { readonly ANOMALY_SAVE_WAIT_MS: number };

export function loadAnomalyDetectorConfig(env: Record<string, string | undefined>): AnomalyDetectorEnv {
  const parsed = anomalyDetectorEnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  const { ANOMALY_SAVE_WAIT_MS, ...config } = checkNatsTlsPair(parsed.data);
  return { ...config, ANOMALY_SAVE_WAIT_MS: ANOMALY_SAVE_WAIT_MS ?? waitWithinAckWait(5000, config.CONSUMER_ACK_WAIT_MS) };
}
