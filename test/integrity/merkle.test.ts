import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  LeafBlock,
  MerkleAccumulator,
  consistencyProof,
  frontierNodes,
  inclusionProof,
  leafHash,
  nodeHash,
  nodeKey,
  rootAt,
  verifyConsistency,
  verifyInclusion,
  type NodeSource,
} from '../../src/checkpoints/merkle.js';
import { sha256, sha256Equals, sha256Into } from '../../src/ledger/sha256.js';

// Published RFC 6962 test vectors (the 8-leaf tree used by Certificate Transparency and
// transparency-dev/merkle, proof/verify_test.go).
const INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(
  (h) => Buffer.from(h, 'hex'),
);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// [leaf number (1-based), tree size, path]
const INCLUSION: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [3, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    2,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CONSISTENCY: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

const hex = (b: Buffer): string => b.toString('hex');
const unhex = (a: string[]): Buffer[] => a.map((h) => Buffer.from(h, 'hex'));

// ---- Naive reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 written as the recursion reads. ----
function sha(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
function refMth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0] as Buffer);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return sha(Buffer.from([1]), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m < k ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))] : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  const n = d.length;
  if (m === n) return b ? [] : [refMth(d)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

/** A NodeSource over all leaves in memory. */
function memorySource(inputs: Buffer[]): NodeSource {
  const block = new LeafBlock(0, inputs.map(leafHash));
  return {
    async getNodes(ids) {
      const m = new Map<string, Buffer>();
      for (const id of ids) {
        const h = block.node(id);
        if (h === undefined) throw new Error(`no node ${nodeKey(id)}`);
        m.set(nodeKey(id), h);
      }
      return m;
    },
  };
}

describe('merkle: SHA-256 with a string digest (src/ledger/sha256.ts)', () => {
  const ref = (...parts: Uint8Array[]): Buffer => {
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  };

  it('sha256, sha256Into and sha256Equals agree with createHash on every length 0..300 and every byte value', () => {
    const out = Buffer.alloc(64, 0xee);
    for (let len = 0; len <= 300; len++) {
      const data = randomBytes(len);
      if (len >= 2) data[0] = 0xff; // the latin1 digest round trip must keep bytes >= 0x80
      const want = ref(data);
      expect(sha256(data)).toEqual(want);
      sha256Into(data, out, 16);
      expect(out.subarray(16, 48)).toEqual(want);
      expect(out.subarray(0, 16)).toEqual(Buffer.alloc(16, 0xee));
      expect(out.subarray(48)).toEqual(Buffer.alloc(16, 0xee));
      const stored = Buffer.concat([Buffer.alloc(7), want]);
      expect(sha256Equals(data, stored, 7)).toBe(true);
      stored[7 + (len % 32)]! ^= 0x01;
      expect(sha256Equals(data, stored, 7)).toBe(false);
    }
  });

  it('leafHash and nodeHash equal node:crypto on random inputs, and a result is not overwritten by the next call', () => {
    const first = randomBytes(32);
    const firstLeaf = leafHash(first);
    const firstNode = nodeHash(first, first);
    for (let i = 0; i < 2000; i++) {
      const l = randomBytes(32);
      const r = randomBytes(32);
      expect(leafHash(l)).toEqual(ref(Buffer.from([0]), l));
      expect(nodeHash(l, r)).toEqual(ref(Buffer.from([1]), l, r));
    }
    expect(firstLeaf).toEqual(ref(Buffer.from([0]), first));
    expect(firstNode).toEqual(ref(Buffer.from([1]), first, first));
    expect(leafHash(randomBytes(40).subarray(3))).toHaveLength(32); // not 32 bytes: the general path
  });
});

describe('merkle: RFC 6962 test vectors', () => {
  it('merkle: the empty tree hash is SHA-256 of nothing', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new MerkleAccumulator().root().equals(EMPTY_ROOT)).toBe(true);
  });

  it('merkle: the accumulator gives the published roots for sizes 1..8', () => {
    const acc = new MerkleAccumulator();
    INPUTS.forEach((input, i) => {
      acc.append(input);
      expect(acc.size).toBe(i + 1);
      expect(hex(acc.root())).toBe(ROOTS[i]);
    });
  });

  it('merkle: leaf and node hashes use the 0x00 / 0x01 prefixes', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    expect(leafHash(a).equals(sha(Buffer.from([0]), a))).toBe(true);
    expect(nodeHash(a, b).equals(sha(Buffer.from([1]), a, b))).toBe(true);
  });

  it('merkle: generated inclusion proofs equal the published ones and verify', async () => {
    const src = memorySource(INPUTS);
    for (const [leaf, size, path] of INCLUSION) {
      const proof = await inclusionProof(src, leaf - 1, size);
      expect(proof.map(hex)).toEqual(path);
      const root = Buffer.from(ROOTS[size - 1] as string, 'hex');
      expect(verifyInclusion(leaf - 1, size, leafHash(INPUTS[leaf - 1] as Buffer), unhex(path), root)).toBe(true);
    }
  });

  it('merkle: generated consistency proofs equal the published ones and verify', async () => {
    const src = memorySource(INPUTS);
    for (const [s1, s2, path] of CONSISTENCY) {
      const proof = await consistencyProof(src, s1, s2);
      expect(proof.map(hex)).toEqual(path);
      const r1 = Buffer.from(ROOTS[s1 - 1] as string, 'hex');
      const r2 = Buffer.from(ROOTS[s2 - 1] as string, 'hex');
      expect(verifyConsistency(s1, s2, r1, r2, unhex(path))).toBe(true);
    }
  });

  it('merkle: corrupted inclusion proofs are refused', () => {
    const [leaf, size, path] = INCLUSION[2] as [number, number, string[]];
    const root = Buffer.from(ROOTS[size - 1] as string, 'hex');
    const lh = leafHash(INPUTS[leaf - 1] as Buffer);
    const proof = unhex(path);
    expect(verifyInclusion(leaf - 2, size, lh, proof, root)).toBe(false);
    expect(verifyInclusion(leaf, size, lh, proof, root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size * 2, lh, proof, root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size / 2, lh, proof, root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size, leafHash(Buffer.from('WrongLeaf')), proof, root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size, lh, proof, EMPTY_ROOT)).toBe(false);
    expect(verifyInclusion(leaf - 1, size, lh, [...proof, root], root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size, lh, [root, ...proof], root)).toBe(false);
    expect(verifyInclusion(leaf - 1, size, lh, proof.slice(0, -1), root)).toBe(false);
    for (let i = 0; i < proof.length; i++) {
      const bad = proof.map((p) => Buffer.from(p));
      (bad[i] as Buffer)[0]! ^= 8;
      expect(verifyInclusion(leaf - 1, size, lh, bad, root)).toBe(false);
    }
  });

  it('merkle: corrupted consistency proofs and degenerate cases are refused', () => {
    const [s1, s2, path] = CONSISTENCY[2] as [number, number, string[]];
    const r1 = Buffer.from(ROOTS[s1 - 1] as string, 'hex');
    const r2 = Buffer.from(ROOTS[s2 - 1] as string, 'hex');
    const proof = unhex(path);
    expect(verifyConsistency(s1 - 1, s2, r1, r2, proof)).toBe(false);
    expect(verifyConsistency(s1 + 1, s2, r1, r2, proof)).toBe(false);
    expect(verifyConsistency(s1, s2 * 2, r1, r2, proof)).toBe(false);
    expect(verifyConsistency(s1, s2, r2, r1, proof)).toBe(false);
    expect(verifyConsistency(s1, s2, r1, r2, [])).toBe(false);
    expect(verifyConsistency(s1, s2, r1, r2, [...proof, r1])).toBe(false);
    expect(verifyConsistency(s1, s2, r1, r2, [r2, ...proof])).toBe(false);
    expect(verifyConsistency(s1, s2, r1, r2, proof.slice(0, -1))).toBe(false);
    for (let i = 0; i < proof.length; i++) {
      const bad = proof.map((p) => Buffer.from(p));
      (bad[i] as Buffer)[0]! ^= 16;
      expect(verifyConsistency(s1, s2, r1, r2, bad)).toBe(false);
    }
    // Time travel and size-equal cases.
    expect(verifyConsistency(2, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r1, [])).toBe(true);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, r2, [])).toBe(true);
    expect(verifyConsistency(1, 1, r1, r1, [EMPTY_ROOT])).toBe(false);
  });
});

