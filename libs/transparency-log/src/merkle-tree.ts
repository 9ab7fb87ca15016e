import { createHash, hash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proofs, over SHA-256. Pure functions: the nodes a
 * proof needs are named first (`proofNodes`), read from wherever the tree is kept, and passed
 * back in (`NodeLookup`), so the same code serves a tree in memory and one in Postgres.
 */

export const HASH_BYTES = 32;

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** The first byte of a leaf's hashed input (RFC 6962 domain separation). */
export const LEAF_PREFIX_BYTE = 0x00;
const LEAF_PREFIX = Buffer.from([LEAF_PREFIX_BYTE]);
const NODE_PREFIX_BYTE = 0x01;
const NODE_PREFIX = Buffer.from([NODE_PREFIX_BYTE]);

/** nodeHash's input: 0x01, left, right. Filled and hashed in one synchronous call, so shared. */
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES);

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) {
    // Not a node of this tree (a proof's element of the wrong size): hashed as given, never matching a real one.
    return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  }
  // One call over one buffer: a Hash object and three updates cost more than hashing 65 bytes.
  nodeInput[0] = NODE_PREFIX_BYTE;
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return hash('sha256', nodeInput, 'buffer');
}

/**
 * A complete, aligned subtree: the `index`-th node of `level` covers leaves
 * [index·2^level, (index+1)·2^level). Level 0 is a leaf.
 */
export interface TreeNode {
  readonly level: number;
  readonly index: number;
}

/** The hash of a complete subtree of the tree a proof is made from. */
export type NodeLookup = (node: TreeNode) => Buffer;

/** A proof asked of a tree that cannot give it (an index past its size, a size past the tree's). */
export class ProofRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ProofRangeError';
  }
}

function assertSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new ProofRangeError(`${what} must be a non-negative integer, got ${value}`);
}

/** The largest power of two smaller than n (n > 1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * The complete subtrees that make up leaves [start, end), largest first. `start` must be a
 * multiple of the largest power of two below end − start, as every range of an RFC 6962 proof is.
 */
export function rangeNodes(start: number, end: number): TreeNode[] {
  const nodes: TreeNode[] = [];
  let from = start;
  while (from < end) {
    const n = end - from;
    const size = isPowerOfTwo(n) ? n : splitPoint(n);
    if (from % size !== 0) throw new ProofRangeError(`range [${start}, ${end}) is not aligned`);
    nodes.push({ level: Math.log2(size), index: from / size });
    from += size;
  }
  return nodes;
}

/** MTH(D[start:end]) from its complete subtrees (`rangeNodes`), folded right to left. */
export function rangeHash(start: number, end: number, lookup: NodeLookup): Buffer {
  if (start === end) return EMPTY_ROOT;
  const hashes = rangeNodes(start, end).map(lookup);
  let hash = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i -= 1) hash = nodeHash(hashes[i]!, hash);
  return hash;
}

/** A proof as the ranges of leaves whose subtree hashes it lists, in order. */
type Range = readonly [start: number, end: number];

/** RFC 6962 §2.1.1 PATH(m, D[start:end]), as ranges. */
function pathRanges(m: number, start: number, end: number): Range[] {
  const n = end - start;
  if (n <= 1) return [];
  const k = splitPoint(n);
  return m - start < k ? [...pathRanges(m, start, start + k), [start + k, end]] : [...pathRanges(m, start + k, end), [start, start + k]];
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b), as ranges. */
function subproofRanges(m: number, start: number, end: number, complete: boolean): Range[] {
  const n = end - start;
  if (m === n) return complete ? [] : [[start, end]];
  const k = splitPoint(n);
  return m <= k ? [...subproofRanges(m, start, start + k, complete), [start + k, end]] : [...subproofRanges(m - k, start + k, end, false), [start, start + k]];
}

function inclusionRanges(index: number, size: number): Range[] {
  assertSize(index, 'leaf index');
  assertSize(size, 'tree size');
  if (index >= size) throw new ProofRangeError(`leaf index ${index} is not in a tree of size ${size}`);
  return pathRanges(index, 0, size);
}

function consistencyRanges(oldSize: number, newSize: number): Range[] {
  assertSize(oldSize, 'old tree size');
  assertSize(newSize, 'new tree size');
  if (oldSize > newSize) throw new ProofRangeError(`old tree size ${oldSize} is larger than new tree size ${newSize}`);
  if (oldSize === 0 || oldSize === newSize) return [];
  return subproofRanges(oldSize, 0, newSize, true);
}

/** The subtrees an inclusion or consistency proof is made of: read these, then call the proof function with them. */
export function proofNodes(proof: { inclusion: { index: number; size: number } } | { consistency: { oldSize: number; newSize: number } }): TreeNode[] {
  const ranges =
    'inclusion' in proof
      ? inclusionRanges(proof.inclusion.index, proof.inclusion.size)
      : consistencyRanges(proof.consistency.oldSize, proof.consistency.newSize);
  return ranges.flatMap(([start, end]) => rangeNodes(start, end));
}

