/**
 * The checkpointer: keeps each chain's Merkle accumulator, and signs a checkpoint of the chain
 * head at least every second and every 1,000 events (whichever comes first), only for committed
 * rows. Each checkpoint goes to the `checkpoints` table (with the Merkle nodes completed since the
 * previous one, in the same statement) and then to the external checkpoint file (fsynced).
 *
 *   writer commit ──> onCommitted(chain, rows) ──> accumulator.append(row.hash)   (in memory, O(1) amortized)
 *                           │                               │ completed level>=8 nodes: pending
 *                           └─ 1,000 pending, or 1 s after the first pending row:
 *                                sign ──> INSERT nodes + checkpoint (one statement) ──> file append + fdatasync
 *
 * Crash behaviour (docs/integrity.md): nodes and checkpoints are written after the rows commit, so a
 * crash can lose at most the last ~1 s of nodes and the unsigned tail; init() rebuilds nodes from the
 * ledger rows (they are derivable) and the next checkpoint covers the tail. A checkpoint is in the
 * file only after it is in the database; the file is what verify trusts.
 */
import type { Logger } from 'pino';
import { ChainDivergedError, CheckpointMismatchError, describeError, InternalError, MigrationError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { ForeignCheckpointFileError, keyMap, signCheckpoint, verifyCheckpointSignature, type Checkpoint } from './checkpoint.js';
import { CheckpointFile, readTailCheckpoints } from './file.js';
import { MerkleAccumulator, rootAt } from './merkle.js';
import { DbNodeSource, STORED_MIN_LEVEL, insertNodes, readRowHashes, restoreAccumulator, type PendingNode, type Queryable } from './merkle-store.js';
import type { SigningKey } from './signing.js';


export interface CheckpointerOptions {
  readonly key: SigningKey;
  /** The external checkpoint file (`--checkpoint-file`): a path (opened by init, closed by close) or an open file. */
  readonly file: string | CheckpointFile;
  readonly metrics?: Metrics;
  readonly log?: Logger;
  /** Sign when this many committed rows are not yet covered (default 1000). */
  readonly maxEvents?: number;
  /** Sign at most this long after a row committed (default 1000 ms). */
  readonly maxDelayMs?: number;
  /** Retry delay after a failed checkpoint write (default 1000 ms). */
  readonly retryMs?: number;
  /** Compare the ledger with the file's last checkpoint of each chain at init (default true). */
  readonly selfCheck?: boolean;
  /** Clock (ms since the epoch), for tests. */
  readonly now?: () => number;
}

/** A committed row, as the writer knows it. */
export interface CommittedRow {
  readonly seq: bigint | number;
  readonly hash: Buffer;
}

interface ChainState {
  readonly chain: string;
  acc: MerkleAccumulator;
  headHash: Buffer | undefined;
  /** Stored-level nodes completed and not yet written. */
  nodes: PendingNode[];
  /** Tree size of the last checkpoint written (or found at init). */
  signedSize: number;
  /** When the oldest row not yet covered by a checkpoint was committed. */
  pendingSince: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** A signed checkpoint whose writes did not finish: written again as is, never re-signed. */
  unfinished: { record: Checkpoint; nodes: PendingNode[]; inDb: boolean } | undefined;
  failed: Error | undefined;
}

export class Checkpointer {
  readonly #o: CheckpointerOptions;
  readonly #now: () => number;
  readonly #chains = new Map<string, ChainState>();
  #db: Queryable | undefined;
  #file: CheckpointFile | undefined;
  #ownsFile = false;
  #ledgerId: string | undefined;
  #started = false;
  #closed = false;
  /** Checkpoints are made one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();
  #last: Checkpoint | undefined;

  constructor(options: CheckpointerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get ledgerId(): string {
    if (this.#ledgerId === undefined) throw new InternalError('Checkpointer.init() has not run');
    return this.#ledgerId;
  }

  /** The last checkpoint written (database and file). */
  get lastCheckpoint(): Checkpoint | undefined {
    return this.#last;
  }

  /** Tree size and root of a chain's accumulator (for tests and /debug). */
  state(chain: string): { size: number; root: Buffer; signedSize: number } | undefined {
    const st = this.#chains.get(chain);
    return st && { size: st.acc.size, root: st.acc.root(), signedSize: st.signedSize };
  }

  /**
   * Reads the ledger id, restores the accumulators of `chains` (default: every chain in `chains`)
   * from stored nodes plus the rows after them, writes nodes that were missing, and checks each
   * chain against the last checkpoint in the external file. Run before the writer starts.
   */
  async init(db: Queryable, opts: { chains?: readonly string[] } = {}): Promise<void> {
    this.#db = db;
    const meta = await db.query<{ ledger_id: string }>('SELECT ledger_id::text AS ledger_id FROM ledger_meta');
    const ledgerId = meta.rows[0]?.ledger_id;
    if (ledgerId === undefined) throw new MigrationError('ledger_meta is empty: run syslog-ledger migrate');
    this.#ledgerId = ledgerId;
    const path = typeof this.#o.file === 'string' ? this.#o.file : this.#o.file.path;
    const tail = await readTailCheckpoints(path);
    if (tail.firstLedgerId !== undefined && tail.firstLedgerId !== ledgerId) {
      throw new ForeignCheckpointFileError(path, tail.firstLedgerId, ledgerId);
    }
    const names =
      opts.chains ?? (await db.query<{ chain: string }>('SELECT chain FROM chains ORDER BY chain')).rows.map((r) => r.chain);
    for (const chain of names) {
      const st = await this.#restore(db, chain);
      if (this.#o.selfCheck !== false) await this.#selfCheck(db, st, tail.latest.get(chain));
    }
    if (typeof this.#o.file === 'string') {
      this.#file = await CheckpointFile.open(this.#o.file);
      this.#ownsFile = true;
    } else {
      this.#file = this.#o.file;
    }
  }

  async #restore(db: Queryable, chain: string): Promise<ChainState> {
    const head = await db.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1', [chain]);
    const headSeq = Number(head.rows[0]?.head_seq ?? 0);
    const st = this.#newState(chain);
    const { acc, replayed, recomputed } = await restoreAccumulator(db, chain, headSeq, (n) => st.nodes.push(n));
    st.acc = acc;
    if (headSeq > 0) {
      const [last] = await readRowHashes(db, chain, headSeq - 1, headSeq);
      if (!last?.equals(head.rows[0]?.head_hash ?? Buffer.alloc(0))) {
        throw new CheckpointMismatchError(chain, headSeq, `chain "${chain}": chains.head_hash differs from the hash of row ${headSeq}`);
      }
      st.headHash = last;
    }
    if (st.nodes.length > 0) {
      await insertNodes(db, chain, st.nodes);
      st.nodes = [];
    }
    const cp = await db.query<{ seq: string }>('SELECT max(seq) AS seq FROM checkpoints WHERE chain = $1', [chain]);
    st.signedSize = Math.min(Number(cp.rows[0]?.seq ?? 0), headSeq);
    if (acc.size > st.signedSize) st.pendingSince = this.#now();
    this.#o.log?.info({ chain, size: acc.size, replayed, recomputed, signedSize: st.signedSize }, 'Merkle tree restored');
    return st;
  }

  /** Refuses to sign over a ledger that no longer matches what the external file already vouches for. */
  async #selfCheck(db: Queryable, st: ChainState, cp: Checkpoint | undefined): Promise<void> {
    if (cp === undefined) return;
    const keys = keyMap([{ publicKey: this.#o.key.publicKey, keyId: this.#o.key.keyId }]);
    if (verifyCheckpointSignature(cp, keys) !== 'valid') {
      this.#o.log?.warn({ chain: st.chain, seq: cp.seq, keyId: cp.key_id }, 'last checkpoint in the file is not signed by this key; not compared');
      return;
    }
    const fail = (why: string): never => {
      throw new CheckpointMismatchError(
        st.chain,
        cp.seq,
        `chain "${st.chain}": ${why}; the ledger does not match checkpoint seq ${cp.seq} in the checkpoint file. ` +
          'Refusing to sign over it: run `syslog-ledger verify` and investigate.',
      );
    };
    if (cp.seq > st.acc.size) fail(`the ledger ends at seq ${st.acc.size} (truncated?)`);
    const [head] = await readRowHashes(db, st.chain, cp.seq - 1, cp.seq);
    if (head?.toString('hex') !== cp.head_hash) fail(`row ${cp.seq} has another hash`);
    const root = cp.seq === st.acc.size ? st.acc.root() : await rootAt(new DbNodeSource(db, st.chain, cp.seq), cp.seq);
    if (root.toString('hex') !== cp.merkle_root) fail('the Merkle root differs');
  }

  /** A fresh chain state; its accumulator reports completed stored-level nodes into `st.nodes`. */
  #newState(chain: string): ChainState {
    const st: ChainState = {
      chain,
      acc: new MerkleAccumulator({ onNode: (l, i, h) => st.nodes.push([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL }),
      headHash: undefined,
      nodes: [],
      signedSize: 0,
      pendingSince: undefined,
      timer: undefined,
      unfinished: undefined,
      failed: undefined,
    };
    this.#chains.set(chain, st);
    return st;
  }

  /**
   * Called by the writer after each commit with the committed rows in seq order. Appends them to the
   * chain's tree at once; signs when 1,000 rows are pending. The promise settles when a checkpoint
   * it triggered is written; write failures are logged, counted and retried, not thrown. Rejects
   * (and stops checkpointing the chain) when the rows do not continue the chain.
   */
  async onCommitted(chain: string, rows: readonly CommittedRow[]): Promise<void> {
    if (rows.length === 0) return;
    let st = this.#chains.get(chain);
    if (st === undefined) {
      if (Number(rows[0]?.seq) !== 1) {
        throw new InternalError(`chain "${chain}" was not restored by Checkpointer.init(); its rows start at seq ${String(rows[0]?.seq)}`);
      }
      st = this.#newState(chain);
    }
    if (st.failed) throw st.failed;
    const acc = st.acc;
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== acc.size + 1) {
        st.failed = new ChainDivergedError(chain, BigInt(acc.size + 1), BigInt(seq));
        this.#o.log?.fatal({ chain, expected: acc.size + 1, got: seq }, 'checkpointer: committed rows do not continue the chain; no more checkpoints for it');
        throw st.failed;
      }
      acc.append(row.hash);
    }
    st.headHash = rows[rows.length - 1]?.hash;
    if (st.pendingSince === undefined) st.pendingSince = this.#now();
    if (acc.size - st.signedSize >= (this.#o.maxEvents ?? 1000)) return this.#enqueue(st);
    this.#schedule(st);
  }

  /** Starts the timers that sign chains with pending rows 1 s after their first pending row. */
  start(): void {
    this.#started = true;
    for (const st of this.#chains.values()) this.#schedule(st);
  }

  /** Signs every chain with uncovered rows now; resolves when written. */
  async checkpointNow(): Promise<void> {
    await Promise.all([...this.#chains.values()].map((st) => this.#enqueue(st)));
  }

  /** Stops the timers, writes a final checkpoint for every chain with uncovered rows, closes the file it opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#started = false;
    for (const st of this.#chains.values()) clearTimeout(st.timer);
    await this.checkpointNow();
    this.#closed = true;
    for (const st of this.#chains.values()) clearTimeout(st.timer);
    if (this.#ownsFile) await this.#file?.close();
  }

  #schedule(st: ChainState, delayMs?: number): void {
    if (st.timer !== undefined || this.#closed) return;
    if (delayMs === undefined) {
      if (!this.#started || st.pendingSince === undefined) return;
      delayMs = Math.max(0, st.pendingSince + (this.#o.maxDelayMs ?? 1000) - this.#now());
    }
    st.timer = setTimeout(() => {
      st.timer = undefined;
      void this.#enqueue(st);
    }, delayMs);
    st.timer.unref();
  }

  #enqueue(st: ChainState): Promise<void> {
    const run = this.#queue.then(() => this.#checkpoint(st));
    this.#queue = run;
    return run;
  }

  /** Never rejects: a failed write is logged, counted and retried. */
  async #checkpoint(st: ChainState): Promise<void> {
    if (st.failed || this.#db === undefined || this.#file === undefined) return;
    clearTimeout(st.timer);
    st.timer = undefined;
    try {
      if (st.unfinished === undefined) {
        if (st.acc.size <= st.signedSize || st.headHash === undefined) return;
        const record = signCheckpoint(
          {
            ledger_id: this.ledgerId,
            chain: st.chain,
            seq: st.acc.size,
            tree_size: st.acc.size,
            head_hash: st.headHash.toString('hex'),
            merkle_root: st.acc.root().toString('hex'),
            time: new Date(this.#now()).toISOString(),
          },
          this.#o.key,
        );
        st.unfinished = { record, nodes: st.nodes, inDb: false };
        st.nodes = [];
        st.pendingSince = undefined;
      }
      const u = st.unfinished;
      if (!u.inDb) {
        await this.#insert(this.#db, u.record, u.nodes);
        u.inDb = true;
      }
      await this.#file.append(u.record);
      st.unfinished = undefined;
      st.signedSize = u.record.seq;
      this.#last = u.record;
      this.#o.metrics?.checkpointLast.set(Date.parse(u.record.time) / 1000);
    } catch (err) {
      this.#o.metrics?.dbErrors.inc({ kind: 'checkpoint' });
      this.#o.log?.error({ err: describeError(err), chain: st.chain, seq: st.unfinished?.record.seq }, 'checkpoint write failed; retrying');
      this.#schedule(st, this.#o.retryMs ?? 1000);
      return;
    }
    if (st.acc.size > st.signedSize && st.pendingSince === undefined) st.pendingSince = this.#now();
    this.#schedule(st);
  }

  async #insert(db: Queryable, c: Checkpoint, nodes: readonly PendingNode[]): Promise<void> {
    await db.query(
      `WITH n AS (
         INSERT INTO merkle_nodes (chain, level, idx, hash)
         SELECT $1, l, i, h FROM unnest($2::smallint[], $3::bigint[], $4::bytea[]) AS t(l, i, h)
         ON CONFLICT DO NOTHING
       )
       INSERT INTO checkpoints (chain, seq, tree_size, head_hash, merkle_root, signed_at, key_id, record)
       VALUES ($1, $5, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (chain, seq) DO NOTHING`,
      [
        c.chain,
        nodes.map((n) => n[0]),
        nodes.map((n) => n[1]),
        nodes.map((n) => n[2]),
        c.seq,
        Buffer.from(c.head_hash, 'hex'),
        Buffer.from(c.merkle_root, 'hex'),
        c.time,
        c.key_id,
        JSON.stringify(c),
      ],
    );
  }
}
