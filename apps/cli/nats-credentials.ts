import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credsUserName, usableCredsUserName } from '@keyledger/nats-auth';
import type { NatsConnectionOptions } from '@keyledger/nats-connection';
import { CliUsageError, UnusableCredentialsError } from './cli-failure.js';

/** Where `npm start` keeps the local installation's NATS operator, users and the CLI's own creds. */
export const LOCAL_AUTH_DIR = join('.keyledger', 'nats-auth');
export const LOCAL_CLI_CREDS = 'cli.creds';
/** Beside the auth directory: the address of the nats-server `npm start` runs (tools/local-stack/local-nats-server.mjs). */
export const LOCAL_NATS_URL = 'nats-url';
const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** A file that cannot be read or written (ENOENT, EEXIST, EACCES…): the user's to fix, said in one line. */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined;
}

export { CliUsageError, UnusableCredentialsError } from './cli-failure.js';

/** The checkout this CLI was built in: the folder above dist/ (the bundle is dist/cli/main.js), or above apps/cli from source. */
function checkoutRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const dist = here.lastIndexOf(`${sep}dist${sep}`);
  return dist === -1 ? join(dirname(here), '..', '..') : here.slice(0, dist);
}

/**
 * A path of the local installation (under `.keyledger/`, which `npm start` makes): in the working
 * directory or the nearest parent that has it (as git finds `.git`), else in the checkout this CLI
 * was built in.
 */
export function findLocalPath(path: string, from = process.cwd()): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, path))) return join(dir, path);
    if (dirname(dir) === dir) break;
  }
  const checkout = checkoutRoot();
  return existsSync(join(checkout, path)) ? join(checkout, path) : undefined;
}

/** The local installation's auth directory, `.keyledger/nats-auth` (see `findLocalPath`). */
export function findLocalAuthDir(from = process.cwd()): string | undefined {
  return findLocalPath(LOCAL_AUTH_DIR, from);
}

/**
 * Where the CLI looks for NATS without `--nats` / NATS_URL: the address `npm start` recorded in
 * the local installation found as findLocalAuthDir finds it, else 127.0.0.1:4222. The port
 * npm start chose when 4222 was taken is thus found without an export.
 */
export function defaultNatsUrl(authDir = findLocalAuthDir()): string {
  if (authDir === undefined) return DEFAULT_NATS_URL;
  try {
    return readFileSync(join(dirname(authDir), LOCAL_NATS_URL), 'utf8').trim() || DEFAULT_NATS_URL;
  } catch {
    // None recorded (NATS not run by npm start, or an installation from before it was recorded),
    // or unreadable: the default then, and a failed connection names the address it tried.
    return DEFAULT_NATS_URL;
  }
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
  const userName = usableCredsUserName(text);
  if (userName === undefined)
    throw new UnusableCredentialsError(
      `${path} is not a usable NATS user credentials file (${credsUserName(text) === undefined ? 'no user JWT and seed' : 'its nkey seed does not decode'}): give the .creds file the user was issued, or ask for a new one (keyledger clients add)`,
    );
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
