/**
 * Reads a range of one chain as PostgreSQL binary COPY (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`,
 * https://www.postgresql.org/docs/current/sql-copy.html "Binary Format"): verify's transport.
 *
 * Why not a cursor with pg's row parser: bytea arrives raw instead of hex, timestamps as integers,
 * json as its text bytes (never decoded to a JS string), and no per-row objects are built, so both
 * PostgreSQL (no text output functions) and this process (no pg row parsing) spend a fraction of a
 * cursor's CPU per row (bench/verify.ts). Rows are handed over as pg reads them, each handled before
 * the next read: memory stays at a socket chunk.
 */
import type pg from 'pg';
import { get32 } from '../ledger/bytes.js';
import { MalformedDataError } from '../errors.js';

/**
 * Connection settings for the sessions that read ranges: no JIT. Each range is one query, and
 * PostgreSQL's JIT compiled every one of them (a simple index scan it cannot speed up): 50-90 ms of
 * backend CPU per 65,536-row range, measured on the 1M-event bench ledger.
 */
export const READER_OPTIONS = '-c jit=off';

/** The columns, in COPY order; F.<name> is a field's index. */
export const COLUMNS = [
  'chain', 'seq', 'received_at', 'peer_cn', 'peer_sans', 'peer_addr', 'format', 'truncated', 'parse_error', 'raw',
  'syslog', 'event', 'event_time', 'hostname', 'app_name', 'class_uid', 'activity_id', 'status_id', 'severity_id',
  'user_name', 'actor_user', 'src_ip', 'prev_hash', 'hash',
  // Version 3 only (NULL in older rows): src/ledger/row.ts V3_COLUMNS.
  'conn', 'msg_at', 'facility', 'severity', 'procid', 'msgid', 'sd', 'ocsf',
] as const;
export const F = {
  chain: 0, seq: 1, receivedAt: 2, peerCn: 3, peerSans: 4, peerAddr: 5, format: 6, truncated: 7, parseError: 8, raw: 9,
  syslog: 10, event: 11, eventTime: 12, hostname: 13, appName: 14, classUid: 15, activityId: 16, statusId: 17, severityId: 18,
  userName: 19, actorUser: 20, srcIp: 21, prevHash: 22, hash: 23, conn: 24,
} as const;
const NFIELDS = COLUMNS.length;

/** A part of one chain: seq in [from, to); `from` undefined = from the start, `to` undefined = to the end. */
export interface ChainRange {
  readonly chain: string;
  readonly from?: number;
  readonly to?: number;
  /**
   * The hash the range's first row chains from when it is a v3 row (which stores no prev_hash) and
   * `from` is undefined: the chain's start (zeros, or a retention boundary's prev_hash), as hex.
   * With `from`, it is read: the stored hash of the row before `from`.
   */
  readonly prevHex?: string;
}

/** The COPY statement for a range (COPY takes no parameters: the chain is quoted as a literal). */
export function copySql(client: pg.Client, r: ChainRange): string {
  const where = [`chain = ${client.escapeLiteral(r.chain)}`];
  if (r.from !== undefined) where.push(`seq >= ${Math.trunc(r.from)}`);
  if (r.to !== undefined) where.push(`seq < ${Math.trunc(r.to)}`);
  return `COPY (SELECT ${COLUMNS.join(', ')} FROM ledger WHERE ${where.join(' AND ')} ORDER BY seq) TO STDOUT (FORMAT binary)`;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * One row of the stream: `buf` holds it, field i is buf[start[i], start[i] + len[i]) or NULL when
 * len[i] is -1. Valid only until the callback returns (the buffer is reused).
 */
export interface CopyRow {
  buf: Buffer;
  readonly start: Int32Array;
  readonly len: Int32Array;
}

/** Runs the COPY of a range and calls `onRow` for each row, in order; resolves with the number of rows when the COPY has ended. */
export function copyRange(client: pg.Client, range: ChainRange, onRow: (row: CopyRow) => void): Promise<number> {
  return copyRows(client, copySql(client, range), onRow);
}

/**
 * Runs a binary `COPY ... TO STDOUT` and calls `onRow` for each row; rejects on any error: the
 * server's, the row handler's, or data that is not complete binary COPY.
 */
export function copyRows(client: pg.Client, sql: string, onRow: (row: CopyRow) => void): Promise<number> {
  const rows = new RowParser(onRow);
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      if (err !== undefined) return reject(err);
      // end() throws when the data stopped short of its trailer: that must reject too (it runs inside
      // pg's message handler, where a throw would be uncaught).
      try {
        resolve(rows.end());
      } catch (e) {
        reject(e);
      }
    };
    client.query(new CopyOut(sql, (chunk) => rows.feed(chunk), done));
  });
}

