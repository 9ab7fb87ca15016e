// Tells whether a PostgreSQL server answers at a connection URL, and names the server of a URL
// for log lines. `pg` is imported lazily so that importing this file never fails before
// dependencies are installed.

import { errorText, ignoreError } from './helpers.mjs';

const PROBE_TIMEOUT_MS = 2_000;

/**
 * Runs `select 1` through `url`.
 * @param {string} url
 * @returns {Promise<string | null>} null when it works, otherwise why it did not
 */
export async function probePostgres(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  });
  // Without a listener, a late socket error on this short-lived client would crash the process;
  // the outcome is already reported through connect()/query() below.
  client.on('error', ignoreError);
  let connected = false;
  try {
    await client.connect();
    connected = true;
    await client.query('select 1');
    return null;
  } catch (error) {
    return errorText(error);
  } finally {
    if (connected) {
      // The answer is known; a failure while saying goodbye changes nothing.
      await client.end().catch(ignoreError);
    }
  }
}

/**
 * `host:port` of a PostgreSQL URL, without the credentials, for log lines. A Unix-socket URL
 * names its folder in the `host` parameter.
 * @param {string} url
 * @returns {string}
 */
export function describePostgresUrl(url) {
  try {
    const parsed = new URL(url);
    const socketHost = parsed.searchParams.get('host');
    const host = parsed.hostname || socketHost || 'localhost';
    return `${host}:${parsed.port || 5432}`;
  } catch (error) {
    return `unparseable URL: ${errorText(error)}`;
  }
}
