/**
 * The stage worker pool (`serve --workers N`): frames go to N worker_threads in batches (one
 * postMessage per batch, its bytes transferred), each worker runs the stages and prepares the v3
 * row's tail (src/workers/stage-batch.ts), and the prepared records come back to `deliver` in the
 * order the frames were pushed: the chain is sequential, so batches are numbered and a batch that
 * comes back early waits for the ones before it (reorder buffer).
 *
 * Backpressure is explicit: the pool holds at most `maxBytes` of raw frames (sent, or waiting in the
 * reorder buffer); over it, `full` is true until `drain`. What it holds also counts in the writer's
 * byte bound (`onHeld`: LedgerWriter.holdUpstream), since it all becomes the writer's queue. Nothing is dropped: every
 * frame of a batch whose worker died goes through `inline` (the main thread's own toRecord) in its
 * place in the order; a batch whose worker hung is stored as received, with the error.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Frame } from '../framing/framer.js';
import { PreparedRecord } from '../ledger/prepared.js';
import type { LedgerRecord } from '../ledger/types.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import type { Monitor } from '../monitoring/monitor.js';
import type { SequenceObservation } from '../monitoring/sequence.js';
import { unprocessedRecord } from '../ledger/unprocessed.js';
import type { RecordConfig } from '../stages.js';
import { FORMAT_CODES, IN_OCTET, IN_STRIDE, IN_TRUNCATED, OUT_STRIDE, OUT_UNENCODABLE, type BatchIn, type BatchOut, type StageWorkerData } from './protocol.js';

export interface StagePoolOptions extends Omit<StageWorkerData, 'scriptData'> {
  readonly workers: number;
  /**
   * Another worker script (tests: one that starts serveStageBatches with hooks), and data for it
   * (StageWorkerData.scriptData). Default: stage-worker.js.
   */
  readonly script?: { readonly url: URL; readonly data?: unknown };
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The main thread's own stages for a frame (the server's toRecord, which counts it), used when a worker could not do it. */
  readonly inline: (frame: Frame, peer: PeerIdentity, receivedAtUs: number) => LedgerRecord;
  /** Each record, in push order, with the callback its frame was pushed with (a RELP frame's acknowledgement). */
  readonly deliver: (record: LedgerRecord, onCommitted?: () => void) => void;
  /** A sequence observation the worker made (the monitor's onParsed, done there). */
  readonly observe?: (observation: SequenceObservation, peer: PeerIdentity) => void;
  /** Raw bytes held at most before `full` (default 8 MiB). */
  readonly maxBytes?: number;
  /**
   * The raw bytes held, as they change (+ on push, - when a batch is delivered, before its records):
   * the writer counts them in its own byte bound (LedgerWriter.holdUpstream), so that the queue and
   * the pool together stay under it.
   */
  readonly onHeld?: (delta: number) => void;
  /**
   * Frames held at most before `full` (default 2,048): small frames reach the byte bound late, and
   * every frame held becomes a record in the writer's queue at once (its own bound is in events).
   */
  readonly maxFrames?: number;
  /** Frames per batch at most (default 256); a batch is also sent at the end of each turn of the event loop. */
  readonly batchFrames?: number;
  /**
   * A worker that has not answered a batch this long (default 30 s; 0: never) is ended and replaced:
   * the frames of that batch are stored as received with the error (not processed again: the same
   * frame would hang the main thread), its later batches are processed on the main thread.
   */
  readonly batchTimeoutMs?: number;
}

interface Pending {
  readonly id: number;
  readonly frames: Frame[];
  readonly peers: PeerIdentity[];
  readonly receivedAtUs: number[];
  /** Per frame, what push() was given to run after its commit (made on the first frame that has one). */
  onCommitted?: Array<(() => void) | undefined>;
  bytes: number;
  worker?: number;
  result?: BatchOut;
  /** Its worker died before answering: processed inline. */
  lost?: boolean;
  /** When it was sent to its worker (Date.now()). */
  sentAtMs?: number;
  /** Its worker hung on it: its frames are stored unprocessed. */
  timedOut?: boolean;
}

/** The default of StagePoolOptions.batchTimeoutMs. */
export const DEFAULT_BATCH_TIMEOUT_MS = 30_000;

/** Input buffers kept for reuse, and the smallest made (a batch of 256 frames of 256 bytes). */
const SPARE_BUFFERS = 4;
const MAX_SPARE_BYTES = 2 << 20;
const MIN_INPUT_BUFFER = 64 * 1024;

