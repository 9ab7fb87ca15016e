import { ConfigError, loadRotatorConfig, loadServiceConfig } from './service-config.js';

const minimal = { DATABASE_URL: 'postgres://localhost/keyledger', NATS_URL: 'nats://localhost:4222' };

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

  it('requires the database and NATS URLs', () => {
    expect(() => loadServiceConfig({})).toThrow(/DATABASE_URL[\s\S]*NATS_URL/);
  });

  it('gives the rotator its delivery settings, and refuses a bad one by name', () => {
    const rotator = { ...minimal, KEYLEDGER_HASH_PEPPERS: `1:${'a'.repeat(44)}` };
    expect(loadRotatorConfig(rotator)).toMatchObject({
      DELIVERY_RETRY_MIN_MS: 5000,
      DELIVERY_RETRY_MAX_MS: 3_600_000,
      DELIVERY_TTL_MS: 86_400_000,
      DELIVERY_POLL_INTERVAL_MS: 1000,
      DELIVERY_WEBHOOK_TIMEOUT_MS: 10_000,
    });
    expect(loadRotatorConfig(rotator).KEYLEDGER_WEBHOOK_CA_FILE).toBeUndefined();
    expect(() => loadRotatorConfig({ ...rotator, DELIVERY_RETRY_MIN_MS: '0' })).toThrow(/DELIVERY_RETRY_MIN_MS/);
  });
});
