import type { ServiceEnv } from './service-config.js';

/**
 * The Postgres role of each service: what it may do to which table is granted to this role by
 * the migrate job (`DATABASE_GRANTS` in libs/migrations), and the service assumes it on every
 * connection unless told otherwise (`databaseRoleOf`).
 */
export const SERVICE_DATABASE_ROLES = {
  issuer: 'keyledger_issuer',
  verifier: 'keyledger_verifier',
  rotator: 'keyledger_rotator',
  relay: 'keyledger_relay',
  auditor: 'keyledger_auditor',
  'anomaly-detector': 'keyledger_anomaly_detector',
} as const;

/** A Keyledger service that connects to Postgres. */
export type KeyledgerService = keyof typeof SERVICE_DATABASE_ROLES;

/**
 * The role every service assumed before each had its own. The migrate job keeps it (or the one
 * DATABASE_APP_ROLE names) as a member of every service role, so an installation that still
 * sets DATABASE_APP_ROLE, or a login that is a member of it, works unchanged.
 */
export const LEGACY_APP_ROLE = 'keyledger_app';

/**
 * The role a service assumes: DATABASE_ROLE, else DATABASE_APP_ROLE (as before per-service
 * roles), else its own; undefined (assume none) when the chosen setting is empty.
 */
export function databaseRoleOf(config: Pick<ServiceEnv, 'DATABASE_ROLE' | 'DATABASE_APP_ROLE'>, service: KeyledgerService): string | undefined {
  const role = config.DATABASE_ROLE ?? config.DATABASE_APP_ROLE ?? SERVICE_DATABASE_ROLES[service];
  return role === '' ? undefined : role;
}