/** The worker's script: compiled JavaScript (under vitest, which runs this file as TypeScript, the build's). */
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('../../dist/src/workers/stage-worker.js', import.meta.url) : new URL('./stage-worker.js', import.meta.url);

export class StagePool extends EventEmitter<{ full: []; drain: [] }> {
  readonly #o: StagePoolOptions;
  readonly #workers: Array<Worker | undefined> = [];
  /** Batches sent per worker and not answered (least-loaded dispatch). */
  readonly #busy: number[] = [];
  /** Sent or waiting, by id; delivered strictly in id order. */
  readonly #pending = new Map<number, Pending>();
  #current: Pending | undefined;
  #nextId = 0;
  #nextDeliver = 0;
  #heldBytes = 0;
  #heldFrames = 0;
  #full = false;
  #closed = false;
  #flushScheduled = false;
  #idle: (() => void) | undefined;
  /**
   * Input buffers the workers gave back, for the next batches: a new one per batch was garbage in
   * the worker's heap until its collector ran (test/resilience/memory.test.ts).
   */
  readonly #spare: ArrayBuffer[] = [];
  readonly #watchdog: NodeJS.Timeout | undefined;
  /** Workers being ended because they hung: their other batches go to the worker that replaces them. */
  readonly #hung = new Set<number>();

  constructor(o: StagePoolOptions) {
    super();
    this.#o = o;
    for (let i = 0; i < o.workers; i++) this.#spawn(i);
    const timeout = o.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS;
    if (timeout > 0) this.#watchdog = setInterval(() => this.#endHung(timeout), Math.min(1000, timeout)).unref();
  }

