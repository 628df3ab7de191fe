/**
 * The batch writer: owns one chain, takes records in receive order, gives each its seq and hash,
 * and commits them in batches with COPY, one transaction per batch. A record counts as stored only
 * after its transaction commits. A failed batch is retried (never dropped) with backoff; after a
 * lost connection the writer finds out whether the batch committed before retrying, so no row is
 * written twice. One writer per chain, enforced by the database (advisory lock + chain-row lock).
 */
import { EventEmitter } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Logger } from 'pino';
import { ChainDivergedError, ChainFencedError, ChainLockedError, DatabaseError, describeError, EventsNotCommittedError, InternalError, WriterClosedError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { CONNECTION_INSERT_SQL, encodeV3Linked, V3_COPY_SQL } from './row.js';
import { PreparedRecord } from './prepared.js';
import { sha256 } from './sha256.js';
import { chainConnection, chainRecordV3Into, type ChainConnection } from './v3.js';
import { unencodableRecord } from './unprocessed.js';
import { CopyBuffer } from './copy-binary.js';
import type { PeerIdentity } from '../listener/identity.js';
import { ZERO_HASH, type ChainedRecord, type LedgerRecord } from './types.js';

export interface WriterOptions {
  readonly databaseUrl: string;
  readonly chain: string;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Most records per transaction. */
  readonly batchMaxEvents: number;
  /**
   * Queue bounds: over either, `full` is true and the listener pauses its sockets. The bytes are the
   * bytes held (heldBytes: each record's buffers, a batch's COPY text while in flight, and what a
   * stage pool holds on its way here, `holdUpstream`), not the raw frames alone.
   */
  readonly queueMaxEvents: number;
  readonly queueMaxBytes: number;
  /** Called after each commit with the committed rows, in seq order (checkpoints, source metrics). */
  readonly onCommitted?: (rows: readonly ChainedRecord[]) => void | Promise<void>;
  /** Role to SET after connecting, for least privilege (skipped when it does not exist). */
  readonly role?: string;
  /**
   * A batch's transaction must finish within this long (default 30 s), else its connection is cut
   * and the batch retried: a network partition otherwise leaves a COMMIT waiting forever.
   */
  readonly commitTimeoutMs?: number;
}

/** The committed head of a chain. */
export interface ChainHead {
  seq: number;
  hash: Buffer;
}

/** The chain's advisory lock key is hashtextextended(CHAIN_LOCK_PREFIX || chain, 0) (src/relp/seed.ts reads pg_locks with it). */
export const CHAIN_LOCK_PREFIX = 'syslog-ledger:chain:';
const lockKey = (chain: string): string => `${CHAIN_LOCK_PREFIX}${chain}`;
const DEFAULT_COMMIT_TIMEOUT_MS = 30_000;
/**
 * Most raw bytes per batch, whatever --batch-size says: a batch's COPY text (bytea as hex, the
 * message again in both JSON documents) is about 4x its raw bytes, and chaining it holds the event
 * loop (test/resilience/memory.test.ts for memory; test/resilience/hostile-redaction.test.ts for
 * the loop: 64 KiB frames). 512 KiB: 128 frames of 4 KB, 8 of 64 KiB; frames of a few hundred
 * bytes are cut by --batch-size first.
 */
const BATCH_MAX_BYTES = 512 * 1024;

export class LedgerWriter extends EventEmitter<{ drain: []; full: []; error: [Error]; ready: []; unready: [] }> {
  readonly #o: WriterOptions;
  /** Waiting records, oldest first; `#queueHead` avoids O(n) shifts. */
  #queue: LedgerRecord[] = [];
  #queueHead = 0;
  #queueBytes = 0;
  /** Bytes on their way to this writer (a stage pool's frames): in the byte bound, not in the queue. */
  #upstreamBytes = 0;
  /**
   * Per-record commit callbacks (RELP acknowledgements), by record. Only records given one are in
   * it, so the TCP path pays one `size` check per record in #chain.
   */
  readonly #onRecordCommitted = new Map<LedgerRecord, () => void>();
  /** Chained batches not yet known committed, in seq order (at most PIPELINE_DEPTH). */
  #inflight: PreparedBatch[] = [];
  #inflightEvents = 0;
  #inflightBytes = 0;
  /** Connection 0 holds the chain's advisory lock; batches alternate between the connections. */
  #conns: Array<pg.Client | undefined> = [];
  #nextConn = 0;
  /** Next seq/hash to assign; runs ahead of `#committedHead` while batches are in flight. */
  #head: ChainHead = { seq: 0, hash: ZERO_HASH };
  /** Last head known committed. */
  #committedHead: ChainHead = { seq: 0, hash: ZERO_HASH };
  #started = false;
  #running = false;
  #closing = false;
  /** close() finished: nothing enqueued now would ever be written. */
  #closed = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #full = false;
  #ready = false;
  #fatal: Error | undefined;
  /** Backend pids of the current connections: after a lost connection, they may still be alive. */
  #pids: number[] = [];
  #connecting = false;
  /** The chain's epoch this writer took (fencing, #takeChain / #checkOwnership). */
  #epoch: bigint | undefined;
  /**
   * The connection record of each peer identity (one object per TLS connection or RELP session):
   * its id is the seq of its first row in this chain. Stored once, in the transaction of that row.
   */
  #connections = new WeakMap<PeerIdentity, ChainConnection>();
  /** Binary COPY of the batch being chained, written row by row (src/ledger/copy-binary.ts). */
  readonly #copy = new CopyBuffer();

  constructor(options: WriterOptions) {
    super();
    this.#o = options;
  }

  /** The last committed head. */
  get head(): ChainHead {
    return this.#committedHead;
  }

  /** Records received and not yet committed (queued plus in flight). */
  get pendingEvents(): number {
    return this.#queue.length - this.#queueHead + this.#inflightEvents;
  }

  /** Bytes held by the records received and not yet committed, and by the COPY text of those in flight. */
  get pendingBytes(): number {
    return this.#queueBytes + this.#inflightBytes;
  }

  /**
   * Counts `delta` bytes (negative: released) held on their way to this writer, by a stage pool
   * (src/workers/pool.ts): they are in the byte bound as the queue is, so that the sockets pause
   * when the queue and the pool together hold `queueMaxBytes`, not each of them.
   */
  holdUpstream(delta: number): void {
    this.#upstreamBytes += delta;
    // Released bytes reach the queue at once (the pool delivers right after): drain waits for a commit.
    if (delta > 0) this.#checkFull();
  }

  /** Under half of both bounds again: `drain` (the sockets read again). */
  #checkDrain(): void {
    if (this.#full && this.pendingEvents < this.#o.queueMaxEvents / 2 && this.pendingBytes + this.#upstreamBytes < this.#o.queueMaxBytes / 2) {
      this.#full = false;
      this.emit('drain');
    }
  }

  #checkFull(): void {
    if (!this.#full && (this.pendingEvents >= this.#o.queueMaxEvents || this.pendingBytes + this.#upstreamBytes >= this.#o.queueMaxBytes)) {
      this.#full = true;
      this.emit('full');
    }
  }

  /** True while the queue is over its bounds: stop reading from sockets until `drain`. */
  get full(): boolean {
    return this.#full;
  }

  /** True while the database connection works (for /readyz). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Receive time (µs) of the oldest record not yet committed, or null. */
  get oldestPendingUs(): number | null {
    return this.#inflight[0]?.rows[0]?.receivedAtUs ?? this.#queue[this.#queueHead]?.receivedAtUs ?? null;
  }

  get fatalError(): Error | undefined {
    return this.#fatal;
  }

  /** Connects, takes the chain's lock and reads its head. Throws ChainLockedError if another process owns it. */
  async start(): Promise<void> {
    await this.#connectAll();
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Queues a record. Never refuses one: bounds are enforced by pausing the sockets (`full`).
   * `onCommitted` runs synchronously right after the COMMIT of the transaction holding the record
   * (in seq order, before the onCommitted hook): a RELP acknowledgement waits for it.
   */
  enqueue(record: LedgerRecord, onCommitted?: () => void): void {
    if (this.#closed) {
      // Only the server's own records can come this late (a finding about the last batch): they
      // would sit in a queue nobody writes. Say so loudly instead of accepting them silently.
      this.#o.log.error({ chain: this.#o.chain, format: record.format, msgid: record.syslog.msgid }, 'record arrived after the writer closed: not stored');
      throw new WriterClosedError(this.#o.chain);
    }
    this.#queue.push(record);
    if (onCommitted) this.#onRecordCommitted.set(record, onCommitted);
    this.#queueBytes += heldBytes(record);
    this.#checkFull();
    this.#wake?.();
  }

  /**
   * Commits everything queued, then releases the chain and disconnects. Rejects with
   * EventsNotCommittedError when the writer had stopped (#fail) with events it never committed.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    await this.#loop;
    this.#closed = true;
    await this.#disconnect();
    const lost = this.pendingEvents;
    if (lost > 0 || this.#fatal) throw new EventsNotCommittedError(lost, this.#fatal);
  }

  /** Stops without committing what is left (forced shutdown); returns how many records were lost. */
  async abort(): Promise<number> {
    const lost = this.pendingEvents;
    this.#running = false;
    // A record offered after the count would be lost uncounted: enqueue refuses it loudly instead.
    this.#closed = true;
    this.#wake?.();
    void this.#disconnect();
    return lost;
  }

  async #disconnect(): Promise<void> {
    const conns = this.#conns;
    this.#conns = [];
    await Promise.all(conns.map((c) => (c ? closeClient(c) : undefined)));
  }

  get #appName(): string {
    return `syslog-ledger writer ${this.#o.chain}`;
  }

  async #connect(owner: boolean): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#o.databaseUrl, application_name: this.#appName, connectionTimeoutMillis: 10_000 });
    client.on('error', (err) => {
      this.#o.log.warn({ err: describeError(err) }, 'writer connection error');
      // Lost while idle (the database restarted, say): not ready until reconnected, which the loop
      // does at once; with batches in flight, their failure leads to the same.
      if (!this.#conns.includes(client)) return;
      this.#setReady(false);
      if (this.#inflight.length === 0 && !this.#connecting) {
        void this.#disconnect();
        this.#wake?.();
      }
    });
    await client.connect();
    try {
      if (owner) {
        await this.#endStaleSessions(client);
        // A session just ended may take a moment to release the lock.
        for (let attempt = 0; ; attempt++) {
          const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [lockKey(this.#o.chain)]);
          if (locked.rows[0]?.ok) break;
          if (!this.#started || attempt >= 20) throw new ChainLockedError(this.#o.chain);
          await sleep(100);
        }
      }
      if (this.#o.role) {
        const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, $2)', [this.#o.role, 'MEMBER']);
        if (exists.rowCount) await client.query(`SET ROLE ${client.escapeIdentifier(this.#o.role)}`);
      }
      return client;
    } catch (err) {
      await closeClient(client);
      throw err;
    }
  }

  /**
   * After a lost connection, this writer's previous sessions may still be alive on the server (a
   * partition: the server has not noticed yet), holding the chain's advisory lock, its row lock, or
   * an open transaction. They are ours (same pid, same application name): end them and wait until
   * they are gone, so that the head read next is final. A transaction whose COMMIT the server had
   * already taken completes; any other rolls back.
   */
  async #endStaleSessions(client: pg.Client): Promise<void> {
    const pids = this.#pids;
    this.#pids = [];
    if (pids.length === 0) return;
    const live = 'FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND application_name = $2';
    try {
      const ended = await client.query<{ pid: number }>(`SELECT pid, pg_terminate_backend(pid) ${live}`, [pids, this.#appName]);
      if (ended.rowCount) this.#o.log.warn({ chain: this.#o.chain, pids: ended.rows.map((r) => r.pid) }, "ended this writer's previous database sessions, still open after the connection was lost");
      for (let i = 0; i < 50; i++) {
        const left = await client.query<{ n: number }>(`SELECT count(*)::int AS n ${live}`, [pids, this.#appName]);
        if (left.rows[0]?.n === 0) break;
        await sleep(100);
      }
    } catch (err) {
      this.#o.log.warn({ err: describeError(err), pids }, "could not end this writer's previous database sessions; waiting for the chain lock instead");
    }
  }

  /**
   * (Re)connects both connections and reads the chain head. After a failure, the head tells which
   * in-flight batches had committed: those are finished, the rest are written again, same seqs, same
   * hashes. Any other head means another writer moved the chain: stop loudly.
   */
  async #connectAll(): Promise<void> {
    this.#connecting = true;
    try {
      await this.#connectAllOnce();
    } finally {
      this.#connecting = false;
    }
  }

  async #connectAllOnce(): Promise<void> {
    await this.#disconnect();
    const owner = await this.#connect(true);
    this.#conns = [owner];
    const second = await this.#connect(false);
    this.#conns.push(second);
    this.#pids = [owner, second].map((c) => (c as unknown as { processID: number | null }).processID).filter((p): p is number => typeof p === 'number');
    await owner.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING', [this.#o.chain]);
    const row = await this.#takeChain(owner);
    const found: ChainHead = { seq: Number(row.head_seq), hash: row.head_hash };
    if (!this.#started) {
      this.#head = found;
      this.#committedHead = found;
      this.#started = true;
    } else if (!sameHead(found, this.#committedHead)) {
      const done = this.#inflight.findIndex((b) => sameHead(found, b.last));
      if (done < 0) throw new ChainDivergedError(this.#o.chain, BigInt(this.#committedHead.seq), BigInt(found.seq));
      // Those batches committed before the connection was lost: do not write them again.
      this.#o.log.warn({ chain: this.#o.chain, seq: found.seq }, 'in-flight batches had committed before the failure; not rewriting them');
      for (const b of this.#inflight.splice(0, done + 1)) this.#committed(b);
    }
    this.#o.metrics.chainHeadSeq.set({ chain: this.#o.chain }, found.seq);
    this.#setReady(true);
  }

  async #run(): Promise<void> {
    let backoffMs = 100;
    while (this.#running) {
      while (this.#inflight.length < PIPELINE_DEPTH && this.#queue.length > this.#queueHead) {
        let batch: PreparedBatch;
        try {
          const taken = this.#takeBatch();
          batch = this.#chain(taken.records, taken.bytes);
        } catch (err) {
          // Even the record stored as received could not be encoded (#chain: a bug in the encoding
          // itself). Stop loudly, counting what is not committed, rather than leave the loop dead.
          this.#fail(err instanceof Error ? err : new InternalError(String(err)));
          return;
        }
        this.#inflight.push(batch);
        // One batch's chaining per turn of the event loop: the sockets, /healthz and the acks run
        // between two (a batch of 64 KiB frames takes tens of ms to chain).
        if (this.#inflight.length < PIPELINE_DEPTH && this.#queue.length > this.#queueHead) {
          await new Promise<void>((res) => setImmediate(res));
          // abort() may have run meanwhile: it counted these batches as lost; commit none of them.
          if (!this.#running) return;
        }
      }
      this.#updateGauges();
      if (this.#inflight.length === 0) {
        if (this.#closing) break;
        if (this.#conns.length === 0) {
          // Idle without a connection (lost while idle): reconnect now, so that /readyz tells the truth.
          try {
            await this.#connectAll();
            backoffMs = 100;
          } catch (err) {
            if (err instanceof ChainDivergedError) return this.#fail(err);
            this.#o.log.warn({ err: describeError(err), chain: this.#o.chain, retryInMs: backoffMs }, 'writer reconnect failed; retrying');
            this.#setReady(false);
            await this.#disconnect();
            await this.#sleepOrWake(backoffMs);
            backoffMs = Math.min(backoffMs * 2, 5000);
          }
          continue;
        }
        await new Promise<void>((res) => (this.#wake = res));
        this.#wake = undefined;
        continue;
      }
      try {
        if (this.#conns.length === 0) await this.#connectAll();
        this.#startInflight();
        await this.#inflight[0]!.run;
        this.#committed(this.#inflight.shift()!);
        backoffMs = 100;
      } catch (err) {
        // Let every started transaction finish (they roll back: each waits for the one before it).
        await Promise.allSettled(this.#inflight.map((b) => b.run));
        for (const b of this.#inflight) b.run = undefined;
        // Another writer moved the chain: stop loudly. The lock still held after our own old sessions
        // were ended is retried: nothing is written without it, and the head check follows.
        if (err instanceof ChainDivergedError || err instanceof ChainFencedError) {
          this.#fail(err);
          return;
        }
        const kind = pgErrorKind(err);
        this.#o.metrics.dbErrors.inc({ kind });
        this.#o.metrics.dbRetries.inc();
        this.#o.log.error({ err: describeError(err), chain: this.#o.chain, events: this.#inflightEvents, retryInMs: backoffMs }, 'batch commit failed; retrying (nothing is dropped)');
        this.#setReady(false);
        await this.#disconnect();
        if (!this.#running) return;
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  /**
   * Starts the in-flight batches not yet started, each on the next connection, so PostgreSQL ingests
   * batch k+1 while batch k commits. Commits stay in seq order: a batch takes the chain-row lock and
   * checks the head only after the batch before it committed; if that one failed, it rolls back too.
   * A connection carries one transaction at a time: batch k+2 starts on batch k's connection only
   * after batch k finished.
   */
  #startInflight(): void {
    let previous: Promise<void> = Promise.resolve();
    for (const b of this.#inflight) {
      if (!b.run) {
        const conn = this.#conns[this.#nextConn++ % this.#conns.length]!;
        b.run = this.#commit(conn, b, previous);
        // A rejection is handled through the first batch's await; keep it from being reported as unhandled.
        b.run.catch(() => {});
      }
      previous = b.run;
    }
  }

  async #commit(client: pg.Client, p: PreparedBatch, before: Promise<void>): Promise<void> {
    const timeoutMs = this.#o.commitTimeoutMs ?? DEFAULT_COMMIT_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      // Cutting the connection fails the statement waiting on it; whether a COMMIT already sent
      // took effect is read from the chain head after reconnecting.
      timedOut = true;
      void closeClient(client);
    }, timeoutMs);
    try {
      await this.#transaction(client, p, before);
    } catch (err) {
      if (timedOut) throw new DatabaseError(`batch transaction did not finish within ${timeoutMs} ms; connection cut`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #transaction(client: pg.Client, p: PreparedBatch, before: Promise<void>): Promise<void> {
    await client.query('BEGIN');
    try {
      for (const c of p.connections) {
        const r = c.record;
        await client.query(CONNECTION_INSERT_SQL, [this.#o.chain, c.id, r.transport, r.peer_addr, r.peer_cn, r.peer_sans, r.peer_subject, r.peer_fingerprint]);
      }
      await pipeline(Readable.from(p.copy), client.query(copyStreams.from(V3_COPY_SQL)));
      await before;
      await this.#checkOwnership(client, p.prev);
      await client.query('UPDATE chains SET head_seq = $2, head_hash = $3, updated_at = now() WHERE chain = $1', [this.#o.chain, p.last.seq, p.last.hash]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * Takes the chain (the advisory lock is held): bumps its epoch and reads its head in one
   * statement. A writer that had it before, still running somewhere, is fenced off by the new epoch.
   */
  async #takeChain(owner: pg.Client): Promise<{ head_seq: string; head_hash: Buffer }> {
    const res = await owner.query<{ head_seq: string; head_hash: Buffer; epoch: string }>('UPDATE chains SET epoch = epoch + 1 WHERE chain = $1 RETURNING head_seq, head_hash, epoch', [this.#o.chain]);
    const row = res.rows[0]!;
    this.#epoch = BigInt(row.epoch);
    this.#o.log.info({ chain: this.#o.chain, epoch: row.epoch, headSeq: Number(row.head_seq) }, 'took the chain');
    return row;
  }

  /**
   * In every batch's transaction, after its COPY: locks the chain row and checks that this writer
   * still owns the chain (the epoch it took) and that the head is the one the batch follows.
   * Either failing rolls the whole batch back: not one row of it is appended.
   */
  async #checkOwnership(client: pg.Client, prev: ChainHead): Promise<void> {
    const head = await client.query<{ head_seq: string; head_hash: Buffer; epoch: string }>('SELECT head_seq, head_hash, epoch FROM chains WHERE chain = $1 FOR UPDATE', [this.#o.chain]);
    const h = head.rows[0];
    if (h && this.#epoch !== undefined && BigInt(h.epoch) !== this.#epoch) throw new ChainFencedError(this.#o.chain, this.#epoch, BigInt(h.epoch));
    if (!h || Number(h.head_seq) !== prev.seq || !h.head_hash.equals(prev.hash)) {
      throw new ChainDivergedError(this.#o.chain, BigInt(prev.seq), BigInt(h?.head_seq ?? -1));
    }
  }

  /** Backoff that a new record or close() cuts short. */
  async #sleepOrWake(ms: number): Promise<void> {
    await new Promise<void>((res) => {
      const t = setTimeout(res, ms).unref();
      this.#wake = () => {
        clearTimeout(t);
        res();
      };
    });
    this.#wake = undefined;
  }

  /** The next batch off the queue, and the bytes its records hold (now counted as in flight). */
  #takeBatch(): { records: LedgerRecord[]; bytes: number } {
    let end = this.#queueHead;
    const last = Math.min(this.#queue.length, this.#queueHead + this.#o.batchMaxEvents);
    let bytes = 0;
    for (let raw = 0; end < last && (end === this.#queueHead || raw < BATCH_MAX_BYTES); end++) {
      const r = this.#queue[end]!;
      raw += r.raw.length;
      bytes += heldBytes(r);
    }
    const batch = this.#queue.slice(this.#queueHead, end);
    this.#queueHead = end;
    if (this.#queueHead > 4096 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    this.#queueBytes -= bytes;
    this.#inflightEvents += batch.length;
    this.#inflightBytes += bytes;
    return { records: batch, bytes };
  }

  /**
   * Gives each record its seq and hash (the canonical form, docs/ledger-format.md) and its binary
   * COPY row; `bytes`: what the records hold (#takeBatch counted them).
   */
  #chain(batch: LedgerRecord[], bytes: number): PreparedBatch {
    const prev = this.#head;
    let seq = prev.seq;
    let prevHash = prev.hash;
    const rows: ChainedRecord[] = new Array(batch.length);
    let acks: Array<() => void> | undefined;
    const connections: ChainConnection[] = [];
    const callbacks = this.#onRecordCommitted;
    this.#copy.discard();
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!;
      if (callbacks.size > 0) {
        const cb = callbacks.get(r);
        if (cb) {
          callbacks.delete(r);
          (acks ??= []).push(cb);
        }
      }
      seq++;
      let conn = this.#connections.get(r.peer);
      if (conn === undefined) {
        conn = chainConnection(seq, r.peer);
        this.#connections.set(r.peer, conn);
        connections.push(conn);
      }
      let row: ChainedRecord;
      if (!(r instanceof PreparedRecord)) {
        try {
          row = chainRecordV3Into(r, this.#o.chain, seq, prevHash, conn, this.#copy);
        } catch (err) {
          // The stages made a record the row encoding refuses (a bug): it is stored as received, with
          // the error, in its place; the chain goes on. The failed attempt wrote nothing to the COPY.
          this.#o.log.error({ chain: this.#o.chain, seq, err: describeError(err) }, 'record stored as received: its row could not be encoded');
          row = chainRecordV3Into(unencodableRecord(r, err, this.#o.metrics), this.#o.chain, seq, prevHash, conn, this.#copy);
        }
      } else {
        // Prepared by a stage worker: only the link is left (src/ledger/prepared.ts).
        const chain = this.#o.chain;
        const hash = sha256(encodeV3Linked(prevHash, chain, seq, r.receivedAtUs, conn.id, conn.bytes, r.tail, 0, r.tail.length));
        this.#copy.linked(chain, seq, r.receivedAtUs, conn.id, r.tail, 0, r.tail.length, hash);
        r.chain = chain;
        r.seq = seq;
        r.prevHash = prevHash;
        r.hash = hash;
        row = r;
      }
      rows[i] = row;
      prevHash = row.hash;
    }
    const last = { seq, hash: prevHash };
    this.#head = last;
    const copy = this.#copy.take();
    // The batch's COPY data is held too until it commits: counted from here on.
    let copyBytes = 0;
    for (const c of copy) copyBytes += c.length;
    this.#inflightBytes += copyBytes;
    return { rows, copy, prev, last, bytes: bytes + copyBytes, acks, connections };
  }

  #committed(p: PreparedBatch): void {
    this.#committedHead = p.last;
    this.#inflightEvents -= p.rows.length;
    this.#inflightBytes -= p.bytes;
    const m = this.#o.metrics;
    const nowUs = Date.now() * 1000;
    m.eventsCommitted.inc(p.rows.length);
    m.batchesCommitted.inc();
    m.batchSize.observe(p.rows.length);
    for (const r of p.rows) m.commitLatency.observe((nowUs - r.receivedAtUs) / 1e6);
    m.chainHeadSeq.set({ chain: this.#o.chain }, p.last.seq);
    this.#setReady(true);
    this.#updateGauges();
    if (p.acks) {
      for (const ack of p.acks) {
        try {
          ack();
        } catch (err) {
          this.#o.log.error({ err: describeError(err) }, 'per-record commit callback failed');
        }
      }
    }
    this.#checkDrain();
    if (this.#o.onCommitted) {
      Promise.resolve(this.#o.onCommitted(p.rows)).catch((err: unknown) =>
        this.#o.log.error({ err: describeError(err) }, 'post-commit hook failed'),
      );
    }
  }

  #updateGauges(): void {
    this.#o.metrics.writerQueueEvents.set(this.pendingEvents);
    this.#o.metrics.writerQueueBytes.set(this.pendingBytes);
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    this.emit(ready ? 'ready' : 'unready');
  }

  #fail(err: Error): void {
    this.#fatal = err;
    this.#running = false;
    this.#setReady(false);
    this.#o.log.fatal({ err: err.message, chain: this.#o.chain }, 'writer stopped');
    this.emit('error', err);
  }
}

/**
 * The bytes a queued record holds, for the byte bound. A prepared record: its tail and its objects
 * (PreparedRecord.heldBytes). A record made on the main thread: its raw bytes and its objects in the
 * heap, about twice the raw bytes plus 1 KiB (measured: V8 heap used per toRecord result, 4,000
 * kept, after a full GC: 1.4 KB for a 78-byte frame, 7.9 KB for a 4,079-byte one).
 */
export function heldBytes(r: LedgerRecord): number {
  return r instanceof PreparedRecord ? r.heldBytes : 3 * r.raw.length + 1024;
}

/** Batches in flight at once: one committing while the next is being ingested. */
const PIPELINE_DEPTH = 2;

interface PreparedBatch {
  rows: ChainedRecord[];
  /**
   * The batch's COPY data, already UTF-8 encoded in ~64 KiB buffers: flat bytes take a third of the
   * memory of the string ropes they are built from, and a batch waits in memory while the one
   * before it commits (bench: RSS 1.1 GB at a 50,000-event queue before this).
   */
  copy: Buffer[];
  prev: ChainHead;
  last: ChainHead;
  /** Bytes held by the batch: its records (heldBytes) and its COPY text (queue accounting). */
  bytes: number;
  /** Connections first seen in this batch: inserted in its transaction, before its rows. */
  connections: ChainConnection[];
  /** Per-record commit callbacks of the batch's records, in seq order (RELP acks). */
  acks: Array<() => void> | undefined;
  /** Its transaction, once started. */
  run?: Promise<void> | undefined;
}

function sameHead(a: ChainHead, b: ChainHead): boolean {
  return a.seq === b.seq && a.hash.equals(b.hash);
}

function pgErrorKind(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return `sqlstate_${code.slice(0, 2)}`;
  if (typeof code === 'string') return code.toLowerCase();
  return 'other';
}

/** A backoff that does not keep the process alive (a forced exit must not wait for it). */
function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref());
}

/** Ends a connection; one that does not answer within a second (a partition) is cut. */
async function closeClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    client.end().then(() => true, () => true),
    new Promise<boolean>((res) => (timer = setTimeout(() => res(false), 1000).unref())),
  ]);
  clearTimeout(timer);
  if (!ended) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
