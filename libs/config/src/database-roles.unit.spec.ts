import { SERVICE_DATABASE_ROLES, databaseRoleOf } from './database-roles.js';
import { loadServiceConfig } from './service-config.js';

const minimal = { DATABASE_URL: 'postgres://localhost/keyledger', NATS_URL: 'nats://localhost:4222', KEYLEDGER_EVENT_KEYS: `1:${Buffer.alloc(32, 9).toString('base64')}` };

describe('databaseRoleOf', () => {
  it('gives each service its own role when nothing is set', () => {
    const config = loadServiceConfig(minimal);
    expect(databaseRoleOf(config, 'verifier')).toBe('keyledger_verifier');
    expect(databaseRoleOf(config, 'anomaly-detector')).toBe('keyledger_anomaly_detector');
    expect(new Set(Object.values(SERVICE_DATABASE_ROLES)).size).toBe(Object.keys(SERVICE_DATABASE_ROLES).length);
  });

  it('keeps an installation that set DATABASE_APP_ROLE on that one role, as before', () => {
    const config = loadServiceConfig({ ...minimal, DATABASE_APP_ROLE: 'keyledger_app' });
    expect(databaseRoleOf(config, 'issuer')).toBe('keyledger_app');
    expect(databaseRoleOf(loadServiceConfig({ ...minimal, DATABASE_APP_ROLE: '' }), 'issuer')).toBeUndefined();
  });

  it('takes DATABASE_ROLE over both, and assumes no role when it is empty', () => {
    expect(databaseRoleOf(loadServiceConfig({ ...minimal, DATABASE_APP_ROLE: 'keyledger_app', DATABASE_ROLE: 'verifier_pod' }), 'verifier')).toBe('verifier_pod');
    expect(databaseRoleOf(loadServiceConfig({ ...minimal, DATABASE_APP_ROLE: 'keyledger_app', DATABASE_ROLE: '' }), 'verifier')).toBeUndefined();
  });

  it('refuses a role that is not a plain SQL identifier, by name', () => {
    expect(() => loadServiceConfig({ ...minimal, DATABASE_ROLE: 'x; drop table events' })).toThrow(/DATABASE_ROLE/);
  });
});