  /**
   * Ends each worker whose oldest unanswered batch is older than `timeout` (a stage that never
   * returns: a bug, or a frame no bound caught). Its exit marks its batches lost and starts another.
   */
  #endHung(timeout: number): void {
    const now = Date.now();
    const seen = new Set<number>();
    for (const p of this.#pending.values()) {
      const wi = p.worker;
      if (wi === undefined || p.result !== undefined || p.lost || seen.has(wi)) continue;
      seen.add(wi);
      const w = this.#workers[wi];
      if (w === undefined || p.timedOut || now - (p.sentAtMs ?? now) <= timeout) continue;
      p.timedOut = true;
      this.#hung.add(wi);
      this.#o.log.error({ worker: wi, frames: p.frames.length, ms: now - p.sentAtMs! }, 'stage worker did not answer a batch in time; ending it, the batch is stored as received with the error');
      void w.terminate();
    }
  }

  /** True while over maxBytes: stop reading from sockets until `drain`. */
  get full(): boolean {
    return this.#full;
  }

  /** Raw bytes held (sent to a worker or waiting for an earlier batch). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Live worker threads. */
  get threads(): number {
    return this.#workers.filter((w) => w !== undefined).length;
  }

  #spawn(i: number): void {
    const data: StageWorkerData = {
      format: this.#o.format,
      timeZone: this.#o.timeZone,
      hostBindings: this.#o.hostBindings,
      redaction: this.#o.redaction,
      scriptData: this.#o.script?.data,
    };
    const w = new Worker(this.#o.script?.url ?? WORKER_URL, { workerData: data });
    this.#workers[i] = w;
    this.#busy[i] = 0;
    w.on('message', (m: BatchOut) => {
      // A late answer of a worker already replaced is still a result, but not the new one's load.
      if (this.#workers[i] === w) this.#busy[i]!--;
      if (this.#spare.length < SPARE_BUFFERS && m.input.byteLength <= MAX_SPARE_BYTES) this.#spare.push(m.input);
      const p = this.#pending.get(m.id);
      if (p !== undefined) p.result = m;
      this.#deliverReady();
    });
    w.on('error', (err) => this.#o.log.error({ err: describeError(err), worker: i }, 'stage worker failed; its frames are processed on the main thread'));
    w.on('exit', (code) => {
      if (this.#workers[i] !== w) return;
      this.#workers[i] = undefined;
      // Its unanswered batches: the main thread processes them, in their place in the order; after a
      // hang, the worker that replaces it does (the main thread could hang on the same frames), and
      // the batch it hung on is stored as received.
      const hung = this.#hung.delete(i) && !this.#closed;
      const resend: Pending[] = [];
      for (const p of this.#pending.values()) {
        if (p.worker !== i || p.result !== undefined) continue;
        if (hung && !p.timedOut) resend.push(p);
        else p.lost = true;
      }
      this.#busy[i] = 0;
      if (!this.#closed) {
        this.#o.log.error({ worker: i, code }, 'stage worker exited; starting another');
        this.#spawn(i);
        for (const p of resend) this.#send(p, i);
      }
      this.#deliverReady();
    });
  }

  /** Queues a frame; its record reaches `deliver` in push order, with `onCommitted`. */
  push(frame: Frame, peer: PeerIdentity, receivedAtUs: number, onCommitted?: () => void): void {
    const p = (this.#current ??= { id: this.#nextId++, frames: [], peers: [], receivedAtUs: [], bytes: 0 });
    if (onCommitted !== undefined) (p.onCommitted ??= [])[p.frames.length] = onCommitted;
    p.frames.push(frame);
    p.peers.push(peer);
    p.receivedAtUs.push(receivedAtUs);
    p.bytes += frame.raw.length;
    this.#heldBytes += frame.raw.length;
    this.#heldFrames++;
    this.#o.onHeld?.(frame.raw.length);
    if (!this.#full && (this.#heldBytes >= (this.#o.maxBytes ?? 8 << 20) || this.#heldFrames >= (this.#o.maxFrames ?? 2048))) {
      this.#full = true;
      this.emit('full');
    }
    if (p.frames.length >= (this.#o.batchFrames ?? 256)) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  /** Sends the batch being filled. */
  #flush(): void {
    const p = this.#current;
    if (p === undefined) return;
    this.#current = undefined;
    this.#pending.set(p.id, p);
    const wi = this.#pick();
    if (wi < 0) {
      p.lost = true;
      this.#deliverReady();
      return;
    }
    this.#send(p, wi);
  }

  /** Posts batch `p` to worker `wi`. */
  #send(p: Pending, wi: number): void {
    const n = p.frames.length;
    const bytes = this.#inputBuffer(p.bytes);
    const buf = Buffer.from(bytes);
    const meta = new Float64Array(n * IN_STRIDE);
    const peers: PeerIdentity[] = [];
    const peerIndex = new Map<PeerIdentity, number>();
    let o = 0;
    for (let i = 0; i < n; i++) {
      const f = p.frames[i]!;
      const peer = p.peers[i]!;
      let pi = peerIndex.get(peer);
      if (pi === undefined) {
        pi = peers.push(peer) - 1;
        peerIndex.set(peer, pi);
      }
      f.raw.copy(buf, o);
      const at = i * IN_STRIDE;
      meta[at] = o;
      meta[at + 1] = f.raw.length;
      meta[at + 2] = f.body.length;
      meta[at + 3] = (f.truncated ? IN_TRUNCATED : 0) | (f.framing === 'octet-counted' ? IN_OCTET : 0);
      meta[at + 4] = p.receivedAtUs[i]!;
      meta[at + 5] = pi;
      o += f.raw.length;
    }
    p.worker = wi;
    p.sentAtMs = Date.now();
    this.#busy[wi]!++;
    const msg: BatchIn = { id: p.id, bytes, meta: meta.buffer, peers };
    this.#workers[wi]!.postMessage(msg, [bytes, meta.buffer]);
    this.#o.metrics.stagePoolBytes.set(this.#heldBytes);
  }

  /** A given-back input buffer of at least `size` bytes, or a new one (a power of two: they are reused). */
  #inputBuffer(size: number): ArrayBuffer {
    for (let i = 0; i < this.#spare.length; i++) {
      if (this.#spare[i]!.byteLength >= size) return this.#spare.splice(i, 1)[0]!;
    }
    return new ArrayBuffer(2 ** Math.ceil(Math.log2(Math.max(size, MIN_INPUT_BUFFER))));
  }

  /** The live worker with the fewest unanswered batches, or -1. */
  #pick(): number {
    let best = -1;
    for (let i = 0; i < this.#workers.length; i++) if (this.#workers[i] !== undefined && (best < 0 || this.#busy[i]! < this.#busy[best]!)) best = i;
    return best;
  }

  #deliverReady(): void {
    for (;;) {
      const p = this.#pending.get(this.#nextDeliver);
      if (p === undefined || (p.result === undefined && !p.lost)) break;
      this.#pending.delete(p.id);
      this.#nextDeliver++;
      this.#heldBytes -= p.bytes;
      this.#heldFrames -= p.frames.length;
      this.#o.onHeld?.(-p.bytes);
      if (p.result !== undefined) this.#deliverResult(p, p.result);
      else if (p.timedOut) {
        const error = `stage worker did not finish its batch within ${this.#o.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS} ms; stored as received`;
        for (let i = 0; i < p.frames.length; i++) this.#o.deliver(unprocessedRecord(p.frames[i]!, p.peers[i]!, p.receivedAtUs[i]!, error, this.#o.metrics), p.onCommitted?.[i]);
      } else for (let i = 0; i < p.frames.length; i++) this.#o.deliver(this.#o.inline(p.frames[i]!, p.peers[i]!, p.receivedAtUs[i]!), p.onCommitted?.[i]);
    }
    this.#o.metrics.stagePoolBytes.set(this.#heldBytes);
    if (this.#full && this.#heldBytes < (this.#o.maxBytes ?? 8 << 20) / 2 && this.#heldFrames < (this.#o.maxFrames ?? 2048) / 2) {
      this.#full = false;
      this.emit('drain');
    }
    if (this.#pending.size === 0 && this.#current === undefined) this.#idle?.();
  }

  #deliverResult(p: Pending, r: BatchOut): void {
    const m = this.#o.metrics as unknown as Record<string, { inc(l?: unknown, n?: number): void; labels(...v: string[]): { inc(n: number): void } }>;
    for (const [name, labels, n] of r.tallies) {
      const c = m[name];
      if (c === undefined) continue;
      if (Array.isArray(labels)) c.labels(...labels).inc(n);
      else if (labels === null) c.inc(n);
      else c.inc(labels, n);
    }
    this.#o.metrics.stageFrames.inc({ thread: 'worker' }, p.frames.length);
    const out = Buffer.from(r.bytes);
    const meta = new Float64Array(r.meta);
    let obs = 0;
    for (let i = 0; i < p.frames.length; i++) {
      const f = p.frames[i]!;
      const peer = p.peers[i]!;
      const at = i * OUT_STRIDE;
      const flags = meta[at + 5]!;
      const observed = obs < r.observations.length && r.observations[obs]![0] === i ? (r.observations[obs++]![1] as SequenceObservation) : undefined;
      if (observed !== undefined) this.#o.observe?.(observed, peer);
      const tail = out.subarray(meta[at]!, meta[at]! + meta[at + 1]!);
      const raw = out.subarray(meta[at + 2]!, meta[at + 2]! + meta[at + 3]!);
      const record = new PreparedRecord(p.receivedAtUs[i]!, peer, raw, f.truncated, FORMAT_CODES[meta[at + 4]!]!, tail);
      if (flags & OUT_UNENCODABLE) this.#o.log.error({ err: record.parseError }, 'record stored as received: its row could not be encoded');
      this.#o.deliver(record, p.onCommitted?.[i]);
    }
  }

  /** Forced stop: ends the threads at once; returns how many frames it held (never delivered). */
  abort(): number {
    this.#closed = true;
    clearInterval(this.#watchdog);
    let lost = this.#current?.frames.length ?? 0;
    for (const p of this.#pending.values()) lost += p.frames.length;
    this.#current = undefined;
    this.#pending.clear();
    for (const w of this.#workers.splice(0)) void w?.terminate();
    this.#idle?.(); // a close() waiting for those batches returns: they are counted here
    return lost;
  }

  /** Sends what is queued, waits until every record was delivered, and ends the threads. */
  async close(): Promise<void> {
    this.#flush();
    if (this.#pending.size > 0) await new Promise<void>((res) => (this.#idle = res));
    this.#closed = true;
    clearInterval(this.#watchdog);
    const ws = this.#workers.splice(0);
    await Promise.all(ws.map((w) => w?.terminate()));
  }
}

/** The pool for the pipeline's configuration (`--workers N`): the workers run the stages as `inline` (toRecord) does on the main thread. */
export function stagePool(
  cfg: RecordConfig & { readonly workers: number },
  metrics: Metrics,
  log: Logger,
  monitor: Pick<Monitor, 'onObservation'>,
  inline: StagePoolOptions['inline'],
  deliver: StagePoolOptions['deliver'],
  onHeld?: (delta: number) => void,
): StagePool {
  return new StagePool({
    workers: cfg.workers,
    format: cfg.format,
    timeZone: cfg.timeZone,
    hostBindings: cfg.hostBindings,
    redaction: cfg.redactor?.source,
    metrics,
    log,
    inline,
    deliver,
    ...(onHeld ? { onHeld } : {}),
    observe: (obs, peer) => monitor.onObservation(obs, peer),
  });
}
