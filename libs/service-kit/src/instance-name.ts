import { randomUUID } from 'node:crypto';

/**
 * A process's instance name: `<service>-<host>-<pid>-<8 random hex>`. Host and pid say where
 * it runs; the random tail keeps it unique when a restarted process gets the same pid. The
 * host is cut to the characters and length a stream id allows (`credits-<instance>`), since
 * os.hostname() can be up to 253 characters of nearly anything.
 */
export function instanceName(service: string, host: string, pid: number, random: string = randomUUID().slice(0, 8)): string {
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 63) || 'host';
  return `${service}-${safeHost}-${pid}-${random}`;
}
