import { describePostgresUrl } from './postgres-probe.mjs';

describe('describePostgresUrl', () => {
  it('names host and port without the credentials', () => {
    expect(describePostgresUrl('postgres://postgres:postgres@127.0.0.1:41234/postgres')).toBe('127.0.0.1:41234');
  });

  it('defaults to port 5432', () => {
    expect(describePostgresUrl('postgres://db.internal/keyledger')).toBe('db.internal:5432');
  });

  it('names the socket folder of a Unix-socket URL', () => {
    expect(describePostgresUrl('postgres:///keyledger?host=/var/run/postgresql')).toBe('/var/run/postgresql:5432');
  });

  it('says when the URL cannot be parsed instead of throwing', () => {
    expect(describePostgresUrl('not a url')).toMatch(/^unparseable URL: /);
  });
});
