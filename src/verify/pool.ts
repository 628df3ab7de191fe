/**
 * Where verify's ranges run: in this thread on the coordinator's own connection (small ledgers, and
 * wherever the compiled worker file is not at hand), or on worker threads (verify-worker.ts), each
 * with its own connection into the coordinator's exported snapshot. Either way a range's hash
 * batches arrive in order through its sink, then its summary.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import type { ChainRange } from './copy.js';
import { RangeVerifier, type HashSink, type RangeSummary } from './range.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker.js';

export interface RangeExecutor {
  /** Runs a range; its hash batches go to `sink` (in order) before the summary resolves. */
  run(range: ChainRange, sink: HashSink): Promise<RangeSummary>;
  close(): Promise<void>;
}

/** In this thread, on `client` (which holds the snapshot transaction). One range at a time. */
export class InlineExecutor implements RangeExecutor {
  readonly #client: pg.Client;
  readonly #verifier: RangeVerifier;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(client: pg.Client, maxFindings: number) {
    this.#client = client;
    this.#verifier = new RangeVerifier({ maxFindings });
  }

  run(range: ChainRange, sink: HashSink): Promise<RangeSummary> {
    const p = this.#tail.then(() => this.#verifier.run(this.#client, range, sink));
    this.#tail = p.catch(() => {});
    return p;
  }

  async close(): Promise<void> {
    await this.#tail;
  }
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Whether worker threads can be used (the compiled worker exists: not when running from .ts sources). */
export function workersAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
}

interface Job {
  readonly id: number;
  readonly range: ChainRange;
  readonly sink: HashSink;
  resolve(s: RangeSummary): void;
  reject(e: Error): void;
}

/** `size` worker threads; a range goes to the first idle one. */
export class WorkerPool implements RangeExecutor {
  readonly #workers: Array<{ worker: Worker; job: Job | undefined }> = [];
  readonly #queue: Job[] = [];
  readonly #jobs = new Map<number, Job>();
  #nextId = 0;
  #failed: Error | undefined;

  constructor(size: number, init: WorkerInit) {
    for (let i = 0; i < size; i++) {
      // Default young generation: a larger one did not change verify's CPU (bench/verify.ts).
      const worker = new Worker(WORKER_URL, { workerData: init });
      const slot = { worker, job: undefined as Job | undefined };
      worker.on('message', (m: FromWorker) => this.#onMessage(slot, m));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => {
        if (slot.job !== undefined) this.#fail(new Error(`verify worker exited (${code}) in the middle of a range`));
      });
      this.#workers.push(slot);
    }
  }

  run(range: ChainRange, sink: HashSink): Promise<RangeSummary> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<RangeSummary>((resolve, reject) => {
      const job: Job = { id: this.#nextId++, range, sink, resolve, reject };
      this.#jobs.set(job.id, job);
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (const slot of this.#workers) {
      if (slot.job !== undefined) continue;
      const job = this.#queue.shift();
      if (job === undefined) return;
      slot.job = job;
      slot.worker.postMessage({ type: 'task', id: job.id, range: job.range } satisfies ToWorker);
    }
  }

  #onMessage(slot: { job: Job | undefined }, m: FromWorker): void {
    switch (m.type) {
      case 'hashes':
        this.#jobs.get(m.id)?.sink(m.seqs, m.hashes, m.n);
        return;
      case 'done': {
        const job = this.#jobs.get(m.id);
        this.#jobs.delete(m.id);
        slot.job = undefined;
        job?.resolve(revive(m.summary as RangeSummary));
        this.#dispatch();
        return;
      }
      case 'error':
        this.#fail(new Error(`verify worker: ${m.message}`));
    }
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    for (const job of this.#jobs.values()) job.reject(err);
    this.#jobs.clear();
    this.#queue.length = 0;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (slot) => {
        if (this.#failed) {
          await slot.worker.terminate();
          return;
        }
        const exited = new Promise<void>((r) => slot.worker.once('exit', () => r()));
        slot.worker.postMessage({ type: 'end' } satisfies ToWorker);
        await exited;
      }),
    );
  }
}

/** Buffers arrive as plain Uint8Arrays after structured cloning. */
function revive(s: RangeSummary): RangeSummary {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return {
    ...s,
    first: s.first && { seq: s.first.seq, prevHash: buf(s.first.prevHash) },
    last: s.last && { seq: s.last.seq, hash: buf(s.last.hash) },
  };
}

type Batch = [seqs: Float64Array, hashes: Uint8Array, n: number];

/**
 * Ranges started up to `ahead` at a time and handed back strictly in order: a range's hash batches
 * are held until it is the one being consumed, then go to `feed` as they come. Memory: at most
 * `ahead` ranges of row hashes (40 bytes per row).
 */
export class OrderedRanges<T> {
  readonly #exec: RangeExecutor;
  readonly #items: readonly T[];
  readonly #range: (item: T) => ChainRange;
  readonly #feed: (item: T, ...batch: Batch) => void;
  readonly #ahead: number;
  readonly #pending = new Map<number, { result: Promise<RangeSummary>; live: boolean; held: Batch[] }>();

  constructor(exec: RangeExecutor, items: readonly T[], range: (item: T) => ChainRange, feed: (item: T, ...batch: Batch) => void, ahead: number) {
    this.#exec = exec;
    this.#items = items;
    this.#range = range;
    this.#feed = feed;
    this.#ahead = ahead;
    for (let k = 0; k < Math.min(ahead, items.length); k++) this.#start(k);
  }

  #start(k: number): void {
    const item = this.#items[k];
    if (item === undefined) return;
    const slot = { result: undefined as unknown as Promise<RangeSummary>, live: false, held: [] as Batch[] };
    slot.result = this.#exec.run(this.#range(item), (seqs, hashes, n) => {
      if (slot.live) this.#feed(item, seqs, hashes, n);
      else slot.held.push([seqs, hashes, n]);
    });
    slot.result.catch(() => {}); // awaited in take(); a failure before then must not go unhandled
    this.#pending.set(k, slot);
  }

  /** The summary of range k (k = 0, 1, 2, ... in order), after all its batches went to `feed`. */
  async take(k: number): Promise<RangeSummary> {
    const slot = this.#pending.get(k);
    const item = this.#items[k];
    if (slot === undefined || item === undefined) throw new RangeError(`range ${k} was not started`);
    slot.live = true;
    for (const [seqs, hashes, n] of slot.held) this.#feed(item, seqs, hashes, n);
    slot.held.length = 0;
    const summary = await slot.result;
    this.#pending.delete(k);
    this.#start(k + this.#ahead);
    return summary;
  }
}
