/**
 * The ledger row of canonical form version 3, defined once (docs/ledger-format.md, "Version 3").
 *
 * V3_COLUMNS is the one table of the row's columns: name, SQL type, how the writer encodes a value
 * for COPY, how verify reads it from binary COPY, and how the canonical form encodes it. Everything
 * else is derived from it: the writer's COPY column list (its binary rows: copy-binary.ts), the canonical bytes
 * (encodeV3 from values, encodeV3Binary from verify's binary COPY fields), the select list verify
 * reads, the row's TypeScript type (V3Values) and the Kysely table type (V3Table).
 *
 * A v3 row is hashed as
 *   hash = SHA-256(previous row's hash || canonical_v3(row, its connection))
 * where the connection (ledger_connections: who sent the row, stored once per connection) is
 * encoded in place right after the `conn` column. Nothing verify can recompute is stored: no
 * prev_hash (the previous row's hash is read, not copied), no text cut from `raw` (message offset).
 */
import type { ColumnType } from 'kysely';
import { get32, get64, put32, put64, putUtf8 } from './bytes.js';
import { copyBytea, copyJson, copyText, isoMicros } from './copy.js';
import { inetBytes, inetText, pgInetInto } from './inet.js';
import { PG_EPOCH_US } from './time.js';

/** How a column's value is represented: SQL type, COPY text, binary COPY, canonical bytes. */
export type Kind = 'text' | 'int2' | 'int4' | 'int8' | 'timestamptz' | 'bytea' | 'json' | 'bool' | 'inet';

export interface ColumnSpec {
  readonly name: string;
  readonly kind: Kind;
  readonly nullable: boolean;
}

const col = <N extends string, K extends Kind, Nl extends boolean>(name: N, kind: K, nullable: Nl) => ({ name, kind, nullable }) as const;

/**
 * The v3 row, in canonical order. `conn` is followed in the canonical form by the connection's fields
 * (CONNECTION_COLUMNS). Every column the writer stores is here, and every one is hashed.
 */
export const V3_COLUMNS = [
  col('chain', 'text', false),
  col('seq', 'int8', false),
  col('received_at', 'timestamptz', false),
  col('conn', 'int8', false),
  col('format', 'text', false),
  col('truncated', 'bool', false),
  col('parse_error', 'text', true),
  col('raw', 'bytea', false),
  col('msg_at', 'int4', true),
  col('facility', 'int2', true),
  col('severity', 'int2', true),
  col('procid', 'text', true),
  col('msgid', 'text', true),
  col('sd', 'json', true),
  col('event_time', 'timestamptz', true),
  col('hostname', 'text', true),
  col('app_name', 'text', true),
  col('class_uid', 'int4', false),
  col('activity_id', 'int4', false),
  col('status_id', 'int4', false),
  col('severity_id', 'int4', false),
  col('user_name', 'text', true),
  col('actor_user', 'text', true),
  col('src_ip', 'inet', true),
  col('ocsf', 'json', true),
  col('event', 'json', true),
  col('hash', 'bytea', false),
] as const;

/** The columns hashed (all but `hash`). */
export const V3_HASHED = V3_COLUMNS.slice(0, -1);

/** ledger_connections: one row per connection, referenced by (chain, conn) from its rows. */
export const CONNECTION_COLUMNS = [
  col('transport', 'text', false),
  col('peer_addr', 'text', false),
  col('peer_cn', 'text', true),
  col('peer_sans', 'text', false), // text[]: canonical u32 count, then each element as str
  col('peer_subject', 'text', false),
  col('peer_fingerprint', 'text', false),
] as const;

export const SQL_TYPE: Readonly<Record<Kind, string>> = {
  text: 'text', int2: 'smallint', int4: 'integer', int8: 'bigint', timestamptz: 'timestamptz', bytea: 'bytea', json: 'json', bool: 'boolean', inet: 'inet',
};

/**
 * The columns only rows written before format v3 have (versions 1 and 2; NULL in v3 rows). With
 * V3_COLUMNS they are every column of `ledger` (the restore of an archive builds its table from both).
 */
export const LEGACY_COLUMNS = [
  col('peer_cn', 'text', true),
  col('peer_sans', 'text', true), // text[]
  col('peer_addr', 'text', true),
  col('syslog', 'json', true),
  col('prev_hash', 'bytea', true),
] as const;

