// Tells whether a NATS server with JetStream answers at a NATS URL, by reading the INFO line a
// server sends to every new connection (no client library needed), and names the server of a
// URL for log lines.

import net from 'node:net';
import { errorText } from './helpers.mjs';

const PROBE_TIMEOUT_MS = 2_000;

/** Where NATS clients, the keyledger CLI among them, look when NATS_URL is not set. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/**
 * Checks that the server greets with an INFO line that has JetStream on (and, if given, the
 * expected server_name).
 * @param {string} url
 * @param {string} [expectedName]
 * @returns {Promise<string | null>} null when usable, otherwise why not
 */
export async function probeNats(url, expectedName) {
  let endpoint;
  try {
    endpoint = parseNatsUrl(url);
  } catch (error) {
    return `unparseable URL (${errorText(error)})`;
  }
  try {
    const info = await readNatsInfo(endpoint.host, endpoint.port, PROBE_TIMEOUT_MS);
    if (expectedName && info.server_name !== expectedName) return `a different NATS server (${info.server_name}) answers on that port`;
    return info.jetstream === true ? null : 'JetStream is not enabled on that server (start it with -js)';
  } catch (error) {
    return errorText(error);
  }
}

/**
 * Takes the first server of a comma-separated NATS_URL; a scheme is optional, as in nats.js.
 * @param {string} url
 * @returns {{ host: string, port: number }}
 * @throws {TypeError} when the first server is not a valid URL
 */
export function parseNatsUrl(url) {
  const first = url.split(',')[0].trim();
  const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port || 4222) };
}

/**
 * `host:port` of a NATS URL's first server, for log lines.
 * @param {string} url
 * @returns {string}
 */
export function describeNatsUrl(url) {
  try {
    const { host, port } = parseNatsUrl(url);
    return `${host}:${port}`;
  } catch (error) {
    return `unparseable URL: ${errorText(error)}`;
  }
}

/** A NATS server sends `INFO {json}\r\n` as soon as a client connects. */
function readNatsInfo(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no INFO from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error, info) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(info);
    };
    socket.setEncoding('utf8');
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection before sending INFO`)));
    socket.on('data', (chunk) => {
      buffer += chunk;
      const end = buffer.indexOf('\r\n');
      if (end === -1) {
        if (buffer.length > 65_536) finish(new Error(`${host}:${port} sent no INFO line`));
        return;
      }
      const line = buffer.slice(0, end);
      if (!line.startsWith('INFO ')) {
        finish(new Error(`${host}:${port} does not look like a NATS server (got "${line.slice(0, 40)}")`));
        return;
      }
      try {
        finish(null, JSON.parse(line.slice(5)));
      } catch (error) {
        finish(new Error(`${host}:${port} sent an INFO line that is not JSON (${errorText(error)})`));
      }
    });
  });
}
