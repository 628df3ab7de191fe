/**
 * Merkle Tree Hash, inclusion and consistency proofs: RFC 9162 §2.1 (same tree as RFC 6962 §2.1).
 *
 *   MTH({})        = SHA-256()
 *   MTH({d0})      = SHA-256(0x00 || d0)                              leaf hash
 *   MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))      k = largest power of 2 < n
 *
 * In syslog-ledger the leaf inputs d(i) are the ledger rows' 32-byte `hash` values in seq order
 * (leaf index i = seq - 1, tree size = seq of the last row covered). docs/integrity.md has the details.
 *
 * Nodes are named by (level, index): the complete subtree at `level` (2^level leaves) whose first
 * leaf is index * 2^level. Level 0 nodes are leaf hashes. Every proof element is either one such
 * complete node or, on the right edge of a tree whose size is not a power of two, the MTH of a run
 * of complete nodes (folded right to left). Proof generation therefore first computes a plan
 * (which complete nodes are needed), then a node source fills it in: stored nodes, or leaves read
 * from the ledger, never a rehash of the whole tree.
 *
 * Sizes and indexes are JavaScript numbers: exact up to 2^53 leaves. No bit operators are used on
 * them (those truncate to 32 bits).
 */
import { sha256, sha256Into } from '../ledger/sha256.js';
import { InternalError } from '../errors.js';

/** Length of every hash in the tree (SHA-256). */
export const HASH_SIZE = 32;

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/** The input of a leaf (0x00 || 32 bytes) and of a node (0x01 || 32 || 32 bytes), reused: every row of the ledger is one of each. */
const LEAF_INPUT = Buffer.alloc(1 + HASH_SIZE);
const NODE_INPUT = Buffer.alloc(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = 0x01;
/** Where a node's right child starts in its input. */
const RIGHT = 1 + HASH_SIZE;
/** Levels an accumulator holds: sizes are exact JavaScript integers, below 2^53. */
const MAX_LEVELS = 54;

/** RFC 9162 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  if (data.length !== HASH_SIZE) return sha256(Buffer.concat([Buffer.from([0x00]), data]));
  const out = Buffer.allocUnsafe(HASH_SIZE);
  leafHashInto(data, out, 0);
  return out;
}

/** The leaf hash of 32 bytes of data, written to out[at, at + 32). */
function leafHashInto(data: Uint8Array, out: Uint8Array, at: number): void {
  LEAF_INPUT.set(data, 1);
  sha256Into(LEAF_INPUT, out, at);
}

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new RangeError(`nodeHash: children must be ${HASH_SIZE} bytes`);
  }
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return sha256(NODE_INPUT);
}

/** A complete subtree: 2^level leaves starting at leaf index * 2^level. */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** Called for each complete subtree the accumulator finishes, in the order they complete. */
export type NodeSink = (level: number, index: number, hash: Buffer) => void;

/** The accumulator's state: its size and the roots of its complete subtrees, left (largest) to right. */
export interface FrontierSnapshot {
  readonly size: number;
  readonly frontier: readonly Buffer[];
}

/**
 * The right edge of a growing Merkle tree (a "compact range" [0, size)): one hash per set bit of
 * `size`, so O(log n) memory. append() is amortized one leaf hash plus one node hash, and allocates
 * nothing: the hashes live in one buffer, and each node hash is computed where the next one reads
 * its right child (verify and the checkpointer append every row of the ledger).
 */
export class MerkleAccumulator {
  /** Bytes [32 l, 32 l + 32): root of the complete subtree at level l on the right edge, when #has[l]. */
  readonly #levels = new Uint8Array(MAX_LEVELS * HASH_SIZE);
  readonly #has = new Uint8Array(MAX_LEVELS);
  /** A node hash's input, 0x01 || left || right; the node being carried up is its right child. */
  readonly #node = new Uint8Array(1 + 2 * HASH_SIZE);
  #size = 0;
  readonly #sink: NodeSink | undefined;
  readonly #sinkMinLevel: number;

  /**
   * @param opts.onNode called for every completed subtree at level >= `onNodeMinLevel` (default 0):
   *   how the checkpointer learns which nodes to persist.
   */
  constructor(opts: { onNode?: NodeSink; onNodeMinLevel?: number } = {}) {
    this.#sink = opts.onNode;
    this.#sinkMinLevel = opts.onNodeMinLevel ?? 0;
    this.#node[0] = 0x01;
  }

