import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { TreeNode } from './merkle-tree.js';
import {
  CompactRange,
  EMPTY_ROOT,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  proofNodes,
  rootNodes,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle-tree.js';

// Published vectors: RFC 6962 hashes and the 8-leaf reference tree of transparency-dev/merkle
// (testonly/constants.go), and its inclusion and consistency probes (testdata/, valid and tampered).
const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const b64 = (text: string): Buffer => Buffer.from(text, 'base64');
const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hex);

interface Probes {
  inclusion: { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }[];
  consistency: { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }[];
}
const probes = JSON.parse(readFileSync(new URL('./testdata/merkle-probes.json', import.meta.url), 'utf8')) as Probes;

/** Every complete subtree of a tree held in memory. */
function memoryTree(leaves: readonly Buffer[]): (node: TreeNode) => Buffer {
  const levels: Buffer[][] = [leaves.map((leaf) => leaf)];
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!;
    const above: Buffer[] = [];
    for (let i = 0; i + 1 < below.length; i += 2) above.push(nodeHash(below[i]!, below[i + 1]!));
    levels.push(above);
  }
  return ({ level, index }) => {
    const hash = levels[level]?.[index];
    if (!hash) throw new Error(`no node ${level}/${index}`);
    return hash;
  };
}

const referenceLeaves = LEAF_INPUTS.map(leafHash);
const reference = memoryTree(referenceLeaves);

