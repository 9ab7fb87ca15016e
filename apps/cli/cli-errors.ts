import { NatsAuthError } from '@keyledger/nats-auth';
import { UnusableCredentialsError } from './nats-credentials.js';

/**
 * The CLI's exit codes, one closed set (docs/api.md#cli): scripts tell a refusal from unusable
 * NATS credentials without reading the message.
 */
export const EXIT_CODES = {
  ok: 0,
  /** A refused command, a key that is not VALID, a file that cannot be read or written, anything else. */
  failed: 1,
  /** NATS credentials or operator files that do not decode (a corrupt nkey seed or `.creds` file). */
  unusableCredentials: 3,
} as const;

/** The exit code of a failure. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UnusableCredentialsError) return EXIT_CODES.unusableCredentials;
  if (error instanceof NatsAuthError && error.code === 'BAD_AUTH_STORE') return EXIT_CODES.unusableCredentials;
  return EXIT_CODES.failed;
}

/**
 * Prints a failure as one line on standard error and sets the exit code: never a stack trace,
 * which says nothing a user can act on; the message of every failure the CLI raises says what to do.
 */
export function reportFailure(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  // A message of several lines (a server's, say) is still printed as one.
  process.stderr.write(`error: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = exitCodeOf(error);
}
