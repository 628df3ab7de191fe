/**
 * v3 rows in PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html,
 * "Binary Format"), written straight into ~128 KiB chunks.
 *
 * A row's binary COPY fields come from its canonical bytes (encodeV3Tail, docs/ledger-format.md),
 * not from its values again: text, json and bytea are the same bytes in both (an int32 length, -1
 * for NULL, then the bytes); integers and booleans gain an int32 length; timestamps move from
 * 1970 to PostgreSQL's epoch (2000-01-01); inet takes PostgreSQL's layout. So no string is encoded
 * twice, and neither side escapes, writes hex or formats dates: PostgreSQL's own CPU per row falls
 * by about a seventh against the text format (docs/performance.md).
 */
import { get32, get64, put32, put64, putUtf8 } from './bytes.js';
import { encodeV3Tail, V3_COLUMNS, V3_TAIL, v3TailMaxSize, type V3Values } from './row.js';
import { PG_EPOCH_US } from './time.js';

/** Bytes per chunk (what the writer streams to COPY). */
const CHUNK = 128 * 1024;
/** The file header: signature, flags (none), header extension length (0). */
const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** The file trailer: a field count of -1. */
const TRAILER = Buffer.from([0xff, 0xff]);

const TEXT = 0;
const INET = 1;
const BOOL = 2;
const INT2 = 3;
const INT4 = 4;
const INT8 = 5;
const TIME = 6;
/** The tail's columns as codes (V3_TAIL order), and which are nullable. */
const KINDS = V3_TAIL.map((c) => ({ text: TEXT, json: TEXT, bytea: TEXT, inet: INET, bool: BOOL, int2: INT2, int4: INT4, int8: INT8, timestamptz: TIME })[c.kind]);
const NULLABLE = V3_TAIL.map((c) => c.nullable);
/** A binary field is at most this much longer than its canonical encoding (an int32 length for a flag byte or none). */
const GROWTH = 4 * V3_TAIL.length;

/** Binary COPY of a batch, in chunks; `take()` ends the COPY data (trailer) and hands the chunks over. */
export class CopyBuffer {
  #chunks: Buffer[] = [];
  #buf: Buffer = Buffer.allocUnsafe(CHUNK);
  #o = 0;
  #rows = 0;
  #scratch: Buffer = Buffer.allocUnsafe(16 * 1024);

  /** Makes room for `n` more bytes in one chunk. */
  #reserve(n: number): void {
    if (this.#o + n <= this.#buf.length) return;
    if (this.#o > 0) this.#chunks.push(this.#buf.subarray(0, this.#o));
    this.#buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.#o = 0;
  }

  /** Drops what was written since the last take() (a batch that failed half-chained). */
  discard(): void {
    this.#chunks = [];
    this.#o = 0;
    this.#rows = 0;
  }

  /** The COPY data of the rows written so far, header to trailer ([] when none); the buffer starts empty again. */
  take(): Buffer[] {
    if (this.#rows === 0) return this.discard(), [];
    this.#reserve(TRAILER.length);
    this.#o += TRAILER.copy(this.#buf, this.#o);
    this.#chunks.push(this.#buf.subarray(0, this.#o));
    // The rest of this chunk stays usable for the next batch's bytes.
    this.#buf = this.#buf.subarray(this.#o);
    this.#o = 0;
    this.#rows = 0;
    const out = this.#chunks;
    this.#chunks = [];
    return out;
  }

  /** One v3 row (V3_COLUMNS order, `hash` included). */
  row(v: V3Values): void {
    const need = v3TailMaxSize(v);
    if (this.#scratch.length < need) this.#scratch = Buffer.allocUnsafe(need * 2);
    const end = encodeV3Tail(v, this.#scratch, 0);
    this.linked(v.chain, v.seq, v.received_at, v.conn, this.#scratch, 0, end, v.hash);
  }

  /**
   * One v3 row whose canonical tail (encodeV3Tail, made elsewhere: a stage worker) is
   * tail[ts, te): the same bytes row() writes.
   */
  linked(chain: string, seq: number, receivedAtUs: number, connId: number, tail: Uint8Array, ts: number, te: number, hash: Buffer): void {
    this.#reserve(HEADER.length + 2 + 4 + chain.length * 3 + 3 * 12 + (te - ts) + GROWTH + 4 + hash.length);
    const b = this.#buf;
    let w = this.#o;
    if (this.#rows++ === 0) w += HEADER.copy(b, w);
    b[w] = 0;
    b[w + 1] = V3_COLUMNS.length;
    const n = putUtf8(b, w + 6, chain);
    w = put32(b, w + 2, n) + n;
    w = put64(b, put32(b, w, 8), seq);
    w = put64(b, put32(b, w, 8), receivedAtUs - PG_EPOCH_US);
    w = put64(b, put32(b, w, 8), connId);
    w = putTail(b, w, tail, ts);
    w = put32(b, w, hash.length);
    this.#o = w + hash.copy(b, w);
  }
}

/** The binary COPY fields of the canonical tail at t[r], written at b[w]; returns the end. */
function putTail(b: Buffer, w: number, t: Uint8Array, r: number): number {
  for (let i = 0; i < KINDS.length; i++) {
    const k = KINDS[i];
    if (k === TEXT) {
      // A run of text, json and bytea fields is the same bytes in both forms: one copy for the run.
      const from = r;
      for (;;) {
        const n = get32(t, r) >>> 0;
        r += n === 0xffffffff ? 4 : 4 + n;
        if (KINDS[i + 1] !== TEXT) break;
        i++;
      }
      w = copy(t, from, r - from, b, w);
      continue;
    }
    if (k === INET) {
      const fam = t[r]!;
      if (fam === 0) {
        w = put32(b, w, -1);
        r += 1;
        continue;
      }
      const nb = fam === 4 ? 4 : 16;
      w = put32(b, w, 4 + nb);
      b[w] = fam === 4 ? 2 : 3; // PGSQL_AF_INET, PGSQL_AF_INET6
      b[w + 1] = t[r + 1]!;
      b[w + 2] = 0; // not cidr
      b[w + 3] = nb;
      w = copy(t, r + 2, nb, b, w + 4);
      r += 2 + nb;
      continue;
    }
    if (NULLABLE[i] && t[r++] === 0) {
      w = put32(b, w, -1);
      continue;
    }
    if (k === TIME) {
      w = put64(b, put32(b, w, 8), get64(t, r) - PG_EPOCH_US);
      r += 8;
      continue;
    }
    const n = k === BOOL ? 1 : k === INT2 ? 2 : k === INT4 ? 4 : 8;
    w = copy(t, r, n, b, put32(b, w, n));
    r += n;
  }
  return w;
}

/** src[s, s + n) to dst[w]; returns w + n (a loop for the short fields, where set() costs more). */
function copy(src: Uint8Array, s: number, n: number, dst: Uint8Array, w: number): number {
  if (n > 64) dst.set(src.subarray(s, s + n), w);
  else for (let i = 0; i < n; i++) dst[w + i] = src[s + i]!;
  return w + n;
}
