import type { MigrationInterface } from 'typeorm';
import { anomalyWatchMigrations } from '@keyledger/anomaly-watch';
import { auditTrailMigrations } from '@keyledger/audit-trail';
import { consumerRuntimeMigrations } from '@keyledger/consumer-runtime';
import type { DatabaseOptions } from '@keyledger/event-store';
import { eventStoreMigrations, migrateDatabase } from '@keyledger/event-store';
import { projectionSnapshotMigrations } from '@keyledger/key-projection';
import { pendingDeliveriesMigrations } from '@keyledger/pending-deliveries';
import { securityAlertsMigrations } from '@keyledger/security-alerts';
import { siemExportMigrations } from '@keyledger/siem-export';
import { transparencyLogMigrations } from '@keyledger/transparency-log';
import { usageLedgerMigrations } from '@keyledger/usage-ledger';
import type { ServiceDatabaseLogin } from '@keyledger/config';
import { applyDatabaseGrants } from './database-grants.js';
import { applyServiceLogins } from './database-logins.js';

export * from './database-grants.js';
export * from './database-logins.js';

/** Every migration of the Keyledger schema, in order. */
export function keyledgerMigrations(appRole: string): (new () => MigrationInterface)[] {
  return [
    ...eventStoreMigrations(appRole),
    ...consumerRuntimeMigrations(appRole),
    ...projectionSnapshotMigrations(appRole),
    ...usageLedgerMigrations(appRole),
    ...auditTrailMigrations(appRole),
    ...pendingDeliveriesMigrations(appRole),
    ...anomalyWatchMigrations(appRole),
    ...transparencyLogMigrations(),
    ...siemExportMigrations(),
    ...securityAlertsMigrations(),
  ];
}

/**
 * Brings a schema up to date as its owner, then makes its grants those of DATABASE_GRANTS
 * (`appRole`: the role every service assumed before each had its own, kept as a member of
 * them all) and, when given, each service's login a member of its role alone
 * (`applyServiceLogins`); returns the names of the migrations applied.
 */
export function migrateKeyledger(options: DatabaseOptions & { appRole: string; serviceLogins?: readonly ServiceDatabaseLogin[] | undefined }): Promise<string[]> {
  return migrateDatabase({
    ...options,
    migrations: keyledgerMigrations(options.appRole),
    afterMigrations: async (db) => {
      await applyDatabaseGrants(db, options.schema, options.appRole);
      if (options.serviceLogins) await applyServiceLogins(db, options.schema, options.serviceLogins, options.appRole);
    },
  });
}
