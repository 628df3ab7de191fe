/**
 * The Merkle tree of a chain in PostgreSQL (docs/integrity.md, "Merkle tree storage"):
 *   - complete subtrees at level >= STORED_MIN_LEVEL (8: 256 leaves) are rows of `merkle_nodes`;
 *   - lower levels are recomputed from the ledger's row hashes, at most 256 per block.
 * A node missing from the table (lost in a crash before it was written) is recomputed from its
 * children, down to the ledger rows: the table is a cache of what the ledger determines.
 */
import type pg from 'pg';
import { LeafBlock, MerkleAccumulator, frontierNodes, leafHash, nodeHash, nodeKey, type FrontierSnapshot, type NodeId, type NodeSource } from './merkle.js';
import { MissingLeavesError } from '../errors.js';

/** Lowest level stored in merkle_nodes: one row per 2^8 = 256 leaves (and ~1 more above). */
export const STORED_MIN_LEVEL = 8;
export const BLOCK_LEAVES = 2 ** STORED_MIN_LEVEL;

/** Anything that runs a query: a pg.Pool, pg.Client or pooled client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Row hashes of seq (from, to], in order; throws when a row is missing. */
export async function readRowHashes(db: Queryable, chain: string, from: number, to: number): Promise<Buffer[]> {
  if (to <= from) return [];
  const res = await db.query<{ seq: string; hash: Buffer }>(
    'SELECT seq, hash FROM ledger WHERE chain = $1 AND seq > $2 AND seq <= $3 ORDER BY seq',
    [chain, from, to],
  );
  const out: Buffer[] = new Array(res.rows.length);
  for (let i = 0; i < res.rows.length; i++) {
    const r = res.rows[i] as { seq: string; hash: Buffer };
    if (Number(r.seq) !== from + i + 1) {
      throw new MissingLeavesError(chain, from + i + 1, `chain "${chain}": ledger row seq ${from + i + 1} is missing`);
    }
    out[i] = r.hash;
  }
  if (out.length !== to - from) {
    throw new MissingLeavesError(chain, from + out.length + 1, `chain "${chain}": ledger row seq ${from + out.length + 1} is missing`);
  }
  return out;
}

/**
 * NodeSource over one chain in the database, for trees of at most `size` leaves (rows seq 1..size).
 * Counts what it had to recompute (`recomputed`), so callers can tell a rebuild happened.
 */
export class DbNodeSource implements NodeSource {
  readonly #db: Queryable;
  readonly #chain: string;
  readonly #size: number;
  readonly #blocks = new Map<number, LeafBlock>();
  /** Stored-level nodes that were missing from merkle_nodes and recomputed. */
  recomputed = 0;

  constructor(db: Queryable, chain: string, size: number) {
    this.#db = db;
    this.#chain = chain;
    this.#size = size;
  }

