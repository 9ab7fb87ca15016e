import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credsUserName } from '@keyledger/nats-auth';
import { CliUsageError } from './cli-failure.js';
import type { NatsConnectionOptions } from '@keyledger/event-bus';

/** Where `npm start` keeps the local installation's NATS operator, users and the CLI's own creds. */
export const LOCAL_AUTH_DIR = join('.keyledger', 'nats-auth');
export const LOCAL_CLI_CREDS = 'cli.creds';

/** A file that cannot be read or written (ENOENT, EEXIST, EACCES…): the user's to fix, said in one line. */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined;
}

export { CliUsageError } from './cli-failure.js';

/** The checkout this CLI was built in: the folder above dist/ (the bundle is dist/cli/main.js), or above apps/cli from source. */
function checkoutRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const dist = here.lastIndexOf(`${sep}dist${sep}`);
  return dist === -1 ? join(dirname(here), '..', '..') : here.slice(0, dist);
}

/**
 * The local installation's auth directory: `.keyledger/nats-auth` in the working directory or
 * the nearest parent that has one (as git finds `.git`), else in the checkout this CLI was built in.
 */
export function findLocalAuthDir(from = process.cwd()): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, LOCAL_AUTH_DIR))) return join(dir, LOCAL_AUTH_DIR);
    if (dirname(dir) === dir) break;
  }
  const checkout = checkoutRoot();
  return existsSync(join(checkout, LOCAL_AUTH_DIR)) ? join(checkout, LOCAL_AUTH_DIR) : undefined;
}

export interface CliNatsOptions {
  readonly nats: string;
  readonly creds?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly timeout: number;
}

function readCreds(path: string): { text: string; userName: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read the NATS credentials ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const userName = credsUserName(text);
  if (userName === undefined) throw new CliUsageError(`${path} is not a NATS user credentials file`);
  return { text, userName };
}

/**
 * How the CLI connects: `--creds` / NATS_CREDS when given, else the local installation's
 * `.keyledger/nats-auth/cli.creds` when there is one, else without a user; TLS files as given.
 */
export function cliConnection(options: CliNatsOptions): NatsConnectionOptions {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined))
    throw new CliUsageError('--tls-cert and --tls-key go together (mutual TLS needs both)');
  const local = options.creds === undefined ? findLocalAuthDir() : undefined;
  const credsPath = options.creds ?? (local !== undefined && existsSync(join(local, LOCAL_CLI_CREDS)) ? join(local, LOCAL_CLI_CREDS) : undefined);
  const tls =
    options.tlsCa !== undefined || options.tlsCert !== undefined ? { caFile: options.tlsCa, certFile: options.tlsCert, keyFile: options.tlsKey } : undefined;
  return {
    servers: options.nats,
    name: 'keyledger-cli',
    creds: credsPath === undefined ? undefined : readCreds(credsPath),
    tls,
    timeoutMs: options.timeout,
  };
}