/**
 * A `COPY ... TO STDOUT` run as a pg "submittable": pg's own protocol parser hands over each CopyData
 * message, in order, as a slice of what it read from the socket; nothing is buffered here, so memory
 * stays at the socket's chunks. (pg-copy-streams' Readable cost ~10 % of verify's CPU on top: it
 * copied every message into a new chunk and went through a stream and a promise per chunk.)
 * PostgreSQL sends one CopyData message per row; RowParser does not rely on it.
 */
class CopyOut {
  readonly text: string;
  readonly #onData: (chunk: Buffer) => void;
  readonly #done: (err?: Error) => void;
  /** The first error onData threw: the rest of the data is skipped and the COPY fails with it once the server is done. */
  #failed: Error | undefined;
  #settled = false;

  constructor(text: string, onData: (chunk: Buffer) => void, done: (err?: Error) => void) {
    this.text = text;
    this.#onData = onData;
    this.#done = done;
  }

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.#failed !== undefined) return;
    try {
      this.#onData(msg.chunk);
    } catch (err) {
      this.#failed = err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handleReadyForQuery(): void {
    this.#settle(this.#failed);
  }

  handleError(err: Error): void {
    this.#settle(err);
  }

  #settle(err: Error | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#done(err);
  }
}

/** Binary COPY data -> rows: header, rows, trailer, from chunks cut anywhere. */
export class RowParser {
  readonly #onRow: (row: CopyRow) => void;
  readonly #row: CopyRow = { buf: Buffer.alloc(0), start: new Int32Array(NFIELDS), len: new Int32Array(NFIELDS) };
  #headerDone = false;
  #ended = false;
  #rows = 0;
  /** The bytes of an incomplete unit (header or row) at the end of the last chunk, copied. */
  #carry: Buffer | undefined;

  constructor(onRow: (row: CopyRow) => void) {
    this.#onRow = onRow;
  }

  feed(chunk: Buffer): void {
    if (this.#ended) throw new MalformedDataError('COPY: bytes after the trailer');
    let buf = chunk;
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    const p = this.#consume(buf);
    if (p < buf.length) {
      if (this.#ended) throw new MalformedDataError('COPY: bytes after the trailer');
      // A copy: pg reuses the buffer it hands out when a message spans socket reads.
      this.#carry = Buffer.from(buf.subarray(p));
    }
  }

  /** The number of rows, once the data is complete. */
  end(): number {
    if (!this.#ended) throw new MalformedDataError('COPY: the stream ended without its trailer');
    return this.#rows;
  }

  /** Parses the complete units of `buf`; returns where the first incomplete one starts. */
  #consume(buf: Buffer): number {
    let p = 0;
    if (!this.#headerDone) {
      if (buf.length < 19) return p;
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new MalformedDataError('COPY: not PostgreSQL binary COPY data');
      const q = 19 + buf.readUInt32BE(15);
      if (q > buf.length) return p;
      this.#headerDone = true;
      p = q;
    }
    const row = this.#row;
    row.buf = buf;
    while (p + 2 <= buf.length) {
      const n = buf.readInt16BE(p);
      if (n === -1) {
        this.#ended = true;
        return p + 2;
      }
      if (n !== NFIELDS) throw new MalformedDataError(`COPY: row with ${n} fields, expected ${NFIELDS}`);
      let q = p + 2;
      for (let i = 0; i < NFIELDS; i++) {
        if (q + 4 > buf.length) return p;
        const len = get32(buf, q);
        q += 4;
        row.start[i] = q;
        row.len[i] = len;
        if (len > 0) q += len;
      }
      if (q > buf.length) return p;
      this.#onRow(row);
      this.#rows++;
      p = q;
    }
    return p;
  }
}
