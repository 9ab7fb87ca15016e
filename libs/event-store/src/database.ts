import { DataSource } from 'typeorm';
import type { MigrationInterface } from 'typeorm';

/** How a service reaches its schema. */
export interface DatabaseOptions {
  readonly url: string;
  /** Schema holding Keyledger's tables; tests use one schema per run. */
  readonly schema: string;
  /**
   * Role assumed on every connection (`SET ROLE`). Each service runs as its own role, which
   * may do what its grants say and never change an event; migrations run as the schema owner (no role).
   */
  readonly role?: string | undefined;
  readonly poolSize?: number;
  readonly applicationName?: string;
  readonly migrations?: readonly (new () => MigrationInterface)[];
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Validates a Postgres identifier we splice into SQL (schemas and roles cannot be bound). */
export function assertIdentifier(value: string, what: string): string {
  if (!IDENTIFIER.test(value)) throw new RangeError(`${what} must be a lowercase SQL identifier, got ${JSON.stringify(value)}`);
  return value;
}

/** Builds (but does not open) a TypeORM DataSource whose every connection uses the schema. */
export function createDataSource(options: DatabaseOptions): DataSource {
  const schema = assertIdentifier(options.schema, 'database schema');
  const startup = [`-c search_path=${schema}`];
  if (options.role) startup.push(`-c role=${assertIdentifier(options.role, 'database role')}`);
  return new DataSource({
    type: 'postgres',
    url: options.url,
    schema,
    applicationName: options.applicationName ?? 'keyledger',
    synchronize: false,
    migrationsRun: false,
    migrationsTableName: 'schema_migrations',
    migrations: [...(options.migrations ?? [])],
    logging: false,
    extra: { options: startup.join(' '), max: options.poolSize ?? 10 },
  });
}

/**
 * Creates the schema when missing and applies pending migrations, as the schema owner; then
 * `afterMigrations`, on every run (for what is declared rather than migrated, such as grants).
 */
export async function migrateDatabase(
  options: DatabaseOptions & {
    migrations: readonly (new () => MigrationInterface)[];
    afterMigrations?: (dataSource: DataSource) => Promise<void>;
  },
): Promise<string[]> {
  const schema = assertIdentifier(options.schema, 'database schema');
  const dataSource = createDataSource({ ...options, role: undefined, poolSize: 1 });
  await dataSource.initialize();
  try {
    await dataSource.query(`create schema if not exists ${schema}`);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    await options.afterMigrations?.(dataSource);
    return applied.map((migration) => migration.name);
  } finally {
    await dataSource.destroy();
  }
}
