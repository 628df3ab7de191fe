/**
 * The batch writer: owns one chain, takes records in receive order, gives each its seq and hash,
 * and commits them in batches with COPY, one transaction per batch. A record counts as stored only
 * after its transaction commits. A failed batch is retried (never dropped) with backoff; after a
 * lost connection the writer finds out whether the batch committed before retrying, so no row is
 * written twice. One writer per chain, enforced by the database (advisory lock + chain-row lock).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ChainDivergedError, ChainFencedError, describeError, EventsNotCommittedError, InternalError, WriterClosedError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { DEFAULT_COMMIT_TIMEOUT_MS, startPipelined, type PipelinedBatch } from './batch-commit.js';
import { takeChain } from './chain-ownership.js';
import { Chainer } from './chainer.js';
import { pgErrorKind, sleep } from './pg-client.js';
import { ZERO_HASH, type ChainedRecord, type ChainHead, type LedgerRecord } from './types.js';
import { WriterQueue } from './writer-queue.js';
import { WriterSessions } from './writer-sessions.js';

// Moved out of this file when it was split by responsibility; exported here as before.
export { CHAIN_LOCK_PREFIX } from './chain-ownership.js';
export type { ChainHead } from './types.js';
export { heldBytes } from './writer-queue.js';

export interface WriterOptions {
  readonly databaseUrl: string;
  readonly chain: string;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Most records per transaction. */
  readonly batchMaxEvents: number;
  /**
   * Queue bounds: over either, `full` is true and the listener pauses its sockets. The bytes are the
   * bytes held (heldBytes: each record's buffers, a batch's COPY data while in flight, and what a
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

/** Batches in flight at once: one committing while the next is being ingested. */
const PIPELINE_DEPTH = 2;

/** A chained batch as the writer holds it until it commits. */
interface PreparedBatch extends PipelinedBatch {
  /** Bytes held by the batch: its records (heldBytes) and its COPY data (queue accounting). */
  bytes: number;
}

export class LedgerWriter extends EventEmitter<{ drain: []; full: []; error: [Error]; ready: []; unready: [] }> {
  readonly #o: WriterOptions;
  /** Records waiting and in flight, and the bytes they hold (the `full`/`drain` bounds). */
  readonly #queue: WriterQueue;
  /**
   * Per-record commit callbacks (RELP acknowledgements), by record. Only records given one are in
   * it, so the TCP path pays one `size` check per record in Chainer.chainBatch.
   */
  readonly #onRecordCommitted = new Map<LedgerRecord, () => void>();
  /** Chained batches not yet known committed, in seq order (at most PIPELINE_DEPTH). */
  #inflight: PreparedBatch[] = [];
  /** The two pg connections (the owner holds the chain's advisory lock). */
  readonly #sessions: WriterSessions;
  /** Gives records their seq and hash; its next head runs ahead of `#committedHead` while batches are in flight. */
  readonly #chainer: Chainer;
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
  #connecting = false;
  /** The chain's epoch this writer took (fencing: takeChain / checkOwnership, src/ledger/chain-ownership.ts). */
  #epoch: bigint | undefined;

