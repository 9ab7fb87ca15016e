import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Pepper } from './peppers.js';

const INFO = 'keyledger projection snapshot v1';

/** A snapshot's seal: which pepper made it and the MAC over the snapshot's bytes. */
export interface Seal {
  readonly pepperVersion: number;
  readonly mac: Buffer;
}

/**
 * Seals projection snapshots so a service only loads one made by a holder of the pepper:
 * a snapshot decides which keys verify, so a row edited in the database must not be able
 * to add one. The MAC key is derived from the pepper with HKDF under its own label, so it
 * is never the key used for key digests.
 */
export class SnapshotSeal {
  private readonly keys: ReadonlyMap<number, Buffer>;
  private readonly current: number;

  constructor(peppers: readonly Pepper[]) {
    if (peppers.length === 0) throw new RangeError('at least one pepper is required');
    this.keys = new Map(peppers.map((pepper) => [pepper.version, Buffer.from(hkdfSync('sha256', pepper.secret, Buffer.alloc(0), INFO, 32))]));
    this.current = peppers[0]!.version;
  }

  /**
   * Seals a snapshot's bytes together with what is stored beside them (`context`: which
   * projection, which format, as of which position), so neither can be swapped or edited
   * without the other.
   */
  seal(bytes: Uint8Array, context: string): Seal {
    return { pepperVersion: this.current, mac: this.mac(this.current, bytes, context)! };
  }

  /** True when the seal was made over these bytes and this context with a configured pepper. */
  verify(bytes: Uint8Array, context: string, seal: Seal): boolean {
    const expected = this.mac(seal.pepperVersion, bytes, context);
    return expected !== undefined && expected.length === seal.mac.length && timingSafeEqual(expected, seal.mac);
  }

  private mac(version: number, bytes: Uint8Array, context: string): Buffer | undefined {
    const key = this.keys.get(version);
    if (!key) return undefined;
    const contextBytes = Buffer.from(context, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(contextBytes.length);
    // Length-prefixed, so no split of context and bytes can give the same input twice.
    return createHmac('sha256', key).update(length).update(contextBytes).update(bytes).digest();
  }
}
