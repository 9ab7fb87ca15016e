import { SERVICE_DATABASE_URL_VARIABLES, serviceDatabaseLogins } from './database-logins.js';
import { ConfigError, loadMigrateConfig } from './service-config.js';

const minimal = { DATABASE_URL: 'postgres://keyledger@db/keyledger', NATS_URL: 'nats://localhost:4222' };
const urls = (overrides: Record<string, string> = {}) => ({
  ...Object.fromEntries(
    Object.entries(SERVICE_DATABASE_URL_VARIABLES).map(([service, variable]) => [
      variable,
      `postgres://kl_${service.replace('-', '_')}:pw%40${service}@db:5432/keyledger`,
    ]),
  ),
  ...overrides,
});

describe('serviceDatabaseLogins', () => {
  it("reads each service's login and its decoded password from its DATABASE_URL_<SERVICE>, or none when none is set", () => {
    expect(serviceDatabaseLogins(loadMigrateConfig(minimal))).toBeUndefined();
    const logins = serviceDatabaseLogins(loadMigrateConfig({ ...minimal, ...urls() }));
    expect(logins?.find((login) => login.service === 'anomaly-detector')).toEqual({
      service: 'anomaly-detector',
      role: 'keyledger_anomaly_detector',
      login: 'kl_anomaly_detector',
      password: 'pw@anomaly-detector',
    });
    expect(logins).toHaveLength(6);
  });

  it('leaves the password alone when the URL has none', () => {
    const logins = serviceDatabaseLogins(loadMigrateConfig({ ...minimal, ...urls({ DATABASE_URL_RELAY: 'postgres://kl_relay@db/keyledger' }) }));
    expect(logins?.find((login) => login.service === 'relay')?.password).toBeUndefined();
  });

  it('wants all six, each with a login of its own', () => {
    const { DATABASE_URL_RELAY: _relay, ...five } = urls();
    expect(() => serviceDatabaseLogins(loadMigrateConfig({ ...minimal, ...five }))).toThrow(/DATABASE_URL_RELAY: is required/);
    const shared = urls({ DATABASE_URL_VERIFIER: 'postgres://kl_issuer:x@db/keyledger' });
    expect(() => serviceDatabaseLogins(loadMigrateConfig({ ...minimal, ...shared }))).toThrow(
      /DATABASE_URL_VERIFIER: login kl_issuer is also the login of issuer/,
    );
  });

  it('refuses a URL without a login, or with a login or password it cannot use, without repeating the password', () => {
    for (const [url, refusal] of [
      ['postgres://db/keyledger', /DATABASE_URL_VERIFIER: must name the service's own login/],
      ['postgres://Verifier:Sekr3t@db/keyledger', /DATABASE_URL_VERIFIER: must name the service's own login/],
      ['postgres://kl_v:S%C3%A9kr3t@db/keyledger', /DATABASE_URL_VERIFIER: password must be printable ASCII/],
      ['postgres://kl_v:Sekr3t%@db/keyledger', /DATABASE_URL_VERIFIER: is not a valid URL/],
      ['mysql://kl_v:Sekr3t@db/keyledger', /DATABASE_URL_VERIFIER: must be a postgres:\/\/ URL/],
    ] as const) {
      const error = (() => {
        try {
          loadMigrateConfig({ ...minimal, ...urls({ DATABASE_URL_VERIFIER: url }) });
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(refusal);
      expect((error as Error).message).not.toMatch(/kr3t/);
    }
  });
});
