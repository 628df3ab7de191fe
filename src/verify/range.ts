/**
 * Verifies one range of one chain (rows seq in [from, to), read by binary COPY): every row's seq and
 * prev_hash against the row before it in the range, its hash recomputed from the stored fields, and
 * its lifted columns against its event. The first row's seq and prev_hash are handed back for the
 * caller to check against the previous range ("stitching"), so ranges of one chain can run in
 * parallel, each trusting nothing but its own rows.
 *
 * Fast path per row (verify's hot path; bench/verify.ts): the canonical bytes are written straight
 * from the COPY buffer (text, bytea and json fields are already their canonical bytes: the json
 * columns hold the canonical JSON the writer hashed, migration 007) and hashed once; when the hash
 * matches, the lifted columns are compared with liftColumns() of the few event members it reads
 * (verify-capture.ts). Whenever the fast path disagrees with the stored row, or cannot handle it, the
 * row is decoded and checked again by the reference code (verify-reference.ts), which decides: the
 * fast path can only save time.
 */
import type pg from 'pg';
import { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { ParsedMessage } from '../parsing/types.js';
import { pgInetInto } from '../ledger/inet.js';
import { sha256Equals } from '../ledger/sha256.js';
import { copyRange, F, type ChainRange, type CopyRow } from './copy.js';
import { get64, put64 } from '../ledger/bytes.js';
import { copySans, copyStr, eventOf, liftedEqual, same32, storedRow } from './fields.js';
import { PG_EPOCH_US } from '../ledger/time.js';
import { captureMembers, LEAF, type Want } from './capture.js';
import { rowFindings, type FindingKind, type StoredRow } from './reference.js';
import { COLUMNS } from './copy.js';
import { CONNECTION_COLUMNS, connectionBytes, decodeBinary, encodeV3, V3_HASHED, type Connection, type V3Values } from '../ledger/row.js';
import { v3ColumnMismatches } from './reference.js';
import { db, run } from '../ledger/db.js';
import { sha256 } from '../ledger/sha256.js';
import { InternalError, NotCanonicalizable } from '../errors.js';
import { V3Encoder, V3_FIELDS } from './v3-fast.js';

/** A finding inside a range (the chain is the range's). */
export interface RangeFinding {
  readonly seq: number;
  readonly kind: FindingKind;
  readonly detail: string;
}

/** What a range gives back besides its row hashes. */
export interface RangeSummary {
  rows: number;
  /** The first row's seq and prev_hash, for the caller to stitch to the previous range. */
  first: { seq: number; prevHash: Buffer } | null;
  /** The last row's seq and stored hash. */
  last: { seq: number; hash: Buffer } | null;
  findings: RangeFinding[];
  findingCount: number;
  /** Rows the fast path handed to the reference code (diagnostics: ~0 on an intact ledger). */
  slowRows: number;
}

/** Row hashes in order, in batches: seqs[i] and hashes[32 i, 32 i + 32) for i < n. */
export type HashSink = (seqs: Float64Array, hashes: Uint8Array, n: number) => void;

const BATCH = 4096;
const ZEROS = Buffer.alloc(32);
const ZEROS_AT = 0;

/** The event members liftColumns() reads (checked at load by liftReadsOnly; see below). */
const LIFT_WANT: Want = new Map<string, Want | typeof LEAF>([
  ['time_dt', LEAF],
  ['device', new Map([['hostname', LEAF]])],
  ['metadata', new Map([['log_provider', LEAF]])],
  ['class_uid', LEAF],
  ['activity_id', LEAF],
  ['status_id', LEAF],
  ['severity_id', LEAF],
  ['user', new Map([['name', LEAF]])],
  ['actor', new Map([['user', new Map([['name', LEAF]])]])],
  ['src_endpoint', new Map([['ip', LEAF]])],
]);

/**
 * Whether liftColumns() reads nothing but LIFT_WANT: run on proxies of sample events (several
 * classes, so that class-dependent reads show up) that record every property access. When it reads
 * more (the normalizer grew), verify parses each event in full instead: slower, still exact.
 */
function liftReadsOnly(want: Want): boolean {
  let ok = true;
  const refuse = (): never => {
    ok = false;
    throw new NotCanonicalizable('unexpected access');
  };
  const wrap = (obj: object, sel: Want | undefined): object =>
    new Proxy(obj, {
      get(t, k) {
        const inner = typeof k === 'string' ? sel?.get(k) : undefined;
        if (inner === undefined) refuse();
        const v = (t as Record<string | symbol, unknown>)[k];
        return v !== null && typeof v === 'object' && inner !== LEAF ? wrap(v, inner as Want) : v;
      },
      has: refuse,
      ownKeys: refuse,
      getOwnPropertyDescriptor: refuse,
    });
  for (const cls of [0, 1001, 3002, 6003]) {
    const sample = {
      time_dt: '2024-01-02T03:04:05.000006Z', class_uid: cls, activity_id: 1, status_id: 2, severity_id: 3,
      device: { hostname: 'h' }, metadata: { log_provider: 'p' }, user: { name: 'u' }, actor: { user: { name: 'a' } }, src_endpoint: { ip: '192.0.2.1' },
    };
    try {
      liftColumns(wrap(sample, want) as OcsfEvent, wrap({}, new Map()) as ParsedMessage);
    } catch {
      ok = false;
    }
  }
  return ok;
}
const FAST_LIFT = liftReadsOnly(LIFT_WANT);

/** One per thread: verifies ranges one after another, reusing its scratch buffers. */
export class RangeVerifier {
  readonly #maxFindings: number;
  #scratch = Buffer.allocUnsafe(256 * 1024);
  readonly #v3 = new V3Encoder();
  /** The last row that matched was version 1: try that version first. */
  #v1First = false;

  constructor(opts: { maxFindings: number }) {
    this.#maxFindings = opts.maxFindings;
  }

  /** Runs one range on `client` (inside the caller's snapshot transaction). */
  async run(client: pg.Client, range: ChainRange, onHashes: HashSink): Promise<RangeSummary> {
    const sum: RangeSummary = { rows: 0, first: null, last: null, findings: [], findingCount: 0, slowRows: 0 };
    const lastHash = Buffer.alloc(32);
    let lastSeq = 0;
    let seqs = new Float64Array(BATCH);
    let hashes = new Uint8Array(32 * BATCH);
    let n = 0;
    const report = (seq: number, kind: FindingKind, detail: string): void => {
      sum.findingCount++;
      if (sum.findings.length < this.#maxFindings) sum.findings.push({ seq, kind, detail });
    };
    // The previous row's hash: in the batch (at 32 (n - 1)), or in lastHash right after a batch went out.
    const flush = (): void => {
      for (let k = 0, o = 32 * (n - 1); k < 32; k++) lastHash[k] = hashes[o + k] as number;
      onHashes(seqs, hashes, n); // the consumer may keep them (batches of a later range wait): new arrays from here on
      seqs = new Float64Array(BATCH);
      hashes = new Uint8Array(32 * BATCH);
      n = 0;
    };
    const conns = await loadConnections(client, range.chain);
    // v3 rows store no prev_hash: the range's first one chains from the row before the range.
    const firstPrev = range.from !== undefined ? await hashBefore(client, range.chain, range.from) : Buffer.from(range.prevHex ?? '', 'hex');
    await copyRange(client, range, (row) => {
      const b = row.buf;
      const seq = get64(b, row.start[F.seq] as number);
      if ((row.len[F.conn] as number) >= 0) {
        // Version 3: the previous row's hash, as stored (a removed or inserted row breaks this row's hash).
        let pb: Uint8Array = firstPrev;
        let po = 0;
        if (n > 0) {
          pb = hashes;
          po = 32 * (n - 1);
        } else if (sum.rows > 0) pb = lastHash;
        if (sum.rows === 0) {
          sum.first = { seq, prevHash: Buffer.from(firstPrev) };
        } else if (seq !== lastSeq + 1) {
          report(seq, seq > lastSeq + 1 ? 'seq_gap' : 'seq_order', seq > lastSeq + 1 ? `seq ${lastSeq + 1}..${seq - 1} missing` : `seq ${seq} after ${lastSeq}`);
        }
        const hs = row.start[F.hash] as number;
        const whole = row.len[F.hash] === 32 && (sum.rows > 0 || firstPrev.length === 32);
        if (!whole) report(seq, 'hash_mismatch', sum.rows > 0 || firstPrev.length === 32 ? 'hash is not 32 bytes' : 'no previous hash to chain from');
        else this.#checkV3(row, seq, pb, po, conns, report, sum);
        sum.rows++;
        lastSeq = seq;
        seqs[n] = seq;
        const hb = whole ? b : ZEROS;
        const ho = whole ? hs : ZEROS_AT;
        for (let k = 0, o = 32 * n; k < 32; k++) hashes[o + k] = hb[ho + k] as number;
        if (++n === BATCH) flush();
        return;
      }
      let ps = row.start[F.prevHash] as number;
      let hs = row.start[F.hash] as number;
      const whole = row.len[F.prevHash] === 32 && row.len[F.hash] === 32;
      if (!whole) {
        // Only with the length checks dropped: a finding, and zeros stand in for the hashes.
        report(seq, 'hash_mismatch', 'hash or prev_hash is not 32 bytes');
        ps = hs = ZEROS_AT;
      }
      const hb = whole ? b : ZEROS;
      if (sum.rows === 0) {
        sum.first = { seq, prevHash: Buffer.from(hb.subarray(ps, ps + 32)) };
      } else {
        if (seq !== lastSeq + 1) {
          report(seq, seq > lastSeq + 1 ? 'seq_gap' : 'seq_order', seq > lastSeq + 1 ? `seq ${lastSeq + 1}..${seq - 1} missing` : `seq ${seq} after ${lastSeq}`);
        }
        const linked = n > 0 ? same32(hb, ps, hashes, 32 * (n - 1)) : same32(hb, ps, lastHash, 0);
        if (!linked) report(seq, 'broken_link', "prev_hash is not the previous row's hash");
      }
      if (whole) this.#check(row, seq, report, sum);
      sum.rows++;
      lastSeq = seq;
      seqs[n] = seq;
      for (let k = 0, o = 32 * n; k < 32; k++) hashes[o + k] = hb[hs + k] as number;
      if (++n === BATCH) flush();
    });
    if (n > 0) flush();
    if (sum.rows > 0) sum.last = { seq: lastSeq, hash: lastHash };
    return sum;
  }

  /**
   * Hash (and, for a version 1 row, lifted columns) of one row: fast path, confirmed by the reference
   * code on any doubt. A row costs one SHA-256 over its fields as stored (in the version the row
   * before had), a version 1 row also the lifted-column check.
   */
  #check(row: CopyRow, seq: number, report: (seq: number, kind: FindingKind, detail: string) => void, sum: RangeSummary): void {
    let fastHash = false;
    let fastLift = false;
    try {
      const n = this.#encode(row);
      // The version the previous row had first: a chain changes version once, at most.
      if (this.#v1First) {
        fastHash = this.#matches(row, n, 0x31);
        if (!fastHash && this.#matches(row, this.#encodeLifted(row, n), 0x32)) {
          this.#v1First = false;
          return;
        }
      } else {
        if (this.#matches(row, this.#encodeLifted(row, n), 0x32)) return;
        fastHash = this.#matches(row, n, 0x31);
        if (fastHash) this.#v1First = true;
      }
      if (fastHash) fastLift = liftedEqual(row, liftColumns(FAST_LIFT ? capturedEvent(row) : eventOf(row)));
    } catch {
      // Anything the fast path cannot do (NotCanonicalizable, an event liftColumns chokes on, ...) the
      // reference code below does, and reports.
    }
    if (fastHash && fastLift) return;
    sum.slowRows++;
    let stored: StoredRow;
    try {
      stored = storedRow(row);
      const { hashOk, badColumns: bad } = rowFindings(stored.prevHash, stored);
      if (!hashOk) report(seq, 'hash_mismatch', 'row content does not match its hash');
      if (bad.length) report(seq, 'column_mismatch', `columns disagree with event: ${bad.join(', ')}`);
    } catch (err) {
      report(seq, 'unreadable_row', (err as Error).message);
    }
  }

  /**
   * A v3 row's hash: SHA-256(previous hash || canonical_v3), written straight from the binary COPY
   * fields (v3-fast.ts) with the connection's bytes after `conn`; on a mismatch the reference
   * (the row decoded, encoded by the writer's own encodeV3) decides and names the connection.
   */
  #checkV3(row: CopyRow, seq: number, pb: Uint8Array, po: number, conns: Map<number, Buffer>, report: (seq: number, kind: FindingKind, detail: string) => void, sum: RangeSummary): void {
    const b = row.buf;
    const st = row.start;
    const ln = row.len;
    const connId = (ln[F.conn] as number) === 8 ? get64(b, st[F.conn] as number) : -1;
    const conn = conns.get(connId);
    if (conn !== undefined) {
      const n = this.#v3.encode(row, pb, po, conn);
      if (n >= 0 && sha256Equals(this.#v3.buffer.subarray(0, n), b, st[F.hash] as number)) return;
    }
    sum.slowRows++;
    try {
      if (conn === undefined) {
        report(seq, 'hash_mismatch', `connection ${connId} of the row is missing from ledger_connections`);
        return;
      }
      const values = v3ValuesOf(row);
      const prev = Buffer.from(pb.subarray(po, po + 32));
      const stored = b.subarray(st[F.hash] as number, (st[F.hash] as number) + 32);
      if (!sha256(encodeV3(prev, values, conn)).equals(stored)) {
        report(seq, 'hash_mismatch', `row content does not match its hash (the row, its connection ${connId}, or the row before it changed)`);
        const bad = v3ColumnMismatches(values, connectionOf(conn));
        if (bad.length) report(seq, 'column_mismatch', `columns disagree with event: ${bad.join(', ')}`);
      }
    } catch (err) {
      report(seq, 'unreadable_row', (err as Error).message);
    }
  }

  /** Whether the scratch's first `n` bytes (n < 0: none), with the magic's version digit set, hash to the row's hash. */
  #matches(row: CopyRow, n: number, version: number): boolean {
    if (n < 0) return false;
    this.#scratch[MAGIC_VERSION_AT] = version;
    return sha256Equals(this.#scratch.subarray(0, n), row.buf, row.start[F.hash] as number);
  }

  /**
   * Appends the lifted columns as version 2 encodes them (docs/ledger-format.md) after the version 1
   * bytes ending at `w`; returns the new end, or -1 when the stored values cannot be version 2's.
   */
  #encodeLifted(row: CopyRow, w: number): number {
    const b = row.buf;
    const st = row.start;
    const ln = row.len;
    const o = this.#scratch;
    const te = ln[F.eventTime] as number;
    if (te < 0) o[w++] = 0;
    else {
      if (te !== 8) return -1;
      const us = get64(b, st[F.eventTime] as number) + PG_EPOCH_US;
      if (!Number.isSafeInteger(us)) return -1;
      o[w++] = 1;
      w = put64(o, w, us);
    }
    w = copyStr(b, st[F.hostname] as number, ln[F.hostname] as number, o, w, true);
    w = copyStr(b, st[F.appName] as number, ln[F.appName] as number, o, w, true);
    for (const f of INT_COLUMNS) {
      if (ln[f] !== 4) return -1;
      const s = st[f] as number;
      for (let k = 0; k < 4; k++) o[w + k] = b[s + k] as number;
      w += 4;
    }
    w = copyStr(b, st[F.userName] as number, ln[F.userName] as number, o, w, true);
    w = copyStr(b, st[F.actorUser] as number, ln[F.actorUser] as number, o, w, true);
    const li = ln[F.srcIp] as number;
    if (li < 0) {
      o[w++] = 0;
      return w;
    }
    return pgInetInto(b, st[F.srcIp] as number, li, o, w);
  }

  /** prev_hash || canonical(row) (docs/ledger-format.md) into the scratch buffer; returns its length. */
  #encode(row: CopyRow): number {
    const b = row.buf;
    const st = row.start;
    const ln = row.len;
    let need = 512;
    for (let i = 0; i < ln.length; i++) need += ln[i] as number;
    if (this.#scratch.length < need) this.#scratch = Buffer.allocUnsafe(need * 2);
    const o = this.#scratch;
    // Small copies in JS: a native Buffer#copy costs ~50 ns whatever the size.
    const ps = st[F.prevHash] as number;
    for (let k = 0; k < 32; k++) o[k] = b[ps + k] as number;
    o[32] = 0x53; // S L R 1
    o[33] = 0x4c;
    o[34] = 0x52;
    o[35] = 0x31;
    let w = copyStr(b, st[F.chain] as number, ln[F.chain] as number, o, 36, false);
    // seq: int8 -> uint64, the same bytes when not negative (a negative seq is the reference code's to report).
    const ss = st[F.seq] as number;
    if ((b[ss] as number) & 0x80) throw new NotCanonicalizable('negative seq');
    for (let k = 0; k < 8; k++) o[w + k] = b[ss + k] as number;
    w += 8;
    // received_at: microseconds since 2000-01-01 -> since 1970-01-01.
    const us = get64(b, st[F.receivedAt] as number) + PG_EPOCH_US;
    if (!Number.isSafeInteger(us)) throw new NotCanonicalizable('received_at out of range');
    w = put64(o, w, us);
    w = copyStr(b, st[F.peerCn] as number, ln[F.peerCn] as number, o, w, true);
    w = copySans(b, st[F.peerSans] as number, ln[F.peerSans] as number, o, w);
    w = copyStr(b, st[F.peerAddr] as number, ln[F.peerAddr] as number, o, w, false);
    w = copyStr(b, st[F.format] as number, ln[F.format] as number, o, w, false);
    if (ln[F.truncated] !== 1) throw new NotCanonicalizable('truncated is NULL');
    o[w++] = b[st[F.truncated] as number] ? 1 : 0;
    w = copyStr(b, st[F.parseError] as number, ln[F.parseError] as number, o, w, true);
    // raw, syslog and event, adjacent in the COPY row, each a 4-byte length and its bytes: exactly their
    // canonical encoding (uint32 length, then the bytes), so the three go over in one copy. syslog and
    // event: the stored text is taken as the canonical JSON; if it is not (a row from before migration
    // 007, or a changed one), the hash says so and the reference code decides.
    if ((ln[F.raw] as number) < 0 || (ln[F.syslog] as number) < 0 || (ln[F.event] as number) < 0) throw new NotCanonicalizable('unexpected NULL');
    const from = (st[F.raw] as number) - 4;
    const to = (st[F.event] as number) + (ln[F.event] as number);
    return w + b.copy(o, w, from, to);
  }
}

/** Offset of the version digit of the magic (SLR1 / SLR2) in prev_hash || canonical(row). */
const MAGIC_VERSION_AT = 35;
const INT_COLUMNS = [F.classUid, F.activityId, F.statusId, F.severityId] as const;

/** A v3 row's values decoded from its binary COPY fields (the reference path). */
function v3ValuesOf(row: CopyRow): V3Values {
  const v: Record<string, unknown> = {};
  V3_HASHED.forEach((c, i) => {
    const f = V3_FIELDS[i]!;
    v[c.name] = decodeBinary(c.kind, row.buf, row.start[f] as number, row.len[f] as number);
  });
  return v as unknown as V3Values;
}

/** The canonical bytes of every connection of a chain, by id (a few per sender and restart: small). */
const connectionRecords = new WeakMap<Buffer, Connection>();
function connectionOf(bytes: Buffer): Connection {
  return connectionRecords.get(bytes)!;
}

export async function loadConnections(client: pg.Client, chain: string): Promise<Map<number, Buffer>> {
  const rows = await run(client, db.selectFrom('ledger_connections').select(['conn', ...CONNECTION_COLUMNS.map((c) => c.name)]).where('chain', '=', chain));
  return new Map(
    rows.map((r) => {
      const bytes = connectionBytes(r);
      connectionRecords.set(bytes, r);
      return [Number(r.conn), bytes];
    }),
  );
}

/** The stored hash of the last row before `seq` in `chain` (empty when there is none). */
async function hashBefore(client: pg.Client, chain: string, seq: number): Promise<Buffer> {
  const [row] = await run(client, db.selectFrom('ledger').select('hash').where('chain', '=', chain).where('seq', '<', seq).orderBy('seq', 'desc').limit(1));
  return row?.hash ?? (seq <= 1 ? Buffer.alloc(32) : Buffer.alloc(0));
}

/** The members of the stored event that liftColumns() reads (LIFT_WANT). */
function capturedEvent(row: CopyRow): OcsfEvent {
  const s = row.start[F.event] as number;
  return captureMembers(row.buf, s, s + (row.len[F.event] as number), LIFT_WANT) as OcsfEvent;
}
