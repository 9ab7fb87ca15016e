import type { KeyledgerService } from './database-roles.js';
import { SERVICE_DATABASE_ROLES } from './database-roles.js';
import type { DatabaseLogin, MigrateEnv } from './service-config.js';
import { ConfigError } from './service-config.js';

/** The migrate job's variable holding each service's DATABASE_URL, whose login it creates. */
export const SERVICE_DATABASE_URL_VARIABLES = {
  issuer: 'DATABASE_URL_ISSUER',
  verifier: 'DATABASE_URL_VERIFIER',
  rotator: 'DATABASE_URL_ROTATOR',
  relay: 'DATABASE_URL_RELAY',
  auditor: 'DATABASE_URL_AUDITOR',
  'anomaly-detector': 'DATABASE_URL_ANOMALY_DETECTOR',
} as const satisfies Record<KeyledgerService, keyof MigrateEnv>;

type ServiceDatabaseUrlVariable = (typeof SERVICE_DATABASE_URL_VARIABLES)[KeyledgerService];

/** One service's login, which the migrate job makes a member of `role` and of nothing else. */
export interface ServiceDatabaseLogin extends DatabaseLogin {
  readonly service: KeyledgerService;
  readonly role: string;
}

/**
 * The services' own logins the migrate job manages, from each service's DATABASE_URL: undefined
 * when none is given. All six or none, and six different logins: two services on one login
 * could each do what the other may, which is what a login per service is there to prevent.
 */
export function serviceDatabaseLogins(config: Pick<MigrateEnv, ServiceDatabaseUrlVariable>): readonly ServiceDatabaseLogin[] | undefined {
  const services = Object.keys(SERVICE_DATABASE_ROLES) as KeyledgerService[];
  const given = services.flatMap((service) => {
    const login = config[SERVICE_DATABASE_URL_VARIABLES[service]];
    return login ? [{ ...login, service, role: SERVICE_DATABASE_ROLES[service] }] : [];
  });
  if (given.length === 0) return undefined;
  const problems = services
    .filter((service) => !given.some((login) => login.service === service))
    .map(
      (service) => `${SERVICE_DATABASE_URL_VARIABLES[service]}: is required with the other services' DATABASE_URL_* (each service's login, all six or none)`,
    );
  for (const [index, login] of given.entries()) {
    const first = given.findIndex((other) => other.login === login.login);
    if (first !== index)
      problems.push(
        `${SERVICE_DATABASE_URL_VARIABLES[login.service]}: login ${login.login} is also the login of ${given[first]!.service}; each service needs its own`,
      );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return given;
}
