// One-shot job: brings the Keyledger schema up to date, connected as the schema owner
// (DATABASE_MIGRATION_URL, or DATABASE_URL when it is an owner), and gives each service's role
// its grants (libs/migrations, DATABASE_GRANTS). Services never migrate.
import { ConfigError, LEGACY_APP_ROLE, loadServiceConfig } from '@keyledger/config';
import { migrateKeyledger } from '@keyledger/migrations';

try {
  const config = loadServiceConfig({ ...process.env, DATABASE_URL: process.env['DATABASE_MIGRATION_URL'] ?? process.env['DATABASE_URL'] });
  const applied = await migrateKeyledger({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, appRole: config.DATABASE_APP_ROLE || LEGACY_APP_ROLE });
  process.stdout.write(
    applied.length === 0 ? `schema ${config.DATABASE_SCHEMA} is up to date\n` : `applied to ${config.DATABASE_SCHEMA}: ${applied.join(', ')}\n`,
  );
} catch (error) {
  process.stderr.write(`migrate: ${error instanceof ConfigError ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
}
