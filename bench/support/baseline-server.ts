// The baseline under the HTTP figures: a node:http server in a process of its own that does the
// verifier's HMAC of the presented key and then a primary-key lookup of the digest in Postgres
// (pool of 10) on every request: what a verifier without an in-memory projection would do.
// Usage: baseline-server <database url> <schema> <peppers>; prints its port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { parseKey } from '@keyledger/key-domain';
import { KeyHasher, parsePeppers } from '@keyledger/key-secrets';

const [databaseUrl, schema, peppers] = process.argv.slice(2) as [string, string, string];
const hasher = new KeyHasher(parsePeppers(peppers));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, options: `-c search_path=${schema}` });
const server = createServer((request, response) => {
  const presented = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (!presented || !parseKey(presented)) return response.writeHead(401).end();
  pool.query<{ status: string }>('select status, scopes, tenant, key_id from bench_keys where digest = $1', [hasher.digestUnder(presented, 0)]).then(
    ({ rows }) => response.writeHead(rows[0]?.status === 'active' ? 200 : 401).end(),
    () => response.writeHead(500).end(),
  );
});
// Ten connections open before the first request, so that they are counted from the start.
await Promise.all(Array.from({ length: 10 }, () => pool.connect())).then((clients) => clients.forEach((client) => client.release()));
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
