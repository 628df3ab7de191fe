/**
 * verify's fast path for a format v3 row: prev || canonical_v3(row, its connection)
 * (docs/ledger-format.md, "Version 3") written straight from the binary COPY fields into a reusable
 * buffer, with no per-row object, string or Buffer besides the digest.
 *
 * It follows a plan compiled once from V3_HASHED (src/ledger/row.ts) and verify's COPY column list:
 * - text, bytea and json fields are already their canonical bytes in binary COPY (a 4-byte length,
 *   0xFFFFFFFF for NULL, then the bytes), so consecutive ones that are also consecutive in the COPY
 *   row go over as one run (procid, msgid, sd; hostname, app_name; user_name, actor_user; ...);
 * - integers, timestamps, bool and inet are rewritten field by field (a presence byte when nullable,
 *   timestamps moved from PostgreSQL's 2000 epoch to 1970's);
 * - the connection's canonical bytes follow `conn`. They stay in the buffer from row to row while
 *   the connection and their offset (after the chain name) stay the same: a chain's rows come from
 *   few connections, in long runs.
 * Anything the plan cannot encode (a NULL where the writer never writes one, a field of the wrong
 * size) gives -1, and the caller's reference path decides, as for any hash that does not match.
 *
 * Measured with bench/verify.ts (docs/integrity.md, "verify throughput"): this path against the
 * generic encoder per column it replaced (a switch on the kind's name, one call and one
 * Buffer#copy per field).
 */
import { put64 } from '../ledger/bytes.js';
import { pgInetInto } from '../ledger/inet.js';
import { MAGIC_V3, V3_HASHED, type Kind } from '../ledger/row.js';
import { COLUMNS, type CopyRow } from './copy.js';
import { PG_EPOCH_US } from '../ledger/time.js';
import { InternalError } from '../errors.js';

/** A run of str fields (copied as they are), an integer of `size` bytes, a timestamp, a bool, an inet, the connection. */
const RUN = 0;
const INT = 1;
const TS = 2;
const BOOL = 3;
const INET = 4;
const CONN = 5;

interface Step {
  readonly op: number;
  /** The (first) COPY field. */
  readonly field: number;
  /** RUN: the last COPY field of the run; INT: the integer's size. */
  readonly arg: number;
  readonly nullable: boolean;
}

const STR_KINDS: ReadonlySet<Kind> = new Set(['text', 'bytea', 'json']);
const INT_SIZE: Partial<Record<Kind, number>> = { int2: 2, int4: 4, int8: 8 };

/** Where each hashed v3 column (V3_HASHED, in order) is in verify's binary COPY row. */
export const V3_FIELDS: readonly number[] = V3_HASHED.map((c) => {
  const i = (COLUMNS as readonly string[]).indexOf(c.name);
  if (i < 0) throw new InternalError(`verify reads no column ${c.name}`);
  return i;
});

function compile(): { steps: Step[]; notNull: number[] } {
  const steps: Step[] = [];
  const notNull: number[] = [];
  for (const [i, c] of V3_HASHED.entries()) {
    const field = V3_FIELDS[i]!;
    if (STR_KINDS.has(c.kind)) {
      if (!c.nullable) notNull.push(field);
      const last = steps[steps.length - 1];
      if (last !== undefined && last.op === RUN && last.arg === field - 1) steps[steps.length - 1] = { ...last, arg: field };
      else steps.push({ op: RUN, field, arg: field, nullable: c.nullable });
    } else if (c.kind === 'timestamptz') steps.push({ op: TS, field, arg: 8, nullable: c.nullable });
    else if (c.kind === 'bool') steps.push({ op: BOOL, field, arg: 1, nullable: c.nullable });
    else if (c.kind === 'inet') steps.push({ op: INET, field, arg: 0, nullable: c.nullable });
    else steps.push({ op: INT, field, arg: INT_SIZE[c.kind] ?? 0, nullable: c.nullable });
    if (c.name === 'conn') steps.push({ op: CONN, field, arg: 0, nullable: false });
  }
  return { steps, notNull };
}