/** A column's SQL type (peer_sans, of the legacy columns and the connections, is text[]). */
export const sqlTypeOf = (c: ColumnSpec): string => (c.name === 'peer_sans' ? 'text[]' : SQL_TYPE[c.kind]);

/** ledger_connections' column definitions, as migration 009 creates them (restore builds the table from these). */
export const CONNECTION_DDL: readonly string[] = CONNECTION_COLUMNS.map((c) => `${c.name} ${sqlTypeOf(c)}${c.nullable ? '' : ' NOT NULL'}`);


type V3Col = (typeof V3_COLUMNS)[number];
type JsOf<K extends Kind> = K extends 'text' | 'json' | 'inet' ? string : K extends 'bytea' ? Buffer : K extends 'bool' ? boolean : number;
/**
 * A v3 row's values as the writer holds them: text as strings, json as its canonical text, inet as
 * text, timestamptz as microseconds since 1970, integers as numbers.
 */
export type V3Values = { -readonly [C in V3Col as C['name']]: C['nullable'] extends true ? JsOf<C['kind']> | null : JsOf<C['kind']> };

type DbOf<K extends Kind> = K extends 'int8' ? ColumnType<string, number | bigint | string, never> : K extends 'timestamptz' ? ColumnType<Date, string | Date, never> : K extends 'json' ? ColumnType<unknown, string, never> : JsOf<K>;
/** The Kysely table type of the v3 columns of `ledger` (as pg returns them). */
export type V3Table = { [C in V3Col as C['name']]: C['nullable'] extends true ? DbOf<C['kind']> | null : DbOf<C['kind']> };

type ConnCol = (typeof CONNECTION_COLUMNS)[number];
/** A connection column's value: peer_sans is text[] (CONNECTION_DDL), the rest as their kind. */
type ConnValue<C extends ConnCol, Arr> = C['name'] extends 'peer_sans' ? Arr : C['nullable'] extends true ? JsOf<C['kind']> | null : JsOf<C['kind']>;

/** The connection a v3 row references (CONNECTION_COLUMNS' values). */
export type Connection = { readonly [C in ConnCol as C['name']]: ConnValue<C, readonly string[]> };

/** The Kysely table type of ledger_connections: (chain, conn) and CONNECTION_COLUMNS. */
export type ConnectionsTable = { chain: string; conn: ColumnType<string, number | string, never> } & { [C in ConnCol as C['name']]: ConnValue<C, string[]> };

/** A v3 row's values as JSON (v3ToJson: proofs, evidence, archives): bytea as base64, the rest as V3Values. */
export type V3Json = { [K in keyof V3Values]: V3Values[K] extends Buffer ? string : V3Values[K] };

/** A v3 row as the read side's documents carry it (archive line, proof): its stored columns and its connection, which the hash covers. */
export interface V3Document {
  row: V3Json;
  connection: Connection | null;
}

export const V3_COPY_COLUMNS: readonly string[] = V3_COLUMNS.map((c) => c.name);
/** The writer's COPY: binary format (src/ledger/copy-binary.ts). */
export const V3_COPY_SQL = `COPY ledger (${V3_COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`;
export const CONNECTION_INSERT_SQL = `INSERT INTO ledger_connections (chain, conn, ${CONNECTION_COLUMNS.map((c) => c.name).join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`;

/** One value in COPY text form (the restore of an archive, src/retention/restore.ts). */
export function copyValue(kind: Kind, x: unknown): string {
  if (x === null || x === undefined) return '\\N';
  switch (kind) {
    case 'text':
    case 'inet':
      return copyText(x as string);
    case 'json':
      return copyJson(x as string);
    case 'bytea':
      return copyBytea(x as Buffer);
    case 'bool':
      return x ? 't' : 'f';
    case 'timestamptz':
      return isoMicros(x as number);
    default:
      return String(x);
  }
}

/** The kind of a v3 column, by name. */
export const V3_KIND: ReadonlyMap<string, Kind> = new Map(V3_COLUMNS.map((c) => [c.name, c.kind]));

const NULL_LEN = 0xffffffff;
export const MAGIC_V3 = Buffer.from('SLR3', 'latin1');

/** Upper bound of a value's canonical size. */
function maxSize(kind: Kind, x: unknown): number {
  if (x === null) return 4;
  switch (kind) {
    case 'text':
    case 'json':
      return 4 + (x as string).length * 3;
    case 'bytea':
      return 4 + (x as Buffer).length;
    default:
      return 19;
  }
}

