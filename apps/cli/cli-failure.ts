/**
 * How a failed `keyledger` command ends: one line on stderr saying what failed and what to do,
 * and an exit code a script can act on (docs/api.md#exit-codes). Never a stack trace, unless
 * KEYLEDGER_DEBUG=1 asks for one. This file imports nothing heavy: every command loads it.
 */

/** The exit codes, one per kind of outcome; a closed set, documented in docs/api.md. */
export const EXIT_CODES = {
  ok: 0,
  /** The answer is no: a key that is not VALID, a service that is not ready, keys found by scan. */
  no: 1,
  /** The command line is wrong: an unknown command or flag, a bad value, a file that cannot be read. */
  usage: 2,
  /**
   * Keyledger could not be reached: NATS unreachable or refusing the credentials, credentials
   * that cannot be used (a corrupt `.creds` file or nkey seed), no service answering, no answer in time.
   */
  unreachable: 3,
  /** A service refused the request; its error code is printed (KEY_NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED …). */
  refused: 4,
  /** A service could not do it or confirm it now (UNAVAILABLE, CONCURRENCY_CONFLICT, VERIFIERS_UNCONFIRMED): try again. */
  retry: 5,
  /** A bug in the CLI. */
  bug: 70,
} as const;

/** A failure that is the user's to fix on the command line (a flag, a value, a file). */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** NATS credentials that cannot be used as they are (not a `.creds` file, or a seed that does not decode). */
export class UnusableCredentialsError extends Error {
  override readonly name = 'UnusableCredentialsError';
}

/** A service's refusal, printed as `CODE: message`. */
export class CliApiError extends Error {
  override readonly name = 'CliApiError';
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** NATS could not be connected to at all. */
export class NatsUnreachableError extends Error {
  override readonly name = 'NatsUnreachableError';
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(`cannot connect to NATS at ${url}`);
  }
}

/** A request sent on NATS got no usable answer. */
export class RequestFailedError extends Error {
  override readonly name = 'RequestFailedError';
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    override readonly cause: unknown,
  ) {
    super(`request on ${subject} failed`);
  }
}

/** API error codes that say "not now" rather than "no". */
const RETRYABLE_API_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'CONCURRENCY_CONFLICT', 'VERIFIERS_UNCONFIRMED']);

/** Which service answers a subject's operation, to say which one is missing. */
function serviceFor(subject: string): string {
  if (/\.keys\.verify$/.test(subject)) return 'verifier';
  // The auditor answers usage, the audit log and key histories, and anomaly findings (their acknowledgement is the issuer's).
  if (/\.(usage|audit)\.|\.anomalies\.(list|explain)$/.test(subject)) return 'auditor';
  if (/\.status$/.test(subject)) return 'Keyledger stack';
  return 'issuer';
}

const NATS_HINT = 'is `npm start` running? Otherwise set NATS_URL (or --nats) to your NATS server';

export interface Failure {
  readonly exitCode: number;
  readonly message: string;
}

function errnoOf(error: unknown): NodeJS.ErrnoException | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if (typeof (current as NodeJS.ErrnoException).code === 'string' && (current as NodeJS.ErrnoException).syscall !== undefined) return current;
  }
  return undefined;
}

function hasCause(error: unknown, name: string): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) if (current.name === name) return true;
  return false;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hostOf(url: string): string {
  const first = url.split(',')[0]!.trim();
  try {
    return new URL(first.includes('://') ? first : `nats://${first}`).hostname;
  } catch {
    // Not a URL at all: the whole text is what the user has to fix.
    return first;
  }
}

function unreachable(error: NatsUnreachableError): Failure {
  const { url, cause } = error;
  const errno = errnoOf(cause);
  const where = `cannot reach NATS at ${url}`;
  let message: string;
  if (errno?.code === 'ENOTFOUND' || errno?.code === 'EAI_AGAIN') message = `${where}: unknown host ${JSON.stringify(hostOf(url))}; check NATS_URL (or --nats)`;
  else if (errno?.code === 'ECONNREFUSED' || /connection refused/i.test(messageOf(cause))) message = `${where}: connection refused; ${NATS_HINT}`;
  else if (hasCause(cause, 'TimeoutError') || /timeout/i.test(messageOf(cause))) message = `${where}: no answer in time; check the address and the network (NATS_URL, --nats, --timeout)`;
  else if (hasCause(cause, 'AuthorizationError') || hasCause(cause, 'UserAuthenticationExpiredError') || /authoriz/i.test(messageOf(cause)))
    message = `NATS at ${url} refused the credentials (${messageOf(cause)}); use the ones \`npm start\` made (.keyledger/nats-auth/cli.creds) or set NATS_CREDS (or --creds)`;
  else message = `${where}: ${messageOf(cause)}; ${NATS_HINT}`;
  return { exitCode: EXIT_CODES.unreachable, message };
}