const PLAN = compile();
const OPS = Int32Array.from(PLAN.steps, (s) => s.op);
const FIELD = Int32Array.from(PLAN.steps, (s) => s.field);
const ARG = Int32Array.from(PLAN.steps, (s) => s.arg);
const NULLABLE = Uint8Array.from(PLAN.steps, (s) => (s.nullable ? 1 : 0));
const NOT_NULL = Int32Array.from(PLAN.notNull);
/** Below this many bytes a JS loop copies faster than Buffer#copy (a native call, ~50-100 ns whatever the size). */
const SHORT_COPY = 64;
const TWO32 = 2 ** 32;

/** Encodes v3 rows into one growing buffer; one per RangeVerifier. */
export class V3Encoder {
  #o = Buffer.allocUnsafe(64 * 1024);
  /** The connection bytes last written, and where: skipped while both stay the same. */
  #conn: Buffer | undefined;
  #connAt = -1;

  /** The buffer encode() wrote to (valid until the next call). */
  get buffer(): Buffer {
    return this.#o;
  }

  /**
   * prev (32 bytes at pb[po]) || canonical_v3 of the row with `conn` after its `conn` field, into
   * `buffer`; returns its length, or -1 when the fields cannot be a v3 writer's.
   */
  encode(row: CopyRow, pb: Uint8Array, po: number, conn: Buffer): number {
    const w = this.#write(row, pb, po, conn);
    // A row given up on may have written over the connection's bytes.
    if (w < 0) this.#conn = undefined;
    return w;
  }

  #write(row: CopyRow, pb: Uint8Array, po: number, conn: Buffer): number {
    const b = row.buf;
    const st = row.start;
    const ln = row.len;
    for (let i = 0; i < NOT_NULL.length; i++) if ((ln[NOT_NULL[i] as number] as number) < 0) return -1;
    // The row's fields lie in order in b: their span bounds the encoding (plus prev, magic, conn).
    const nf = st.length - 1;
    const need = 64 + conn.length + (st[nf] as number) + Math.max(0, ln[nf] as number) - (st[0] as number);
    if (this.#o.length < need) {
      this.#o = Buffer.allocUnsafe(need * 2);
      this.#conn = undefined;
    }
    const o = this.#o;
    for (let k = 0; k < 32; k++) o[k] = pb[po + k] as number;
    for (let k = 0; k < 4; k++) o[32 + k] = MAGIC_V3[k] as number;
    let w = 36;
    for (let i = 0; i < OPS.length; i++) {
      const f = FIELD[i] as number;
      const len = ln[f] as number;
      const s = st[f] as number;
      switch (OPS[i]) {
        case RUN: {
          const last = ARG[i] as number;
          const from = s - 4;
          const to = (st[last] as number) + Math.max(0, ln[last] as number);
          const n = to - from;
          if (n < SHORT_COPY) for (let k = 0; k < n; k++) o[w + k] = b[from + k] as number;
          else b.copy(o, w, from, to);
          w += n;
          break;
        }
        case CONN:
          if (this.#conn !== conn || this.#connAt !== w) {
            conn.copy(o, w);
            this.#conn = conn;
            this.#connAt = w;
          }
          w += conn.length;
          break;
        case INET:
          if (len < 0) {
            if (NULLABLE[i] === 0) return -1;
            o[w++] = 0;
          } else {
            w = pgInetInto(b, s, len, o, w);
            if (w < 0) return -1;
          }
          break;
        default: {
          // INT, TS, BOOL: a presence byte when nullable, then the value.
          if (len < 0) {
            if (NULLABLE[i] === 0) return -1;
            o[w++] = 0;
            break;
          }
          if (NULLABLE[i] === 1) o[w++] = 1;
          const op = OPS[i];
          if (op === BOOL) {
            if (len !== 1) return -1;
            o[w++] = b[s] ? 1 : 0;
          } else if (op === TS) {
            if (len !== 8) return -1;
            const us = ((b[s] as number) << 24 | (b[s + 1] as number) << 16 | (b[s + 2] as number) << 8 | (b[s + 3] as number)) * TWO32 +
              (((b[s + 4] as number) << 24 | (b[s + 5] as number) << 16 | (b[s + 6] as number) << 8 | (b[s + 7] as number)) >>> 0) + PG_EPOCH_US;
            if (!Number.isSafeInteger(us)) return -1;
            w = put64(o, w, us);
          } else {
            if (len !== ARG[i]) return -1;
            for (let k = 0; k < len; k++) o[w + k] = b[s + k] as number;
            w += len;
          }
        }
      }
    }
    return w;
  }
}