/** Writes one value's canonical encoding at o[w]; returns the new end. */
function putValue(o: Buffer, w: number, kind: Kind, nullable: boolean, x: unknown): number {
  switch (kind) {
    case 'text':
    case 'json':
      if (x === null) return put32(o, w, NULL_LEN);
      {
        const n = putUtf8(o, w + 4, x as string);
        put32(o, w, n);
        return w + 4 + n;
      }
    case 'bytea':
      if (x === null) return put32(o, w, NULL_LEN);
      put32(o, w, (x as Buffer).length);
      return w + 4 + (x as Buffer).copy(o, w + 4);
    case 'inet': {
      if (x === null) {
        o[w] = 0;
        return w + 1;
      }
      const b = inetBytes(x as string);
      if (b === null) throw new RangeError(`not an inet value: ${String(x)}`);
      o.set(b, w);
      return w + b.length;
    }
    default:
      break;
  }
  if (nullable) {
    if (x === null) {
      o[w] = 0;
      return w + 1;
    }
    o[w++] = 1;
  }
  switch (kind) {
    case 'bool':
      o[w] = x ? 1 : 0;
      return w + 1;
    case 'int2':
      o.writeInt16BE(x as number, w);
      return w + 2;
    case 'int4':
      o.writeInt32BE(x as number, w);
      return w + 4;
    default: // int8, timestamptz (µs since 1970)
      return put64(o, w, x as number);
  }
}

/** The canonical bytes of a connection (the part spliced after `conn`). */
export function connectionBytes(c: Connection): Buffer {
  let size = 0;
  const strs = [c.transport, c.peer_addr, c.peer_cn, c.peer_subject, c.peer_fingerprint, ...c.peer_sans];
  for (const s of strs) size += 4 + (s === null ? 0 : s.length * 3);
  const o = Buffer.allocUnsafe(size + 4);
  let w = putValue(o, 0, 'text', false, c.transport);
  w = putValue(o, w, 'text', false, c.peer_addr);
  w = putValue(o, w, 'text', true, c.peer_cn);
  w = put32(o, w, c.peer_sans.length);
  for (const s of c.peer_sans) w = putValue(o, w, 'text', false, s);
  w = putValue(o, w, 'text', false, c.peer_subject);
  w = putValue(o, w, 'text', false, c.peer_fingerprint);
  return Buffer.from(o.subarray(0, w));
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * prev || canonical_v3(v, connection) in a scratch buffer (valid until the next call); the
 * canonical part starts at byte 32.
 */
export function encodeV3(prev: Buffer, v: V3Values, conn: Buffer): Buffer {
  let size = 36 + conn.length;
  for (const c of V3_HASHED) size += maxSize(c.kind, (v as Record<string, unknown>)[c.name]);
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size * 2);
  const o = scratch;
  prev.copy(o, 0, 0, 32);
  let w = 32 + MAGIC_V3.copy(o, 32);
  for (const c of V3_HASHED) {
    w = putValue(o, w, c.kind, c.nullable, (v as Record<string, unknown>)[c.name]);
    if (c.name === 'conn') w += conn.copy(o, w);
  }
  return o.subarray(0, w);
}

/** The canonical v3 bytes of a row (a copy; for tests, vectors and other tools). */
export function canonicalV3(v: V3Values, conn: Connection): Buffer {
  return Buffer.from(encodeV3(Buffer.alloc(32), v, connectionBytes(conn)).subarray(32));
}


/** A binary COPY field decoded to the writer's value (the reference path, prove, export). */
export function decodeBinary(kind: Kind, b: Buffer, s: number, len: number): unknown {
  if (len < 0) return null;
  switch (kind) {
    case 'text':
    case 'json':
      return b.toString('utf8', s, s + len);
    case 'bytea':
      return Buffer.from(b.subarray(s, s + len));
    case 'bool':
      return b[s] === 1;
    case 'int2':
      return b.readInt16BE(s);
    case 'int4':
      return b.readInt32BE(s);
    case 'int8':
      return get64(b, s);
    case 'timestamptz':
      return get64(b, s) + PG_EPOCH_US;
    case 'inet': {
      const o = Buffer.alloc(18);
      const n = pgInetInto(b, s, len, o, 0);
      return n < 0 ? null : inetText(o.subarray(0, n));
    }
  }
}

/** get32 re-exported for the range verifier's connection table. */
export { get32 };

