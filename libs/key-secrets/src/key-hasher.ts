import { createHash, randomBytes } from 'node:crypto';
import type { KeyDigest } from '@keyledger/contracts';
import type { KeyEnvironment } from '@keyledger/key-domain';
import { formatNewKey, keyHint } from '@keyledger/key-domain';
import type { Pepper } from './peppers.js';

const BLOCK = 64;

/**
 * HMAC-SHA256 keyed by a pepper, with the pepper's padded inner and outer blocks prepared
 * once: a digest is then two one-shot SHA-256 calls, which matters on the verify path.
 * Equivalent to createHmac('sha256', secret) (tested).
 */
class PreparedHmac {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(secret: Buffer) {
    const key = Buffer.alloc(BLOCK);
    (secret.length > BLOCK ? createHash('sha256').update(secret).digest() : secret).copy(key);
    this.inner = Buffer.alloc(BLOCK);
    this.outer = Buffer.alloc(BLOCK);
    for (let i = 0; i < BLOCK; i += 1) {
      this.inner[i] = key[i]! ^ 0x36;
      this.outer[i] = key[i]! ^ 0x5c;
    }
  }

  digest(message: string): Buffer {
    const innerHash = createHash('sha256').update(this.inner).update(message, 'utf8').digest();
    return createHash('sha256').update(this.outer).update(innerHash).digest();
  }
}

/** A freshly issued key: the plaintext goes to the caller once and nowhere else. */
export interface NewKeyMaterial {
  readonly plaintext: string;
  readonly digest: KeyDigest;
  readonly hint: string;
}

/**
 * Makes and recognises key digests. `lookupDigests` yields the digest of a presented key
 * under every configured pepper (current first), as compact binary strings for map lookups.
 */
export class KeyHasher {
  private readonly prepared: readonly { version: number; hmac: PreparedHmac }[];

  constructor(peppers: readonly Pepper[]) {
    if (peppers.length === 0) throw new RangeError('at least one pepper is required');
    this.prepared = peppers.map((pepper) => ({ version: pepper.version, hmac: new PreparedHmac(pepper.secret) }));
  }

  get currentVersion(): number {
    return this.prepared[0]!.version;
  }

  /** Generates a new key and its stored form under the current pepper. */
  newKey(prefix: string, environment: KeyEnvironment): NewKeyMaterial {
    const plaintext = formatNewKey(prefix, environment, (size) => randomBytes(size));
    return this.material(plaintext);
  }

  /** The stored form of a given key (for a bootstrap key supplied by the operator). */
  material(plaintext: string): NewKeyMaterial {
    const { version, hmac } = this.prepared[0]!;
    return {
      plaintext,
      digest: { algorithm: 'hmac-sha256', pepperVersion: version, digest: hmac.digest(plaintext).toString('hex') },
      hint: keyHint(plaintext),
    };
  }

  /**
   * Digests of a presented key under each pepper, current first, as index keys (see
   * digestIndexKey). Computed one at a time: a caller that finds the key under the current
   * pepper pays for one HMAC, not one per configured pepper.
   */
  *lookupDigests(plaintext: string): Generator<{ version: number; indexKey: string }, void, undefined> {
    for (const { version, hmac } of this.prepared) yield { version, indexKey: hmac.digest(plaintext).toString('latin1') };
  }
}

/** The in-memory index key of a stored digest: 32 bytes as a one-byte string (compact in V8). */
export function digestIndexKey(digest: KeyDigest): string {
  return Buffer.from(digest.digest, 'hex').toString('latin1');
}