describe('RFC 6962 Merkle tree', () => {
  it('hashes two 32-byte nodes as SHA-256(0x01 || left || right), whichever buffers they are', () => {
    const left = createHash('sha256').update('left').digest();
    const right = createHash('sha256').update('right').digest();
    const expected = createHash('sha256')
      .update(Buffer.from([1]))
      .update(left)
      .update(right)
      .digest();
    const first = nodeHash(left, right);
    expect(first).toEqual(expected);
    // A result fed back in (as a tree does) is unchanged by the next hash.
    expect(nodeHash(first, first)).toEqual(
      createHash('sha256')
        .update(Buffer.from([1]))
        .update(expected)
        .update(expected)
        .digest(),
    );
    expect(first).toEqual(expected);
    expect(nodeHash(new Uint8Array(left), right.subarray(0))).toEqual(expected);
  });

  it('hashes leaves and nodes with their domain prefixes (RFC 6962 vectors)', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(leafHash(Buffer.alloc(0)).toString('hex')).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    expect(leafHash(Buffer.from('L123456')).toString('hex')).toBe('395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56');
    expect(nodeHash(Buffer.from('N123'), Buffer.from('N456')).toString('hex')).toBe('aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb');
  });

  it('computes the root of every size of the reference tree, from stored nodes and from a compact range', () => {
    const range = new CompactRange();
    expect(range.root()).toEqual(ROOTS[0]);
    for (let size = 1; size <= 8; size += 1) {
      range.append(referenceLeaves[size - 1]!);
      expect(range.root().toString('hex')).toBe(ROOTS[size]!.toString('hex'));
      expect(treeRoot(size, reference).toString('hex')).toBe(ROOTS[size]!.toString('hex'));
    }
  });

  it('reports each interior node a leaf completes, at its level and index', () => {
    const range = new CompactRange();
    const closed = referenceLeaves.flatMap((leaf) => range.append(leaf));
    expect(closed.map(({ node }) => `${node.level}/${node.index}`)).toEqual(['1/0', '1/1', '2/0', '1/2', '1/3', '2/1', '3/0']);
    for (const { node, hash } of closed) expect(hash).toEqual(reference(node));
  });

  it('resumes a compact range from a stored right edge', () => {
    const resumed = new CompactRange(5, rootNodes(5).map(reference));
    resumed.append(referenceLeaves[5]!);
    expect(resumed.root()).toEqual(ROOTS[6]);
    expect(() => new CompactRange(5, [])).toThrow(/edge nodes/);
  });

  it('joins ranges of leaves hashed apart into the root of every size (the reference tree, then 1..70 leaves in ranges of 1, 2, 4 and 8)', () => {
    const joinedRoot = (leaves: readonly Buffer[], size: number, rangeLeaves: number): Buffer => {
      const joined = new CompactRange();
      let start = 0;
      for (; start + rangeLeaves < size; start += rangeLeaves) {
        const range = new CompactRange();
        for (const leaf of leaves.slice(start, start + rangeLeaves)) range.append(leaf);
        joined.append(range.root());
      }
      const last = new CompactRange();
      for (const leaf of leaves.slice(start, size)) last.append(leaf);
      return joined.rootFollowedBy(last.root());
    };
    for (let size = 1; size <= 8; size += 1) expect(joinedRoot(referenceLeaves, size, 2)).toEqual(ROOTS[size]);
    const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from([i])));
    const whole = new CompactRange();
    for (let size = 1; size <= leaves.length; size += 1) {
      whole.append(leaves[size - 1]!);
      for (const rangeLeaves of [1, 2, 4, 8]) expect(joinedRoot(leaves, size, rangeLeaves)).toEqual(whole.root());
    }
  });

  it('verifies every published inclusion probe as published: the valid ones hold, every tampered one fails', () => {
    expect(probes.inclusion.length).toBeGreaterThan(90);
    for (const probe of probes.inclusion) {
      const ok = verifyInclusion(probe.leafIdx, probe.treeSize, b64(probe.leafHash ?? ''), (probe.proof ?? []).map(b64), b64(probe.root ?? ''));
      expect({ desc: probe.desc, ok }).toEqual({ desc: probe.desc, ok: !probe.wantErr });
    }
  });

  it('verifies every published consistency probe as published', () => {
    expect(probes.consistency.length).toBeGreaterThan(90);
    for (const probe of probes.consistency) {
      const ok = verifyConsistency(probe.size1, probe.size2, b64(probe.root1 ?? ''), b64(probe.root2 ?? ''), (probe.proof ?? []).map(b64));
      expect({ desc: probe.desc, size1: probe.size1, size2: probe.size2, ok }).toEqual({
        desc: probe.desc,
        size1: probe.size1,
        size2: probe.size2,
        ok: !probe.wantErr,
      });
    }
  });

  it('generates the published proofs of the reference tree', () => {
    for (const probe of probes.inclusion.filter((p) => !p.wantErr)) {
      expect(inclusionProof(probe.leafIdx, probe.treeSize, reference).map((h) => h.toString('base64'))).toEqual(probe.proof ?? []);
    }
    for (const probe of probes.consistency.filter((p) => !p.wantErr)) {
      expect(consistencyProof(probe.size1, probe.size2, reference).map((h) => h.toString('base64'))).toEqual(probe.proof ?? []);
    }
  });

  it('generates proofs that verify, and only for their own leaf, size and roots, for every pair of sizes up to 40', () => {
    const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    const tree = memoryTree(leaves);
    for (let size = 1; size <= 40; size += 1) {
      const root = treeRoot(size, tree);
      for (let index = 0; index < size; index += 1) {
        const proof = inclusionProof(index, size, tree);
        expect(proofNodes({ inclusion: { index, size } }).length).toBeGreaterThanOrEqual(proof.length);
        expect(verifyInclusion(index, size, leaves[index]!, proof, root)).toBe(true);
        if (size > 1) expect(verifyInclusion((index + 1) % size, size, leaves[index]!, proof, root)).toBe(false);
      }
      for (let old = 1; old <= size; old += 1) {
        const proof = consistencyProof(old, size, tree);
        expect(verifyConsistency(old, size, treeRoot(old, tree), root, proof)).toBe(true);
        if (old < size) expect(verifyConsistency(old, size, treeRoot(old, tree), leaves[0]!, proof)).toBe(false);
      }
    }
  });

  it('refuses any single flipped bit in a proof (property)', () => {
    const leaves = Array.from({ length: 37 }, (_, i) => leafHash(Buffer.from([i])));
    const tree = memoryTree(leaves);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 37 }), fc.nat(), fc.nat(), fc.nat(255), (size, at, which, bit) => {
        const index = at % size;
        const proof = inclusionProof(index, size, tree);
        const i = which % proof.length;
        const tampered = proof.map((hash, j) => (j === i ? Buffer.from(hash.map((byte, k) => (k === bit % 32 ? byte ^ (1 << (bit % 8)) : byte))) : hash));
        return !verifyInclusion(index, size, leaves[index]!, tampered, treeRoot(size, tree));
      }),
    );
  });

  it('refuses proofs of impossible ranges with a RangeError', () => {
    expect(() => inclusionProof(8, 8, reference)).toThrow(RangeError);
    expect(() => consistencyProof(9, 8, reference)).toThrow(RangeError);
    expect(() => inclusionProof(-1, 8, reference)).toThrow(RangeError);
  });
});