  constructor(options: WriterOptions) {
    super();
    this.#o = options;
    this.#queue = new WriterQueue(options.queueMaxEvents, options.queueMaxBytes, options.batchMaxEvents);
    this.#chainer = new Chainer(options.chain, options.log, options.metrics);
    this.#sessions = new WriterSessions(options, () => {
      // Lost while idle (the database restarted, say): not ready until reconnected, which the loop
      // does at once; with batches in flight, their failure leads to the same.
      this.#setReady(false);
      if (this.#inflight.length === 0 && !this.#connecting) {
        void this.#sessions.disconnect();
        this.#wake?.();
      }
    });
  }

  /** The last committed head. */
  get head(): ChainHead {
    return this.#committedHead;
  }

  /** Records received and not yet committed (queued plus in flight). */
  get pendingEvents(): number {
    return this.#queue.pendingEvents;
  }

  /** Bytes held by the records received and not yet committed, and by the COPY data of those in flight. */
  get pendingBytes(): number {
    return this.#queue.pendingBytes;
  }

  /**
   * Counts `delta` bytes (negative: released) held on their way to this writer, by a stage pool
   * (src/workers/pool.ts): they are in the byte bound as the queue is, so that the sockets pause
   * when the queue and the pool together hold `queueMaxBytes`, not each of them.
   */
  holdUpstream(delta: number): void {
    this.#queue.holdUpstream(delta);
    // Released bytes reach the queue at once (the pool delivers right after): drain waits for a commit.
    if (delta > 0) this.#checkFull();
  }

  /** Under half of both bounds again: `drain` (the sockets read again). */
  #checkDrain(): void {
    if (this.#full && this.#queue.underHalf) {
      this.#full = false;
      this.emit('drain');
    }
  }

  #checkFull(): void {
    if (!this.#full && this.#queue.overBounds) {
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
    return this.#inflight[0]?.rows[0]?.receivedAtUs ?? this.#queue.oldest?.receivedAtUs ?? null;
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
    await this.#sessions.disconnect();
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
    void this.#sessions.disconnect();
    return lost;
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
    const owner = await this.#sessions.open(this.#started);
    const taken = await takeChain(owner, this.#o.chain, this.#o.log);
    this.#epoch = taken.epoch;
    const found = taken.head;
    if (!this.#started) {
      this.#chainer.startAt(found);
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
      while (this.#inflight.length < PIPELINE_DEPTH && this.#queue.waiting) {
        let batch: PreparedBatch;
        try {
          const taken = this.#queue.take();
          const chained = this.#chainer.chainBatch(taken.records, this.#onRecordCommitted);
          // The batch's COPY data is held too until it commits: counted from here on.
          batch = { ...chained, bytes: taken.bytes + this.#queue.holdCopy(chained.copy) };
        } catch (err) {
          // Even the record stored as received could not be encoded (Chainer.chainBatch: a bug in the
          // encoding itself). Stop loudly, counting what is not committed, rather than leave the loop dead.
          this.#fail(err instanceof Error ? err : new InternalError(String(err)));
          return;
        }
        this.#inflight.push(batch);
        // One batch's chaining per turn of the event loop: the sockets, /healthz and the acks run
        // between two (a batch of 64 KiB frames takes tens of ms to chain).
        if (this.#inflight.length < PIPELINE_DEPTH && this.#queue.waiting) {
          await new Promise<void>((res) => setImmediate(res));
          // abort() may have run meanwhile: it counted these batches as lost; commit none of them.
          if (!this.#running) return;
        }
      }
      this.#updateGauges();
      if (this.#inflight.length === 0) {
        if (this.#closing) break;
        if (!this.#sessions.connected) {
          // Idle without a connection (lost while idle): reconnect now, so that /readyz tells the truth.
          try {
            await this.#connectAll();
            backoffMs = 100;
          } catch (err) {
            if (err instanceof ChainDivergedError) return this.#fail(err);
            this.#o.log.warn({ err: describeError(err), chain: this.#o.chain, retryInMs: backoffMs }, 'writer reconnect failed; retrying');
            this.#setReady(false);
            await this.#sessions.disconnect();
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
        if (!this.#sessions.connected) await this.#connectAll();
        startPipelined(this.#inflight, this.#sessions, this.#o.chain, this.#epoch, this.#o.commitTimeoutMs ?? DEFAULT_COMMIT_TIMEOUT_MS);
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
        this.#o.log.error({ err: describeError(err), chain: this.#o.chain, events: this.#queue.inflightEvents, retryInMs: backoffMs }, 'batch commit failed; retrying (nothing is dropped)');
        this.#setReady(false);
        await this.#sessions.disconnect();
        if (!this.#running) return;
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
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

  #committed(p: PreparedBatch): void {
    this.#committedHead = p.last;
    this.#queue.release(p.rows.length, p.bytes);
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

function sameHead(a: ChainHead, b: ChainHead): boolean {
  return a.seq === b.seq && a.hash.equals(b.hash);
}
