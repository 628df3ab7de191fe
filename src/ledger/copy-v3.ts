/**
 * A v3 row's COPY text line written straight into byte chunks: no line string per row, no UTF-8
 * pass over joined lines (copyLineV3 + copyChunks, which stay the reference: the bytes are the same,
 * test/ledger/copy-v3.test.ts). Text format, https://www.postgresql.org/docs/current/sql-copy.html
 * (bench/stages.ts "COPY bytes (v3, direct)").
 */
import { copyJson, copyText, isoMicros } from './copy.js';
import { V3_COLUMNS, V3_TAIL, type Kind, type V3Values } from './row.js';

/** Bytes per chunk (what the writer streams to COPY). */
const CHUNK = 128 * 1024;
const NEEDS_ESCAPE = /[\\\n\r\t]/;

/** Hex digits of a byte as two ASCII codes, high << 8 | low. */
const HEX = new Uint16Array(256);
for (let i = 0; i < 256; i++) HEX[i] = ('0123456789abcdef'.charCodeAt(i >> 4) << 8) | '0123456789abcdef'.charCodeAt(i & 15);

/** COPY bytes of a batch, in chunks of ~128 KiB; `take()` hands them over and starts again. */
export class CopyBuffer {
  #chunks: Buffer[] = [];
  #buf: Buffer = Buffer.allocUnsafe(CHUNK);
  #o = 0;

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
  }

  /** The chunks written so far (the buffer starts empty again). */
  take(): Buffer[] {
    if (this.#o > 0) {
      this.#chunks.push(this.#buf.subarray(0, this.#o));
      // The rest of this chunk stays usable for the next batch's bytes.
      this.#buf = this.#buf.subarray(this.#o);
      this.#o = 0;
    }
    const out = this.#chunks;
    this.#chunks = [];
    return out;
  }

  /** One v3 row (V3_COLUMNS order, `hash` included) as one COPY line. */
  row(v: V3Values): void {
    const x = v as unknown as Record<string, unknown>;
    let max = 1;
    for (let i = 0; i < V3_COLUMNS.length; i++) max += 1 + maxCopySize(V3_COLUMNS[i]!.kind, x[V3_COLUMNS[i]!.name]);
    this.#reserve(max);
    const b = this.#buf;
    let w = this.#o;
    for (let i = 0; i < V3_COLUMNS.length; i++) {
      const c = V3_COLUMNS[i]!;
      if (i > 0) b[w++] = 9;
      w = putCopy(b, w, c.kind, x[c.name]);
    }
    b[w++] = 10;
    this.#o = w;
  }
  /**
   * One v3 row whose COPY text from `format` to `event` (each followed by a tab: putCopyV3Tail, made
   * elsewhere: a stage worker) is src[s, e): the same line row() writes.
   */
  linked(chain: string, seq: number, receivedAtUs: number, connId: number, src: Uint8Array, s: number, e: number, hash: Buffer): void {
    this.#reserve(chain.length * 6 + 3 * 32 + (e - s) + 3 + 64 + 1);
    const b = this.#buf;
    let w = putCopy(b, this.#o, 'text', chain);
    b[w++] = 9;
    w = putInt(b, w, seq);
    b[w++] = 9;
    w = putCopy(b, w, 'timestamptz', receivedAtUs);
    b[w++] = 9;
    w = putInt(b, w, connId);
    b[w++] = 9;
    b.set(src.subarray(s, e), w);
    w = putCopy(b, w + (e - s), 'bytea', hash);
    b[w++] = 10;
    this.#o = w;
  }
}

/** Upper bound of putCopyV3Tail's bytes. */
export function copyV3TailMaxSize(v: V3Values): number {
  const x = v as unknown as Record<string, unknown>;
  let max = 0;
  for (const c of V3_TAIL) max += 1 + maxCopySize(c.kind, x[c.name]);
  return max;
}

/** The COPY text of `v`'s columns from `format` to `event`, each followed by a tab, at b[w]; returns the end. */
export function putCopyV3Tail(v: V3Values, b: Buffer, w: number): number {
  const x = v as unknown as Record<string, unknown>;
  for (const c of V3_TAIL) {
    w = putCopy(b, w, c.kind, x[c.name]);
    b[w++] = 9;
  }
  return w;
}

/** Upper bound of a value's COPY text size, bytes. */
function maxCopySize(kind: Kind, x: unknown): number {
  if (x === null || x === undefined) return 2;
  switch (kind) {
    case 'text':
    case 'inet':
    case 'json':
      // UTF-8: at most 3 bytes per UTF-16 unit; escaping at most doubles them.
      return (x as string).length * 6;
    case 'bytea':
      return 4 + (x as Buffer).length * 2;
    default:
      return 32;
  }
}

function putCopy(b: Buffer, w: number, kind: Kind, x: unknown): number {
  if (x === null || x === undefined) {
    b[w] = 92; // \N
    b[w + 1] = 78;
    return w + 2;
  }
  switch (kind) {
    case 'text':
    case 'inet': {
      const s = x as string;
      return w + b.write(NEEDS_ESCAPE.test(s) ? copyText(s) : s, w, 'utf8');
    }
    case 'json':
      return w + b.write(copyJson(x as string), w, 'utf8');
    case 'bytea': {
      const r = x as Buffer;
      b[w] = 92; // \\x: the backslash doubled for COPY
      b[w + 1] = 92;
      b[w + 2] = 120;
      w += 3;
      for (let i = 0; i < r.length; i++) {
        const h = HEX[r[i]!]!;
        b[w] = h >> 8;
        b[w + 1] = h & 0xff;
        w += 2;
      }
      return w;
    }
    case 'bool':
      b[w] = x ? 116 : 102;
      return w + 1;
    case 'timestamptz':
      return w + b.write(isoMicros(x as number), w, 'latin1');
    default:
      return putInt(b, w, x as number);
  }
}

/** A safe integer's decimal digits. */
function putInt(b: Buffer, w: number, n: number): number {
  if (n >= 0 && n < 10) {
    b[w] = 48 + n;
    return w + 1;
  }
  return w + b.write(String(n), w, 'latin1');
}
