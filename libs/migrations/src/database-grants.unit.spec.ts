import { SERVICE_DATABASE_ROLES } from '@keyledger/config';
import { DATABASE_GRANTS, KEYLEDGER_TABLES } from './database-grants.js';

describe('DATABASE_GRANTS', () => {
  it('has a row for every service and names only tables of the schema', () => {
    expect(Object.keys(DATABASE_GRANTS).sort()).toEqual(Object.keys(SERVICE_DATABASE_ROLES).sort());
    for (const grants of Object.values(DATABASE_GRANTS)) {
      for (const table of Object.keys(grants.tables)) expect(KEYLEDGER_TABLES).toContain(table);
    }
  });

  it('never lets a service change or remove an event, a usage record, or a leaf, node or checkpoint of the transparency log', () => {
    for (const [service, grants] of Object.entries(DATABASE_GRANTS)) {
      for (const table of ['events', 'usage_records', 'tlog_leaves', 'tlog_nodes', 'tlog_checkpoints'] as const) {
        const changing = (grants.tables[table] ?? []).filter((privilege) => privilege === 'update' || privilege === 'delete');
        expect({ service, table, changing }).toEqual({ service, table, changing: [] });
      }
    }
  });

  it('lets only the services that append events insert them', () => {
    const writers = Object.entries(DATABASE_GRANTS)
      .filter(([, grants]) => grants.tables.events?.includes('insert'))
      .map(([service]) => service)
      .sort();
    expect(writers).toEqual(['anomaly-detector', 'issuer', 'rotator', 'verifier']);
  });
});
