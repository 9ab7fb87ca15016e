const DIGEST_BYTES = 32;
const EMPTY = -1;

/**
 * An open-addressing hash table from 32-byte key digests to slot numbers, held in typed
 * arrays: 32 bytes per digest plus 4–8 bytes of buckets, against about 100 bytes for a Map
 * entry with a string key. Digests are HMAC outputs under a secret pepper, uniformly
 * distributed and not choosable by a caller, so their first four bytes serve as the hash
 * and linear probing cannot be flooded. Entries are never removed: a revoked key stays
 * findable so it can be answered REVOKED.
 */
export class DigestTable {
  /** Digest of each slot, 32 bytes apart. */
  private digests = new Uint8Array(1024 * DIGEST_BYTES);
  private view = new DataView(this.digests.buffer);
  private buckets = new Int32Array(2048).fill(EMPTY);
  private mask = this.buckets.length - 1;
  private count = 0;

  /** The slot whose digest equals `digest`, or -1. */
  find(digest: Uint8Array): number {
    if (digest.length !== DIGEST_BYTES) return EMPTY;
    const first = (digest[0]! | (digest[1]! << 8) | (digest[2]! << 16) | (digest[3]! << 24)) >>> 0;
    for (let bucket = first & this.mask; ; bucket = (bucket + 1) & this.mask) {
      const slot = this.buckets[bucket]!;
      if (slot === EMPTY) return EMPTY;
      if (this.view.getUint32(slot * DIGEST_BYTES, true) === first && this.sameDigest(slot, digest)) return slot;
    }
  }

  /**
   * Records the digest of a new slot (a key's digest never changes). A digest already
   * present is pointed at the new slot: the newest key with a digest wins.
   */
  add(slot: number, digest: Uint8Array): void {
    if (digest.length !== DIGEST_BYTES) throw new RangeError(`a key digest has ${DIGEST_BYTES} bytes, got ${digest.length}`);
    const existing = this.find(digest);
    this.ensureSlot(slot);
    this.digests.set(digest, slot * DIGEST_BYTES);
    if (existing !== EMPTY) {
      this.buckets[this.bucketOf(existing)] = slot;
      return;
    }
    if ((this.count + 1) * 2 > this.buckets.length) this.growBuckets();
    this.insert(slot);
    this.count += 1;
  }

  /** The digests of slots 0 to count - 1, back to back (a view, not a copy). */
  digestBytes(count: number): Uint8Array {
    return this.digests.subarray(0, count * DIGEST_BYTES);
  }

  /** A copy of a slot's digest. */
  digestOf(slot: number): Uint8Array {
    return this.digests.slice(slot * DIGEST_BYTES, (slot + 1) * DIGEST_BYTES);
  }

  /** Bytes held by the table, for memory figures. */
  get byteLength(): number {
    return this.digests.byteLength + this.buckets.byteLength;
  }

  private sameDigest(slot: number, digest: Uint8Array): boolean {
    const base = slot * DIGEST_BYTES;
    for (let i = 4; i < DIGEST_BYTES; i += 1) if (this.digests[base + i] !== digest[i]) return false;
    return true;
  }

  private bucketOf(slot: number): number {
    const first = this.view.getUint32(slot * DIGEST_BYTES, true);
    for (let bucket = first & this.mask; ; bucket = (bucket + 1) & this.mask) if (this.buckets[bucket] === slot) return bucket;
  }

  private insert(slot: number): void {
    let bucket = this.view.getUint32(slot * DIGEST_BYTES, true) & this.mask;
    while (this.buckets[bucket] !== EMPTY) bucket = (bucket + 1) & this.mask;
    this.buckets[bucket] = slot;
  }

  private ensureSlot(slot: number): void {
    if (slot * DIGEST_BYTES < this.digests.length) return;
    let size = this.digests.length;
    while (slot * DIGEST_BYTES >= size) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.digests);
    this.digests = grown;
    this.view = new DataView(grown.buffer);
  }

  private growBuckets(): void {
    const old = this.buckets;
    this.buckets = new Int32Array(old.length * 2).fill(EMPTY);
    this.mask = this.buckets.length - 1;
    for (const slot of old) if (slot !== EMPTY) this.insert(slot);
  }
}