function requestFailed(error: RequestFailedError): Failure {
  const { subject, cause, timeoutMs } = error;
  const service = serviceFor(subject);
  if (hasCause(cause, 'NoRespondersError') || (cause instanceof Error && 'isNoResponders' in cause && (cause as { isNoResponders(): boolean }).isNoResponders()))
    return {
      exitCode: EXIT_CODES.unreachable,
      message: `no ${service} answers ${subject}: is it running? (\`keyledger status\` lists what runs; check --subject-prefix)`,
    };
  if (hasCause(cause, 'TimeoutError'))
    return { exitCode: EXIT_CODES.unreachable, message: `the ${service} did not answer ${subject} within ${timeoutMs} ms; try again, or raise --timeout` };
  if (hasCause(cause, 'PermissionViolationError') || /permissions violation/i.test(messageOf(cause)))
    return {
      exitCode: EXIT_CODES.refused,
      message: `NATS does not let these credentials send ${subject}; use credentials allowed to (keyledger clients add NAME --allow …)`,
    };
  if (/max_payload|MAX_PAYLOAD/.test(messageOf(cause)))
    return { exitCode: EXIT_CODES.usage, message: `the request on ${subject} is larger than the NATS server accepts (max_payload)` };
  return { exitCode: EXIT_CODES.unreachable, message: `the request on ${subject} failed: ${messageOf(cause)}` };
}

/** What to print, and the exit code, for anything a command threw. */
export function explainFailure(error: unknown): Failure {
  if (error instanceof CliUsageError) return { exitCode: EXIT_CODES.usage, message: error.message };
  if (error instanceof UnusableCredentialsError) return { exitCode: EXIT_CODES.unreachable, message: error.message };
  // The operator files of `clients` and `nats-auth` holding a seed that does not decode (libs/nats-auth).
  if (error instanceof Error && error.name === 'NatsAuthError' && (error as { code?: unknown }).code === 'BAD_AUTH_STORE')
    return { exitCode: EXIT_CODES.unreachable, message: error.message };
  if (error instanceof Error && error.name === 'NatsAuthError') {
    const code = String((error as { code?: unknown }).code);
    // A client that exists, does not or is revoked is the operator store saying no; a missing store or a bad name is the command line's.
    return { exitCode: code.startsWith('CLIENT_') ? EXIT_CODES.refused : EXIT_CODES.usage, message: error.message };
  }
  if (error instanceof CliApiError) return { exitCode: RETRYABLE_API_CODES.has(error.code) ? EXIT_CODES.retry : EXIT_CODES.refused, message: error.message };
  if (error instanceof NatsUnreachableError) return unreachable(error);
  if (error instanceof RequestFailedError) return requestFailed(error);
  // commander's InvalidArgumentError, thrown by an option parser used inside an action.
  if (error instanceof Error && String((error as { code?: unknown }).code).startsWith('commander.')) return { exitCode: EXIT_CODES.usage, message: messageOf(error) };
  const errno = errnoOf(error);
  // A server other than NATS (the database `audit verify` reads) that cannot be reached.
  if (errno && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(errno.code ?? '')) {
    const where = (errno as { address?: string; port?: number; hostname?: string }).hostname ?? (errno as { address?: string }).address ?? 'the server';
    const port = (errno as { port?: number }).port;
    return { exitCode: EXIT_CODES.unreachable, message: `cannot reach ${where}${port === undefined ? '' : `:${port}`} (${errno.code}); check the address (e.g. DATABASE_URL)` };
  }
  if (errno?.path !== undefined) {
    const reason = { ENOENT: 'no such file or directory', EACCES: 'permission denied', EISDIR: 'it is a directory', ENOTDIR: 'not a directory' }[errno.code ?? ''];
    return { exitCode: EXIT_CODES.usage, message: `cannot use ${errno.path}: ${reason ?? errno.code}` };
  }
  return {
    exitCode: EXIT_CODES.bug,
    message: `unexpected error: ${messageOf(error)}. This is a bug in keyledger; run again with KEYLEDGER_DEBUG=1 to see where, and report it`,
  };
}

/** Prints a failure as one line (and, with KEYLEDGER_DEBUG=1, its stack), sets the exit code and returns it. */
export function reportFailure(error: unknown, env: NodeJS.ProcessEnv = process.env): number {
  const { exitCode, message } = explainFailure(error);
  // A message of several lines (a server's, say) is still printed as one.
  process.stderr.write(`error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = exitCode;
  if (env['KEYLEDGER_DEBUG'] === '1' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  return exitCode;
}
