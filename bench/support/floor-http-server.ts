// The floor under the HTTP figures: node:http answering every request as the verifier answers a
// valid key (status and headers), doing nothing else, in a process of its own. Prints its port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const headers = {
  'X-Keyledger-Code': 'VALID',
  'Content-Length': '0',
  'Cache-Control': 'no-store',
  'X-Keyledger-Key-Id': 'key_01jd0000000000000000000000',
  'X-Keyledger-Tenant': 'acme',
  'X-Keyledger-Owner': 'bench',
  'X-Keyledger-Scopes': 'orders:*',
};
const server = createServer((_request, response) => response.writeHead(200, headers).end());
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
