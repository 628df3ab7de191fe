/**
 * Reads a range of one chain as PostgreSQL binary COPY (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`,
 * https://www.postgresql.org/docs/current/sql-copy.html "Binary Format"): verify's transport.
 *
 * Why not a cursor with pg's row parser: bytea arrives raw instead of hex, timestamps as integers,
 * json as its text bytes (never decoded to a JS string), and no per-row objects are built. Measured
 * on the 1M-event bench ledger (bench/verify.ts): the text cursor cost ~11 µs of PostgreSQL CPU and
 * ~10 µs of pg parsing per row; binary COPY ~7.4 µs in PostgreSQL (almost all of it jsonb_out, before
 * migration 007 made the columns json: ~2.5 µs since) and
 * ~0.3 µs here. The stream is a Readable with backpressure: memory stays at a few chunks.
 */
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';

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
] as const;
export const F = {
  chain: 0, seq: 1, receivedAt: 2, peerCn: 3, peerSans: 4, peerAddr: 5, format: 6, truncated: 7, parseError: 8, raw: 9,
  syslog: 10, event: 11, eventTime: 12, hostname: 13, appName: 14, classUid: 15, activityId: 16, statusId: 17, severityId: 18,
  userName: 19, actorUser: 20, srcIp: 21, prevHash: 22, hash: 23,
} as const;
const NFIELDS = COLUMNS.length;

/** A part of one chain: seq in [from, to); `from` undefined = from the start, `to` undefined = to the end. */
export interface ChainRange {
  readonly chain: string;
  readonly from?: number;
  readonly to?: number;
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

/** Runs the COPY of a range and calls `onRow` for each row, in order; resolves when the stream ends. */
export async function copyRange(client: pg.Client, range: ChainRange, onRow: (row: CopyRow) => void): Promise<number> {
  const stream = client.query(copyStreams.to(copySql(client, range)));
  const row: CopyRow = { buf: Buffer.alloc(0), start: new Int32Array(NFIELDS), len: new Int32Array(NFIELDS) };
  let headerDone = false;
  let ended = false;
  let rows = 0;

  /** Parses complete units (header, rows, trailer) of `buf` from `p` while they start before `limit`; returns where it stopped. */
  const consume = (buf: Buffer, p: number, limit: number): number => {
    if (!headerDone) {
      if (buf.length < 19) return p;
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('COPY: not PostgreSQL binary COPY data');
      const q = 19 + buf.readUInt32BE(15);
      if (q > buf.length) return p;
      headerDone = true;
      p = q;
    }
    row.buf = buf;
    while (p < limit && !ended) {
      if (p + 2 > buf.length) break;
      const n = buf.readInt16BE(p);
      if (n === -1) {
        ended = true;
        p += 2;
        break;
      }
      if (n !== NFIELDS) throw new Error(`COPY: row with ${n} fields, expected ${NFIELDS}`);
      let q = p + 2;
      let complete = true;
      for (let i = 0; i < NFIELDS; i++) {
        if (q + 4 > buf.length) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(q);
        q += 4;
        row.start[i] = q;
        row.len[i] = len;
        if (len > 0) q += len;
        if (q > buf.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      onRow(row);
      rows++;
      p = q;
    }
    return p;
  };

  // Rows straddle chunks: the tail of a chunk is carried and completed with as little of the next
  // chunk as it needs (a row is ~2 KB, a chunk ~64 KB), instead of concatenating whole chunks.
  let carry: Buffer | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let p = 0;
    if (carry !== undefined) {
      let take = Math.min(chunk.length, 16384);
      for (;;) {
        const joined = Buffer.concat([carry, chunk.subarray(0, take)]);
        const q = consume(joined, 0, carry.length);
        if (q >= carry.length) {
          p = q - carry.length;
          carry = undefined;
          break;
        }
        if (take === chunk.length) {
          carry = joined.subarray(q);
          p = chunk.length;
          break;
        }
        take = chunk.length;
      }
    }
    if (carry === undefined) {
      p = consume(chunk, p, chunk.length);
      if (p < chunk.length) carry = Buffer.from(chunk.subarray(p));
    }
  }
  if (!ended) throw new Error('COPY: the stream ended without its trailer');
  if (carry !== undefined && carry.length > 0) throw new Error('COPY: bytes after the trailer');
  return rows;
}
