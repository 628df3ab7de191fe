/**
 * Links a batch of records into the chain: each gets the next seq, the previous row's hash, its own
 * SHA-256 over the canonical form (docs/ledger-format.md) and its binary COPY row (CopyBuffer). It
 * holds what linking needs and nothing of committing: the next head (running ahead of the committed
 * one while batches are in flight), the connection record of each peer identity and the COPY buffer.
 * Apart from the writer (src/ledger/writer.ts), which decides when to chain and what to do after a
 * batch commits or fails.
 */
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import { CopyBuffer } from './copy-binary.js';
import { PreparedRecord } from './prepared.js';
import { encodeV3Linked } from './row.js';
import { sha256 } from './sha256.js';
import { ZERO_HASH, type ChainedRecord, type ChainHead, type LedgerRecord } from './types.js';
import { unencodableRecord } from './unprocessed.js';
import { chainConnection, chainRecordV3Into, type ChainConnection } from './v3.js';

/** A batch linked into the chain, ready for its transaction (src/ledger/batch-commit.ts). */
export interface ChainedBatch {
  rows: ChainedRecord[];
  /** The batch's binary COPY data, header to trailer, in ~128 KiB chunks (CopyBuffer.take). */
  copy: Buffer[];
  prev: ChainHead;
  last: ChainHead;
  /** Connections first seen in this batch: inserted in its transaction, before its rows. */
  connections: ChainConnection[];
  /** Per-record commit callbacks of the batch's records, in seq order (RELP acks). */
  acks: Array<() => void> | undefined;
}

export class Chainer {
  readonly #chain: string;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  /** Next seq/hash to assign; runs ahead of the writer's committed head while batches are in flight. */
  #head: ChainHead = { seq: 0, hash: ZERO_HASH };
  /**
   * The connection record of each peer identity (one object per TLS connection or RELP session):
   * its id is the seq of its first row in this chain. Stored once, in the transaction of that row.
   */
  readonly #connections = new WeakMap<PeerIdentity, ChainConnection>();
  /** Binary COPY of the batch being chained, written row by row (src/ledger/copy-binary.ts). */
  readonly #copy = new CopyBuffer();

  constructor(chain: string, log: Logger, metrics: Metrics) {
    this.#chain = chain;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** Continues the chain from `head` (the head read when the writer took the chain). */
  startAt(head: ChainHead): void {
    this.#head = head;
  }

  /**
   * Gives each record its seq and hash (the canonical form, docs/ledger-format.md) and its binary
   * COPY row. A record's entry in `callbacks` (its commit callback) moves into the batch's acks.
   */
  chainBatch(batch: LedgerRecord[], callbacks: Map<LedgerRecord, () => void>): ChainedBatch {
    const prev = this.#head;
    let seq = prev.seq;
    let prevHash = prev.hash;
    const rows: ChainedRecord[] = new Array(batch.length);
    let acks: Array<() => void> | undefined;
    const connections: ChainConnection[] = [];
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
          row = chainRecordV3Into(r, this.#chain, seq, prevHash, conn, this.#copy);
        } catch (err) {
          // The stages made a record the row encoding refuses (a bug): it is stored as received, with
          // the error, in its place; the chain goes on. The failed attempt wrote nothing to the COPY.
          this.#log.error({ chain: this.#chain, seq, err: describeError(err) }, 'record stored as received: its row could not be encoded');
          row = chainRecordV3Into(unencodableRecord(r, err, this.#metrics), this.#chain, seq, prevHash, conn, this.#copy);
        }
      } else {
        // Prepared by a stage worker: only the link is left (src/ledger/prepared.ts).
        const chain = this.#chain;
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
    return { rows, copy, prev, last, acks, connections };
  }
}