  async getNodes(ids: readonly NodeId[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const id of ids) {
      if ((id.index + 1) * 2 ** id.level > this.#size) throw new RangeError(`node ${nodeKey(id)} is outside a tree of ${this.#size} leaves`);
    }
    const stored = ids.filter((n) => n.level >= STORED_MIN_LEVEL);
    if (stored.length > 0) {
      const res = await this.#db.query<{ level: number; idx: string; hash: Buffer }>(
        `SELECT level, idx, hash FROM merkle_nodes
          WHERE chain = $1 AND (level, idx) IN (SELECT * FROM unnest($2::smallint[], $3::bigint[]))`,
        [this.#chain, stored.map((n) => n.level), stored.map((n) => n.index)],
      );
      for (const r of res.rows) out.set(`${r.level}/${Number(r.idx)}`, r.hash);
      for (const n of stored) {
        if (!out.has(nodeKey(n))) out.set(nodeKey(n), await this.#recompute(n));
      }
    }
    for (const n of ids) {
      if (n.level >= STORED_MIN_LEVEL) continue;
      const block = await this.#block(Math.floor((n.index * 2 ** n.level) / BLOCK_LEAVES));
      const h = block.node(n);
      if (h === undefined) throw new RangeError(`node ${nodeKey(n)} is not complete`);
      out.set(nodeKey(n), h);
    }
    return out;
  }

  /** A stored-level node missing from the table: from its children (stored or recomputed), or from a block of rows. */
  async #recompute(n: NodeId): Promise<Buffer> {
    this.recomputed += 1;
    if (n.level === STORED_MIN_LEVEL) {
      const h = (await this.#block(n.index)).node(n);
      if (h === undefined) throw new RangeError(`node ${nodeKey(n)} is not complete`);
      return h;
    }
    const kids: NodeId[] = [
      { level: n.level - 1, index: n.index * 2 },
      { level: n.level - 1, index: n.index * 2 + 1 },
    ];
    const got = await this.getNodes(kids);
    return nodeHash(got.get(nodeKey(kids[0] as NodeId)) as Buffer, got.get(nodeKey(kids[1] as NodeId)) as Buffer);
  }

  /** Leaf hashes of one 256-row block (partial at the end of the tree). */
  async #block(b: number): Promise<LeafBlock> {
    let block = this.#blocks.get(b);
    if (block === undefined) {
      const first = b * BLOCK_LEAVES;
      const rows = await readRowHashes(this.#db, this.#chain, first, Math.min(first + BLOCK_LEAVES, this.#size));
      block = new LeafBlock(first, rows.map(leafHash));
      if (this.#blocks.size > 64) this.#blocks.clear();
      this.#blocks.set(b, block);
    }
    return block;
  }
}

/** The accumulator frontier of a chain at `size` leaves, from stored nodes (recomputed where missing). */
export async function loadFrontier(db: Queryable, chain: string, size: number): Promise<FrontierSnapshot & { recomputed: number }> {
  const src = new DbNodeSource(db, chain, size);
  const ids = frontierNodes(size);
  const got = await src.getNodes(ids);
  return { size, frontier: ids.map((n) => got.get(nodeKey(n)) as Buffer), recomputed: src.recomputed };
}

/** A stored node waiting to be written: [level, index, hash]. */
export type PendingNode = [number, number, Buffer];

/** Inserts nodes (ignoring ones already there). */
export async function insertNodes(db: Queryable, chain: string, nodes: readonly PendingNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 10_000) {
    const part = nodes.slice(i, i + 10_000);
    await db.query(
      `INSERT INTO merkle_nodes (chain, level, idx, hash)
       SELECT $1, l, i, h FROM unnest($2::smallint[], $3::bigint[], $4::bytea[]) AS t(l, i, h)
       ON CONFLICT DO NOTHING`,
      [chain, part.map((n) => n[0]), part.map((n) => n[1]), part.map((n) => n[2])],
    );
  }
}

/**
 * Brings a chain's accumulator to `head` rows: resumes from the last stored level-8 node (stored
 * nodes form a prefix: they are written in order) and appends the rows after it, read from the
 * ledger; nodes completed on the way go to `sink`. With an empty merkle_nodes table (004 applied to
 * an existing ledger) this is the full rebuild, streamed in pages.
 */
export async function restoreAccumulator(
  db: Queryable,
  chain: string,
  head: number,
  sink: (n: PendingNode) => void,
  opts: { pageRows?: number; onProgress?: (done: number) => void } = {},
): Promise<{ acc: MerkleAccumulator; replayed: number; recomputed: number }> {
  const res = await db.query<{ max: string | null }>('SELECT max(idx) AS max FROM merkle_nodes WHERE chain = $1 AND level = $2', [
    chain,
    STORED_MIN_LEVEL,
  ]);
  const stored = res.rows[0]?.max == null ? 0 : (Number(res.rows[0].max) + 1) * BLOCK_LEAVES;
  const start = Math.min(stored, Math.floor(head / BLOCK_LEAVES) * BLOCK_LEAVES);
  const acc = new MerkleAccumulator({ onNode: (l, i, h) => sink([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL });
  let recomputed = 0;
  if (start > 0) {
    const f = await loadFrontier(db, chain, start);
    acc.restore(f);
    recomputed = f.recomputed;
  }
  const page = opts.pageRows ?? 20_000;
  for (let from = start; from < head; from += page) {
    const hashes = await readRowHashes(db, chain, from, Math.min(from + page, head));
    for (const h of hashes) acc.append(h);
    opts.onProgress?.(acc.size);
  }
  return { acc, replayed: head - start, recomputed };
}
