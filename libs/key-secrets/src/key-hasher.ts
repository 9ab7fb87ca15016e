import { randomBytes } from 'node:crypto';
import type { KeyDigest } from '@keyledger/contracts';
import type { KeyEnvironment } from '@keyledger/key-domain';
import { formatNewKey, keyHint } from '@keyledger/key-domain';
import { MidstateHmacSha256 } from './hmac-sha256-midstate.js';
import type { Pepper } from './peppers.js';

/** A freshly issued key: the plaintext goes to the caller once and nowhere else. */
export interface NewKeyMaterial {
  readonly plaintext: string;
  readonly digest: KeyDigest;
  readonly hint: string;
}

/**
 * Makes and recognises key digests. Configured peppers are ranked newest first: a key is
 * looked up under rank 0, and under older ranks only when not found there, so a caller
 * pays for one HMAC in the common case.
 */
export class KeyHasher {
  private readonly prepared: readonly MidstateHmacSha256[];
  /** Pepper versions by rank, newest first. */
  readonly pepperVersions: readonly number[];

  constructor(peppers: readonly Pepper[]) {
    if (peppers.length === 0) throw new RangeError('at least one pepper is required');
    this.prepared = peppers.map((pepper) => new MidstateHmacSha256(pepper.secret));
    this.pepperVersions = Object.freeze(peppers.map((pepper) => pepper.version));
  }

  get currentVersion(): number {
    return this.pepperVersions[0]!;
  }

  /** Generates a new key and its stored form under the current pepper. */
  newKey(prefix: string, environment: KeyEnvironment): NewKeyMaterial {
    const plaintext = formatNewKey(prefix, environment, (size) => randomBytes(size));
    return this.material(plaintext);
  }

  /** The stored form of a given key (for a bootstrap key supplied by the operator). */
  material(plaintext: string): NewKeyMaterial {
    return {
      plaintext,
      digest: { algorithm: 'hmac-sha256', pepperVersion: this.currentVersion, digest: this.digestUnder(plaintext, 0).toString('hex') },
      hint: keyHint(plaintext),
    };
  }

  /** The 32-byte digest of a presented key under the pepper of the given rank (0 = current). */
  digestUnder(plaintext: string, rank: number): Buffer {
    const digest = Buffer.allocUnsafe(32);
    this.digestInto(plaintext, rank, digest);
    return digest;
  }

  /** digestUnder() written into the caller's 32 bytes, for the verify path, which allocates nothing. */
  digestInto(plaintext: string, rank: number, out: Uint8Array): void {
    const hmac = this.prepared[rank];
    if (!hmac) throw new RangeError(`no pepper of rank ${rank}; ${this.prepared.length} configured`);
    hmac.digestInto(plaintext, out);
  }
}