  /** Number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf input (a ledger row hash); it is leaf-hashed here. */
  append(data: Uint8Array): void {
    if (data.length !== HASH_SIZE) {
      this.appendLeafHash(leafHash(data));
      return;
    }
    leafHashInto(data, this.#node, RIGHT);
    this.#carry();
  }

  /** Appends an already leaf-hashed value (level 0 node). */
  appendLeafHash(h: Uint8Array): void {
    if (h.length !== HASH_SIZE) throw new RangeError(`a leaf hash is ${HASH_SIZE} bytes`);
    this.#node.set(h, RIGHT);
    this.#carry();
  }

  /** Adds the level 0 node in #node's right child: a binary-counter carry, each set bit from the bottom merging with it. */
  #carry(): void {
    const sink = this.#sink;
    const node = this.#node;
    const levels = this.#levels;
    const has = this.#has;
    this.#size += 1;
    if (sink !== undefined && this.#sinkMinLevel === 0) sink(0, this.#size - 1, Buffer.from(node.subarray(RIGHT)));
    let level = 0;
    while (has[level] === 1) {
      for (let k = 0, o = level * HASH_SIZE; k < HASH_SIZE; k++) node[1 + k] = levels[o + k] as number;
      sha256Into(node, node, RIGHT);
      has[level] = 0;
      level += 1;
      if (sink !== undefined && level >= this.#sinkMinLevel) sink(level, this.#size / 2 ** level - 1, Buffer.from(node.subarray(RIGHT)));
    }
    for (let k = 0, o = level * HASH_SIZE; k < HASH_SIZE; k++) levels[o + k] = node[RIGHT + k] as number;
    has[level] = 1;
  }

  /** The stored subtree root at `level` (present). */
  #at(level: number): Buffer {
    return Buffer.from(this.#levels.subarray(level * HASH_SIZE, (level + 1) * HASH_SIZE));
  }

  /** MTH of all leaves appended so far: O(log n) hashes. */
  root(): Buffer {
    let r: Buffer | undefined;
    for (let l = 0; l < MAX_LEVELS; l++) {
      if (this.#has[l] === 1) r = r === undefined ? this.#at(l) : nodeHash(this.#at(l), r);
    }
    return r ?? EMPTY_ROOT;
  }

  /** The frontier, left (highest level) to right: persist it to resume without rehashing. */
  snapshot(): FrontierSnapshot {
    const frontier: Buffer[] = [];
    for (let l = MAX_LEVELS - 1; l >= 0; l--) if (this.#has[l] === 1) frontier.push(this.#at(l));
    return { size: this.#size, frontier };
  }

  /** Replaces the state with a snapshot (as produced by snapshot() or frontierNodes()). */
  restore(s: FrontierSnapshot): void {
    const levels = frontierNodes(s.size).map((n) => n.level);
    if (levels.length !== s.frontier.length) {
      throw new RangeError(`frontier for size ${s.size} needs ${levels.length} hashes, got ${s.frontier.length}`);
    }
    if (s.frontier.some((h) => h === undefined || h.length !== HASH_SIZE)) throw new RangeError('frontier hash must be 32 bytes');
    this.#has.fill(0);
    levels.forEach((level, i) => {
      this.#levels.set(s.frontier[i] as Buffer, level * HASH_SIZE);
      this.#has[level] = 1;
    });
    this.#size = s.size;
  }
}

/** Largest power of two strictly less than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Decomposes the leaf range [begin, end) into maximal complete subtrees, left to right. For the
 * ranges that appear in MTH's recursion (begin a multiple of a power of two >= end - begin) the MTH
 * of the range is the right-to-left fold of these nodes.
 */
export function rangeNodes(begin: number, end: number): NodeId[] {
  const out: NodeId[] = [];
  let pos = begin;
  while (pos < end) {
    // Largest level such that pos is aligned to 2^level and the subtree fits in [pos, end).
    let level = 0;
    while (pos % 2 ** (level + 1) === 0 && pos + 2 ** (level + 1) <= end) level += 1;
    out.push({ level, index: pos / 2 ** level });
    pos += 2 ** level;
  }
  return out;
}

/** The complete subtrees that make up a tree of `size` leaves (the accumulator's frontier), left to right. */
export function frontierNodes(size: number): NodeId[] {
  return rangeNodes(0, size);
}

/** Proof plan: each element is the MTH of these complete nodes (one node, or a right-edge run folded right to left). */
export type ProofPlan = NodeId[][];

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

/** Plan of RFC 9162 §2.1.3.1 PATH(m, D[n]): siblings from the leaf up. */
export function inclusionPlan(index: number, size: number): ProofPlan {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of size ${size}`);
  const out: ProofPlan = [];
  // Iterative form of PATH(m, D[start:end]), collected top-down then reversed.
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index - start < k) {
      out.push(rangeNodes(start + k, end));
      end = start + k;
    } else {
      out.push(rangeNodes(start, start + k));
      start += k;
    }
  }
  return out.reverse();
}

/** Plan of RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), 0 < m < n; empty when m == n or m == 0. */
export function consistencyPlan(size1: number, size2: number): ProofPlan {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 > size2) throw new RangeError(`consistency: first size ${size1} is larger than second size ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  const out: ProofPlan = [];
  let m = size1;
  let start = 0;
  let end = size2;
  let b = true;
  // SUBPROOF(m, D[start:end], b), iteratively; elements collected top-down then reversed.
  for (;;) {
    const n = end - start;
    if (m === n) {
      if (!b) out.push(rangeNodes(start, end));
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      out.push(rangeNodes(start + k, end));
      end = start + k;
    } else {
      out.push(rangeNodes(start, start + k));
      m -= k;
      start += k;
      b = false;
    }
  }
  return out.reverse();
}

/** Every distinct complete node a plan needs. */
export function planNodes(plan: ProofPlan): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const el of plan) for (const n of el) seen.set(`${n.level}/${n.index}`, n);
  return [...seen.values()];
}

/** MTH of a run of complete nodes: fold right to left. */
export function foldRange(hashes: readonly Buffer[]): Buffer {
  let r = hashes[hashes.length - 1];
  if (r === undefined) throw new RangeError('foldRange: empty range');
  for (let i = hashes.length - 2; i >= 0; i--) r = nodeHash(hashes[i] as Buffer, r);
  return r;
}

/** Fills a plan from a node lookup (stored nodes, or computed from leaves). */
export function resolvePlan(plan: ProofPlan, lookup: (n: NodeId) => Buffer): Buffer[] {
  return plan.map((el) => foldRange(el.map(lookup)));
}

/** Something that can return complete nodes of one tree: a database store, or an in-memory tree. */
export interface NodeSource {
  getNodes(ids: readonly NodeId[]): Promise<Map<string, Buffer>>;
}

/** Key of a node in NodeSource maps. */
export function nodeKey(n: NodeId): string {
  return `${n.level}/${n.index}`;
}

async function resolveFrom(source: NodeSource, plan: ProofPlan): Promise<Buffer[]> {
  const got = await source.getNodes(planNodes(plan));
  return resolvePlan(plan, (n) => {
    const h = got.get(nodeKey(n));
    if (h === undefined) throw new InternalError(`Merkle node ${nodeKey(n)} is not available`);
    return h;
  });
}

/** Inclusion proof (audit path) for leaf `index` in the tree of `size` leaves. */
export function inclusionProof(source: NodeSource, index: number, size: number): Promise<Buffer[]> {
  return resolveFrom(source, inclusionPlan(index, size));
}

/** Consistency proof between the trees of `size1` and `size2` leaves. */
export function consistencyProof(source: NodeSource, size1: number, size2: number): Promise<Buffer[]> {
  return resolveFrom(source, consistencyPlan(size1, size2));
}

/** MTH of the first `size` leaves, from stored nodes. */
export async function rootAt(source: NodeSource, size: number): Promise<Buffer> {
  if (size === 0) return EMPTY_ROOT;
  const [el] = await resolveFrom(source, [frontierNodes(size)]);
  return el as Buffer;
}

function isHash(b: Uint8Array): boolean {
  return b.length === HASH_SIZE;
}

/**
 * Root implied by an inclusion proof: RFC 9162 §2.1.3.2 steps 1-4. Returns undefined when the
 * proof cannot be valid for this index and size (wrong length, index out of range).
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined;
  if (!isHash(leaf) || !proof.every(isHash)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return undefined;
  return r;
}

/** RFC 9162 §2.1.3.2: does `proof` show that `leaf` (a leaf hash) is leaf `index` of the tree with `root`? */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const r = rootFromInclusionProof(index, size, leaf, proof);
  return r !== undefined && isHash(root) && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree (size1, root1) is a prefix of (size2, root2)?
 * The degenerate cases the RFC leaves out are decided as Certificate Transparency clients do:
 * size1 == size2 needs an empty proof and equal roots; size1 == 0 needs an empty proof.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size1 > size2) return false;
  if (!isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false;
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (size1 === 0) return proof.length === 0;
  // 1. An empty path fails.
  if (proof.length === 0) return false;
  // 2. When size1 is a power of two, its root is the first node of the path.
  const path: Uint8Array[] = [...proof];
  if (isPowerOfTwo(size1)) path.unshift(root1);
  // 3-4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  // 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 7.
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/**
 * An in-memory NodeSource over leaf hashes (a partial tree, e.g. one 256-leaf block read from the
 * ledger): computes any complete node inside it. Used by the database store for levels below the
 * stored ones, and by tests.
 */
export class LeafBlock {
  /** levels[l][i] = node (l, firstIndex/2^l + i). */
  readonly #levels: Buffer[][];
  readonly #first: number;

  /** @param first index of the first leaf (a multiple of 2^maxLevel the caller will ask for). */
  constructor(first: number, leafHashes: readonly Buffer[]) {
    this.#first = first;
    const levels: Buffer[][] = [[...leafHashes]];
    for (let cur = levels[0] as Buffer[]; cur.length >= 2; ) {
      const next: Buffer[] = [];
      for (let i = 0; i + 1 < cur.length; i += 2) next.push(nodeHash(cur[i] as Buffer, cur[i + 1] as Buffer));
      levels.push(next);
      cur = next;
    }
    this.#levels = levels;
  }

  /** The complete node, or undefined when it is not inside this block. */
  node(n: NodeId): Buffer | undefined {
    const base = this.#first / 2 ** n.level;
    if (!Number.isInteger(base)) return undefined;
    return this.#levels[n.level]?.[n.index - base];
  }
}
