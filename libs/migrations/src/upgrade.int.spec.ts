import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource, migrateDatabase } from '@keyledger/event-store';
import { APP_ROLE, testInfrastructure } from '@keyledger/testing';
import { keyledgerMigrations, migrateKeyledger } from './index.js';

const COLUMNS = 'event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash';
const row = (n: number, streamId: string, version: number): string =>
  `('0190a3f0-0000-7000-8000-${n.toString(16).padStart(12, '0')}', '${streamId}', ${version}, 'KeySuspended', 1, '{}', '{"actor":"a","correlationId":"c","causationId":"c"}', now(), decode(repeat('00', 32), 'hex'))`;

describe('upgrading a store written before the database set its columns', () => {
  const { databaseUrl } = testInfrastructure();
  const schema = `kl_t_upgrade_${randomBytes(4).toString('hex')}`;
  let owner: DataSource;
  beforeAll(async () => {
    const before = keyledgerMigrations(APP_ROLE).filter((migration) => migration.name !== 'DatabaseSetEventColumns1764000015000');
    await migrateDatabase({ url: databaseUrl, schema, migrations: before });
    owner = await createDataSource({ url: databaseUrl, schema, poolSize: 1 }).initialize();
  });
  afterAll(async () => {
    await owner.query(`drop schema ${schema} cascade`);
    await owner.destroy();
  });

  it('keeps every event as it was and goes on numbering after the last position', async () => {
    await owner.query(`insert into events (${COLUMNS}) values ${row(1, 'key-u1', 1)}, ${row(2, 'key-u1', 2)}, ${row(3, 'key-u2', 1)}`);
    const stored = await owner.query<Record<string, unknown>[]>(`select * from events order by position`);
    expect(await migrateKeyledger({ url: databaseUrl, schema, appRole: APP_ROLE })).toEqual(['DatabaseSetEventColumns1764000015000']);
    expect(await owner.query(`select * from events order by position`)).toEqual(stored);
    const [added] = await owner.query<{ position: string }[]>(`insert into events (${COLUMNS}) values ${row(4, 'key-u1', 3)} returning position::text`);
    expect(BigInt(added!.position)).toBe(BigInt(stored[stored.length - 1]!['position'] as string) + 1n);
    await expect(owner.query(`insert into events (${COLUMNS}) values ${row(5, 'key-u2', 3)}`)).rejects.toThrow(/would leave a gap/);
  });
});
