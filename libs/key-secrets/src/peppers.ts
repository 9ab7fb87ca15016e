/**
 * A versioned server-side secret. Whatever it makes (a key digest, an event's MAC) records
 * the version it was made with, so a new secret can be put first while what the previous one
 * made keeps verifying until it is replaced.
 */
export interface VersionedSecret {
  readonly version: number;
  readonly secret: Buffer;
}

/** Server-side peppers for key digests, newest first. */
export type Pepper = VersionedSecret;

/** A versioned secret list that does not parse; the message names the entry, never its secret. */
export class VersionedSecretConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionedSecretConfigError';
  }
}

export class PepperConfigError extends VersionedSecretConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'PepperConfigError';
  }
}

/**
 * Parses a list of versioned secrets: comma-separated `<version>:<base64 secret>` entries, the
 * first being the current one, e.g. `2:q83v…,1:Zm9v…`. Each secret must be at least 32 bytes
 * and versions distinct. `what` names an entry in errors ("pepper", "event key"); an error
 * never includes a secret.
 */
export function parseVersionedSecrets(
  text: string,
  what: string,
  makeError: (message: string) => Error = (message) => new VersionedSecretConfigError(message),
): VersionedSecret[] {
  const secrets = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, index) => {
      const match = /^(\d{1,6}):([A-Za-z0-9+/=_-]+)$/.exec(entry);
      if (!match) throw makeError(`${what} #${index + 1} is not <version>:<base64 secret>`);
      const secret = Buffer.from(match[2]!, 'base64');
      if (secret.length < 32) throw makeError(`${what} version ${match[1]} is shorter than 32 bytes`);
      return { version: Number(match[1]), secret };
    });
  if (secrets.length === 0) throw makeError(`no ${what} configured`);
  if (new Set(secrets.map((secret) => secret.version)).size !== secrets.length) throw makeError(`${what} versions must be distinct`);
  return secrets;
}

/** Parses `KEYLEDGER_HASH_PEPPERS` (see parseVersionedSecrets). */
export function parsePeppers(text: string): Pepper[] {
  return parseVersionedSecrets(text, 'pepper', (message) => new PepperConfigError(message));
}