/** The subtrees the root of a tree of `size` leaves is folded from (its compact range). */
export function rootNodes(size: number): TreeNode[] {
  assertSize(size, 'tree size');
  return size === 0 ? [] : rangeNodes(0, size);
}

/** The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1). */
export function inclusionProof(index: number, size: number, lookup: NodeLookup): Buffer[] {
  return inclusionRanges(index, size).map(([start, end]) => rangeHash(start, end, lookup));
}

/** The consistency proof between the trees of the first `oldSize` and `newSize` leaves (RFC 9162 §2.1.4.1). */
export function consistencyProof(oldSize: number, newSize: number, lookup: NodeLookup): Buffer[] {
  return consistencyRanges(oldSize, newSize).map(([start, end]) => rangeHash(start, end, lookup));
}

/** The root of the tree of the first `size` leaves. */
export function treeRoot(size: number, lookup: NodeLookup): Buffer {
  return rangeHash(0, size, lookup);
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/**
 * RFC 9162 §2.1.3.2: whether `proof` shows the leaf of hash `leaf` at `index` in the tree of
 * `size` leaves whose root is `root`. False for any malformed input, never a throw.
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_BYTES || root.length !== HASH_BYTES || proof.some((hash) => hash.length !== HASH_BYTES)) return false;
  // BigInt: the shifts of the RFC's algorithm on indices past 2^31.
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let hash: Uint8Array = leaf;
  for (const sibling of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      hash = nodeHash(sibling, hash);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      hash = nodeHash(hash, sibling);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(hash, root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows the tree of `oldSize` leaves with root `oldRoot` to
 * be a prefix of the tree of `newSize` leaves with root `newRoot`. Equal sizes need an empty
 * proof and equal roots; a proof from the empty tree means nothing and is refused, as
 * transparency-dev/merkle does (any tree extends the empty one: callers skip that check).
 */
export function verifyConsistency(oldSize: number, newSize: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize <= 0 || newSize < oldSize) return false;
  if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
  if (oldRoot.length !== HASH_BYTES || newRoot.length !== HASH_BYTES || proof.some((hash) => hash.length !== HASH_BYTES)) return false;
  if (proof.length === 0) return false;
  const path: Uint8Array[] = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  let fn = BigInt(oldSize - 1);
  let sn = BigInt(newSize - 1);
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(fr, oldRoot) && equal(sr, newRoot);
}

/**
 * A tree's right edge (RFC 9162's compact range from 0): the roots of its complete subtrees,
 * largest first. Appending a leaf merges equal levels and reports each complete subtree it
 * closes, so a store keeps every interior node once while the tree grows, and the root of
 * any size is at hand without the leaves.
 */
export class CompactRange {
  private readonly stack: { level: number; hash: Buffer }[];
  private count: number;

  /** Resumes from a tree of `size` leaves given its right edge (`rootNodes(size)`, in that order). */
  constructor(size = 0, edge: readonly Buffer[] = []) {
    const nodes = rootNodes(size);
    if (nodes.length !== edge.length) throw new ProofRangeError(`a tree of ${size} leaves has ${nodes.length} edge nodes, got ${edge.length}`);
    this.stack = nodes.map((node, i) => ({ level: node.level, hash: edge[i]! }));
    this.count = size;
  }

  get size(): number {
    return this.count;
  }

  /** Appends a leaf hash; returns the interior nodes (level ≥ 1) it completes, lowest first. */
  append(leaf: Buffer): { node: TreeNode; hash: Buffer }[] {
    const closed: { node: TreeNode; hash: Buffer }[] = [];
    this.stack.push({ level: 0, hash: leaf });
    this.count += 1;
    for (;;) {
      const right = this.stack[this.stack.length - 1]!;
      const left = this.stack[this.stack.length - 2];
      if (left?.level !== right.level) break;
      this.stack.splice(-2, 2);
      const level = right.level + 1;
      const hash = nodeHash(left.hash, right.hash);
      this.stack.push({ level, hash });
      closed.push({ node: { level, index: this.count / 2 ** level - 1 }, hash });
    }
    return closed;
  }

  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let hash = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i -= 1) hash = nodeHash(this.stack[i]!.hash, hash);
    return hash;
  }

  /**
   * The root of this tree followed by more leaves whose own root (MTH) is `right`, when they
   * number no more than this tree's smallest complete subtree holds (or this tree is empty):
   * how ranges of leaves hashed apart join (RFC 9162 §2.1's compact ranges). Folding right to
   * left, the right part's subtrees fold into `right` before meeting this tree's edge.
   */
  rootFollowedBy(right: Buffer): Buffer {
    let hash = right;
    for (let i = this.stack.length - 1; i >= 0; i -= 1) hash = nodeHash(this.stack[i]!.hash, hash);
    return hash;
  }
}
