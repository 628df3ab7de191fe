/**
 * The writer's queue and its accounting: the records waiting, oldest first, cut into batches; the
 * events and bytes held until they commit (waiting, in flight, and on their way from a stage pool);
 * and whether that is over the bounds the listener pauses its sockets on. Apart from the writer
 * (src/ledger/writer.ts), which emits `full`/`drain` from these answers, so that every count the
 * bounds depend on is kept in one place.
 */
import { PreparedRecord } from './prepared.js';
import type { LedgerRecord } from './types.js';

/**
 * Most raw bytes per batch, whatever --batch-size says: a batch's COPY data is held with its records
 * until it commits, and chaining it holds the event loop (test/resilience/memory.test.ts for memory;
 * test/resilience/hostile-redaction.test.ts for the loop: 64 KiB frames). 512 KiB: 128 frames of
 * 4 KB, 8 of 64 KiB; frames of a few hundred bytes are cut by --batch-size first.
 */
const BATCH_MAX_BYTES = 512 * 1024;

/**
 * The bytes a queued record holds, for the byte bound. A prepared record: its tail and its objects
 * (PreparedRecord.heldBytes). A record made on the main thread: its raw bytes and its objects in the
 * heap, counted as three times the raw bytes plus 1 KiB (measured: V8 heap used per toRecord result,
 * 4,000 kept, after a full GC: 1.4 KB for a 78-byte frame, 7.9 KB for a 4,079-byte one).
 */
export function heldBytes(r: LedgerRecord): number {
  return r instanceof PreparedRecord ? r.heldBytes : 3 * r.raw.length + 1024;
}

export class WriterQueue {
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #batchMaxEvents: number;
  /** Waiting records, oldest first; `#head` avoids O(n) shifts. */
  #records: LedgerRecord[] = [];
  #head = 0;
  #bytes = 0;
  /** Bytes on their way to the writer (a stage pool's frames): in the byte bound, not in the queue. */
  #upstreamBytes = 0;
  #inflightEvents = 0;
  #inflightBytes = 0;

  /** `maxEvents`, `maxBytes`: the bounds (WriterOptions.queueMaxEvents, queueMaxBytes). */
  constructor(maxEvents: number, maxBytes: number, batchMaxEvents: number) {
    this.#maxEvents = maxEvents;
    this.#maxBytes = maxBytes;
    this.#batchMaxEvents = batchMaxEvents;
  }

  /** True while records wait to be taken into a batch. */
  get waiting(): boolean {
    return this.#records.length > this.#head;
  }

  /** The oldest waiting record. */
  get oldest(): LedgerRecord | undefined {
    return this.#records[this.#head];
  }

  /** Records taken into batches and not yet committed. */
  get inflightEvents(): number {
    return this.#inflightEvents;
  }

  /** Records received and not yet committed (waiting plus in flight). */
  get pendingEvents(): number {
    return this.#records.length - this.#head + this.#inflightEvents;
  }

  /** Bytes held by the records received and not yet committed, and by the COPY data of those in flight. */
  get pendingBytes(): number {
    return this.#bytes + this.#inflightBytes;
  }

  push(record: LedgerRecord): void {
    this.#records.push(record);
    this.#bytes += heldBytes(record);
  }

  /** Counts `delta` bytes (negative: released) held on their way here (LedgerWriter.holdUpstream). */
  holdUpstream(delta: number): void {
    this.#upstreamBytes += delta;
  }

  /** At either bound, with what is on its way: the sockets should pause. */
  get overBounds(): boolean {
    return this.pendingEvents >= this.#maxEvents || this.pendingBytes + this.#upstreamBytes >= this.#maxBytes;
  }

  /** Under half of both bounds, with what is on its way: the sockets may read again. */
  get underHalf(): boolean {
    return this.pendingEvents < this.#maxEvents / 2 && this.pendingBytes + this.#upstreamBytes < this.#maxBytes / 2;
  }

  /** The next batch off the queue, and the bytes its records hold (now counted as in flight). */
  take(): { records: LedgerRecord[]; bytes: number } {
    let end = this.#head;
    const last = Math.min(this.#records.length, this.#head + this.#batchMaxEvents);
    let bytes = 0;
    for (let raw = 0; end < last && (end === this.#head || raw < BATCH_MAX_BYTES); end++) {
      const r = this.#records[end]!;
      raw += r.raw.length;
      bytes += heldBytes(r);
    }
    const batch = this.#records.slice(this.#head, end);
    this.#head = end;
    if (this.#head > 4096 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
    this.#bytes -= bytes;
    this.#inflightEvents += batch.length;
    this.#inflightBytes += bytes;
    return { records: batch, bytes };
  }

  /** Counts a chained batch's COPY data as held until it commits; returns its size. */
  holdCopy(copy: readonly Buffer[]): number {
    let copyBytes = 0;
    for (const c of copy) copyBytes += c.length;
    this.#inflightBytes += copyBytes;
    return copyBytes;
  }

  /** A batch committed: its `events` and `bytes` (records and COPY data) are no longer held. */
  release(events: number, bytes: number): void {
    this.#inflightEvents -= events;
    this.#inflightBytes -= bytes;
  }
}