/** Where the columns after `conn` (and its connection bytes) start in V3_HASHED. */
const TAIL_FROM = V3_HASHED.findIndex((c) => c.name === 'conn') + 1;
/** The columns of a row's canonical tail: everything hashed after the connection. */
export const V3_TAIL = V3_HASHED.slice(TAIL_FROM);

/** Upper bound of canonical_v3's tail (the columns after the connection) of `v`. */
export function v3TailMaxSize(v: V3Values): number {
  let size = 0;
  for (const c of V3_TAIL) size += maxSize(c.kind, (v as Record<string, unknown>)[c.name]);
  return size;
}

/** The canonical tail of `v` (the columns after the connection) at o[w]; returns the end. */
export function encodeV3Tail(v: V3Values, o: Buffer, w: number): number {
  for (const c of V3_TAIL) w = putValue(o, w, c.kind, c.nullable, (v as Record<string, unknown>)[c.name]);
  return w;
}

/**
 * prev || canonical_v3 of a row whose tail (encodeV3Tail, made elsewhere: a stage worker) is
 * tail[ts, te), in a scratch buffer (valid until the next call): the same bytes encodeV3 gives.
 */
export function encodeV3Linked(prev: Buffer, chain: string, seq: number, receivedAtUs: number, connId: number, conn: Buffer, tail: Uint8Array, ts: number, te: number): Buffer {
  const size = 32 + 4 + 4 + chain.length * 3 + 24 + conn.length + (te - ts);
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size * 2);
  const o = scratch;
  prev.copy(o, 0, 0, 32);
  let w = 32 + MAGIC_V3.copy(o, 32);
  w = putValue(o, w, 'text', false, chain);
  w = put64(o, w, seq);
  w = put64(o, w, receivedAtUs);
  w = put64(o, w, connId);
  w += conn.copy(o, w);
  o.set(tail.subarray(ts, te), w);
  return o.subarray(0, w + (te - ts));
}

/** The values of a canonical tail b[s, e) (the inverse of encodeV3Tail; `inet` as text). */
export function decodeV3Tail(b: Buffer, s: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let r = s;
  for (const c of V3_TAIL) {
    switch (c.kind) {
      case 'text':
      case 'json':
      case 'bytea': {
        const n = get32(b, r) >>> 0;
        r += 4;
        if (n === NULL_LEN) out[c.name] = null;
        else {
          out[c.name] = c.kind === 'bytea' ? b.subarray(r, r + n) : b.toString('utf8', r, r + n);
          r += n;
        }
        break;
      }
      case 'inet': {
        const fam = b[r]!;
        if (fam === 0) {
          out[c.name] = null;
          r += 1;
        } else {
          const n = 2 + (fam === 4 ? 4 : 16);
          out[c.name] = inetText(b.subarray(r, r + n));
          r += n;
        }
        break;
      }
      default: {
        if (c.nullable && b[r++] === 0) {
          out[c.name] = null;
          break;
        }
        if (c.kind === 'bool') out[c.name] = b[r++] === 1;
        else if (c.kind === 'int2') (out[c.name] = b.readInt16BE(r)), (r += 2);
        else if (c.kind === 'int4') (out[c.name] = b.readInt32BE(r)), (r += 4);
        else (out[c.name] = get64(b, r)), (r += 8);
      }
    }
  }
  return out;
}

/** Where column `name`'s encoding starts in a canonical tail at b[s] (the fields before it skipped, none decoded). */
export function v3TailOffset(b: Buffer, s: number, name: string): number {
  let r = s;
  for (const c of V3_TAIL) {
    if (c.name === name) return r;
    switch (c.kind) {
      case 'text':
      case 'json':
      case 'bytea': {
        const n = get32(b, r) >>> 0;
        r += 4 + (n === NULL_LEN ? 0 : n);
        break;
      }
      case 'inet':
        r += b[r] === 0 ? 1 : 2 + (b[r] === 4 ? 4 : 16);
        break;
      default:
        if (c.nullable && b[r++] === 0) break;
        r += c.kind === 'bool' ? 1 : c.kind === 'int2' ? 2 : c.kind === 'int4' ? 4 : 8;
    }
  }
  throw new RangeError(`no column ${name} in the v3 tail`);
}

/** A text column of a canonical tail, read in place. */
export function v3TailText(b: Buffer, s: number, name: string): string | null {
  const r = v3TailOffset(b, s, name);
  const n = get32(b, r) >>> 0;
  return n === NULL_LEN ? null : b.toString('utf8', r + 4, r + 4 + n);
}