describe('merkle: randomized checks against the naive RFC recursion', () => {
  it('merkle: roots, inclusion and consistency proofs match the reference for sizes up to 48', async () => {
    const data = Array.from({ length: 48 }, () => randomBytes(32));
    const src = memorySource(data);
    const acc = new MerkleAccumulator();
    for (let n = 1; n <= data.length; n++) {
      acc.append(data[n - 1] as Buffer);
      const prefix = data.slice(0, n);
      const root = refMth(prefix);
      expect(acc.root().equals(root)).toBe(true);
      expect((await rootAt(src, n)).equals(root)).toBe(true);
      for (let m = 0; m < n; m++) {
        const proof = await inclusionProof(src, m, n);
        expect(proof.map(hex)).toEqual(refPath(m, prefix).map(hex));
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(verifyInclusion(m, n, leafHash(data[m] as Buffer), proof, root)).toBe(true);
        expect(verifyInclusion(m, n, leafHash(data[(m + 1) % n] as Buffer), proof, root)).toBe(n === 1);
      }
      for (let m = 1; m < n; m++) {
        const proof = await consistencyProof(src, m, n);
        expect(proof.map(hex)).toEqual(refSubproof(m, prefix, true).map(hex));
        const r1 = refMth(data.slice(0, m));
        expect(verifyConsistency(m, n, r1, root, proof)).toBe(true);
        if (proof.length > 0) expect(verifyConsistency(m, n, root, r1, proof)).toBe(false);
      }
    }
  });

  it('merkle: snapshot/restore resumes the accumulator exactly, and reports completed nodes', () => {
    const nodes: string[] = [];
    const acc = new MerkleAccumulator({ onNode: (l, i) => nodes.push(`${l}/${i}`), onNodeMinLevel: 2 });
    const data = Array.from({ length: 1000 }, (_, i) => sha(Buffer.from(String(i))));
    for (const d of data.slice(0, 613)) acc.append(d);
    const snap = acc.snapshot();
    expect(snap.frontier.length).toBe(frontierNodes(613).length);
    const resumed = new MerkleAccumulator();
    resumed.restore(snap);
    for (const d of data.slice(613)) {
      acc.append(d);
      resumed.append(d);
    }
    expect(resumed.root().equals(acc.root())).toBe(true);
    expect(acc.root().equals(refMth(data))).toBe(true);
    // Completed nodes at level 2: one per 4 leaves, level 8: 3 (768 leaves).
    expect(nodes.filter((n) => n.startsWith('2/')).length).toBe(250);
    expect(nodes.filter((n) => n.startsWith('8/'))).toEqual(['8/0', '8/1', '8/2']);
    expect(nodes).toContain('9/0');
  });
});
