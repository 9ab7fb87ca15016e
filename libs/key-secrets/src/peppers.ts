/**
 * Server-side peppers for key digests, newest first. A digest records the version of the
 * pepper it was made with, so a new pepper can be introduced while keys hashed with the
 * previous one keep verifying until they are rotated.
 */
export interface Pepper {
  readonly version: number;
  readonly secret: Buffer;
}

export class PepperConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PepperConfigError';
  }
}

/**
 * Parses `KEYLEDGER_HASH_PEPPERS`: comma-separated `<version>:<base64 secret>` entries, the
 * first being the current one, e.g. `2:q83v…,1:Zm9v…`. Each secret must be at least 32
 * bytes. The error never includes a secret.
 */
export function parsePeppers(text: string): Pepper[] {
  const peppers = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, index) => {
      const match = /^(\d{1,6}):([A-Za-z0-9+/=_-]+)$/.exec(entry);
      if (!match) throw new PepperConfigError(`pepper #${index + 1} is not <version>:<base64 secret>`);
      const secret = Buffer.from(match[2]!, 'base64');
      if (secret.length < 32) throw new PepperConfigError(`pepper version ${match[1]} is shorter than 32 bytes`);
      return { version: Number(match[1]), secret };
    });
  if (peppers.length === 0) throw new PepperConfigError('no pepper configured');
  if (new Set(peppers.map((pepper) => pepper.version)).size !== peppers.length) throw new PepperConfigError('pepper versions must be distinct');
  return peppers;
}
