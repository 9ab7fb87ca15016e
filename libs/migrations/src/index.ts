import type { MigrationInterface } from 'typeorm';
import { auditTrailMigrations } from '@keyledger/audit-trail';
import { consumerRuntimeMigrations } from '@keyledger/consumer-runtime';
import type { DatabaseOptions } from '@keyledger/event-store';
import { eventStoreMigrations, migrateDatabase } from '@keyledger/event-store';
import { projectionSnapshotMigrations } from '@keyledger/key-projection';
import { pendingDeliveriesMigrations } from '@keyledger/pending-deliveries';
import { transparencyLogMigrations } from '@keyledger/transparency-log';
import { usageLedgerMigrations } from '@keyledger/usage-ledger';
import { applyDatabaseGrants } from './database-grants.js';

export * from './database-grants.js';

/** Every migration of the Keyledger schema, in order. */
export function keyledgerMigrations(appRole: string): (new () => MigrationInterface)[] {
  return [
    ...eventStoreMigrations(appRole),
    ...consumerRuntimeMigrations(appRole),
    ...projectionSnapshotMigrations(appRole),
    ...usageLedgerMigrations(appRole),
    ...auditTrailMigrations(appRole),
    ...pendingDeliveriesMigrations(appRole),
    ...transparencyLogMigrations(),
  ];
}

/**
 * Brings a schema up to date as its owner, then makes its grants those of DATABASE_GRANTS
 * (`appRole`: the role every service assumed before each had its own, kept as a member of
 * them all); returns the names of the migrations applied.
 */
export function migrateKeyledger(options: DatabaseOptions & { appRole: string }): Promise<string[]> {
  return migrateDatabase({
    ...options,
    migrations: keyledgerMigrations(options.appRole),
    afterMigrations: (db) => applyDatabaseGrants(db, options.schema, options.appRole),
  });
}
