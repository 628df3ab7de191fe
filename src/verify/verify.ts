/**
 * Recomputes every chain from the stored rows and reports what does not add up, each finding with
 * its chain and seq. Streams (binary COPY per range of a chain: constant memory, whatever the ledger
 * size) inside one snapshot, so a server appending meanwhile cannot make the chain, its head and the
 * rows disagree.
 *
 * Per row: seq follows the previous one (no gap, no reordering), prev_hash is the previous row's
 * hash (no row removed or inserted), hash = SHA-256(prev_hash || canonical(row)) (no field changed,
 * raw bytes included), and the lifted filter columns agree with the event they were lifted from.
 * Per chain: the head recorded in `chains` is the last row. Signed checkpoints (truncation, re-chaining)
 * are checked by the checkpoint verifier fed through `onRow`, which sees every row in seq order.
 *
 * Parallelism: each chain is cut into ranges of RANGE_SEQS seqs, verified independently (on worker
 * threads, each on its own connection into the exported snapshot; verify-pool.ts); a range trusts
 * nothing but its own rows and hands back its first row's seq and prev_hash, which are checked here
 * against the previous range's last row ("stitching"). Results are consumed in chain and seq order,
 * so `onRow`, the findings and their order are exactly those of a sequential pass. Measured figures:
 * docs/integrity.md, "Measured".
 */
import { availableParallelism } from 'node:os';
import pg from 'pg';
import { retentionBoundaries, type RetentionTrust } from '../retention/boundaries.js';
import { ZERO_HASH } from '../ledger/types.js';
import { canonicalJson } from '../ledger/canonical.js';
import type { Connection, V3Values } from '../ledger/row.js';
import { v3EventOf } from '../ledger/v3.js';
import { READER_OPTIONS, type ChainRange } from './copy.js';
import { InlineExecutor, OrderedRanges, WorkerPool, workersAvailable, type RangeExecutor } from './pool.js';
import { liftedOf, type Finding, type StoredRow } from './reference.js';
import type { DbRow } from './select.js';

export { FINDING_KINDS, liftedMismatches, recomputeHash, rowFindings, type Finding, type FindingKind, type StoredRow } from './reference.js';

/**
 * A ledger row as stored, every column as text or bytes: verify's reference reader, prove, export
 * and the retention archive all read rows with this select list, FROM ledgerRowFrom(...) (the row `l`
 * and its connection `c`). `abbrev(src_ip)` (not host(), not ::text, which always adds /32): the
 * address as inet prints it, so a netmask slipped into the column shows up (verify-copy.ts reads it
 * the same way). A version 3 row stores no prev_hash: `prev_hash` is then the stored hash of the row
 * before it (in the result, else read).
 */
export function ledgerRowSelect(ledgerTable = 'ledger'): string {
  return `SELECT l.chain, l.seq, (extract(epoch FROM l.received_at) * 1000000)::bigint AS us, l.peer_cn, l.peer_sans, l.peer_addr,
  l.format, l.truncated, l.parse_error, l.raw, l.syslog::text AS syslog, l.event::text AS event,
  to_char(l.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS event_time, l.hostname, l.app_name,
  l.class_uid, l.activity_id, l.status_id, l.severity_id, l.user_name, l.actor_user, abbrev(l.src_ip) AS src_ip,
  CASE WHEN l.conn IS NULL THEN l.prev_hash ELSE coalesce(lag(l.hash) OVER (PARTITION BY l.chain ORDER BY l.seq),
    (SELECT p.hash FROM ${ledgerTable} p WHERE p.chain = l.chain AND p.seq < l.seq ORDER BY p.seq DESC LIMIT 1)) END AS prev_hash,
  l.hash, l.conn, l.msg_at, l.facility, l.severity, l.procid, l.msgid, l.sd::text AS sd, l.ocsf::text AS ocsf,
  (extract(epoch FROM l.event_time) * 1000000)::bigint AS event_time_us,
  CASE WHEN c.conn IS NULL THEN NULL ELSE to_json(c) END AS c_json`;
}

/** The FROM clause for ledgerRowSelect(): a ledger table (or partition) `l` and its connections `c`. */
export function ledgerRowFrom(table = 'ledger', connections = 'ledger_connections'): string {
  return `${table} l LEFT JOIN ${connections} c ON c.chain = l.chain AND c.conn = l.conn`;
}

/** The select list of ledgerRowSelect() over the ledger itself. */
export const LEDGER_ROW_SELECT = ledgerRowSelect();

const SELECT = `${LEDGER_ROW_SELECT} FROM ${ledgerRowFrom()} WHERE l.chain = $1 AND l.seq >= $2 ORDER BY l.seq`;

export type { DbRow } from './select.js';

/** The v3 values and connection of a row read with LEDGER_ROW_SELECT (undefined for a version 1/2 row). */
export function v3Of(r: DbRow): StoredRow['v3'] {
  if (r.conn === null || r.conn === undefined) return undefined;
  const values: V3Values = {
    chain: r.chain, seq: Number(r.seq), received_at: Number(r.us), conn: Number(r.conn), format: r.format, truncated: r.truncated,
    parse_error: r.parse_error, raw: r.raw, msg_at: r.msg_at ?? null, facility: r.facility ?? null, severity: r.severity ?? null,
    procid: r.procid ?? null, msgid: r.msgid ?? null, sd: r.sd ?? null,
    event_time: r.event_time_us === null || r.event_time_us === undefined ? null : Number(r.event_time_us),
    hostname: r.hostname, app_name: r.app_name, class_uid: r.class_uid, activity_id: r.activity_id, status_id: r.status_id,
    severity_id: r.severity_id, user_name: r.user_name, actor_user: r.actor_user, src_ip: r.src_ip, ocsf: r.ocsf ?? null, event: r.event,
    hash: r.hash,
  };
  const cj = r.c_json;
  const conn: Connection | null =
    cj === null ? null : { transport: cj.transport, peer_addr: cj.peer_addr, peer_cn: cj.peer_cn, peer_sans: cj.peer_sans, peer_subject: cj.peer_subject, peer_fingerprint: cj.peer_fingerprint };
  return { values, conn };
}

/** A row as verify, prove and export read it (the one mapping from the selected columns). */
export function toStored(r: DbRow): StoredRow {
  const v3 = v3Of(r);
  const seq = Number(r.seq);
  return {
    chain: r.chain,
    seq,
    receivedAtUs: Number(r.us),
    peerCn: v3 ? (v3.conn?.peer_cn ?? null) : r.peer_cn,
    peerSans: v3 ? [...(v3.conn?.peer_sans ?? [])] : (r.peer_sans ?? []),
    peerAddr: v3 ? (v3.conn?.peer_addr ?? '') : (r.peer_addr ?? ''),
    format: r.format,
    truncated: r.truncated,
    parseError: r.parse_error,
    raw: r.raw,
    syslogText: r.syslog ?? 'null',
    eventText: v3 ? (v3.conn ? canonicalJson(v3EventOf(v3.values, v3.conn)) : (r.event ?? 'null')) : (r.event ?? 'null'),
    lifted: liftedOf(r),
    // A v3 row with no row before it: the chain's start (a retention boundary's prev_hash is the caller's).
    prevHash: r.prev_hash ?? (seq === 1 ? ZERO_HASH : Buffer.alloc(0)),
    hash: r.hash,
    v3,
  };
}

/** Streams one chain's rows in seq order, `batch` at a time, through a cursor closed in `finally`. */
export async function* readChain(client: pg.Client, chain: string, fromSeq = 1, batch = 5000): AsyncGenerator<StoredRow[]> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await client.query(`DECLARE ledger_cur NO SCROLL CURSOR FOR ${SELECT}`, [chain, fromSeq]);
    for (;;) {
      const res = await client.query<DbRow>(`FETCH ${batch} FROM ledger_cur`);
      if (res.rows.length === 0) break;
      yield res.rows.map(toStored);
    }
  } finally {
    await client.query('COMMIT').catch(() => {});
  }
}

export interface VerifyOptions {
  readonly chain?: string;
  readonly fromSeq?: number;
  /**
   * Every row, in order, with its stored hash: for checkpoint and Merkle checks. `hash` is valid
   * during the call only (one buffer, refilled per row: no allocation per row); copy it to keep it.
   */
  readonly onRow?: (chain: string, seq: number, hash: Buffer) => void;
  /** Rows checked so far, and how many the chains' seq ranges promise in all (for an ETA). */
  readonly onProgress?: (rows: number, expected: number) => void;
  /** Stop collecting after this many findings (the count goes on). */
  readonly maxFindings?: number;
  /** Which retention records to believe about archived chain prefixes (docs/retention.md); default: the latest. */
  readonly retention?: RetentionTrust;
  /**
   * Worker threads (0: all in this thread). Default: none under AUTO_WORKERS_MIN_ROWS rows, else one
   * per core, at least 2 (each range's hashing and checks, and PostgreSQL's COPY of it, then run on
   * as many threads and backends).
   */
  readonly workers?: number;
  /** Seqs per range (default RANGE_SEQS); smaller ranges only for tests of the stitching. */
  readonly rangeSeqs?: number;
}

export interface VerifyReport {
  chains: number;
  rows: number;
  findings: Finding[];
  findingCount: number;
  heads: Record<string, { seq: number; hash: string }>;
  elapsedMs: number;
  /** Worker threads used (0: this thread). */
  workers: number;
  /** Rows the fast path handed to the reference code (every finding is confirmed there; ~0 when intact). */
  rechecked: number;
}

/** Seqs per range: ~2.6 MB of row hashes buffered per range that runs ahead of the one being consumed. */
export const RANGE_SEQS = 65_536;
/** Below this many rows, worker start-up (~50 ms each) costs more than it saves. */
export const AUTO_WORKERS_MIN_ROWS = 100_000;

interface ChainPlan {
  readonly chain: string;
  readonly headSeq: number;
  readonly headHash: Buffer | null;
  /** The seq and prev_hash the first row must have (a retention boundary, --from, or 1 and zeros). */
  readonly startSeq: number;
  readonly startPrev: Buffer | null;
  readonly ranges: ChainRange[];
  readonly expected: number;
}

export async function verifyLedger(databaseUrl: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger verify', options: READER_OPTIONS });
  // serve runs this too: a backend lost between queries must fail the run (the query rejects), not end the process.
  client.on('error', () => {});
  await client.connect();
  const findings: Finding[] = [];
  let findingCount = 0;
  const max = opts.maxFindings ?? 1000;
  const report = (f: Finding): void => {
    findingCount++;
    if (findings.length < max) findings.push(f);
  };
  let rows = 0;
  let rechecked = 0;
  const heads: VerifyReport['heads'] = {};
  let executor: RangeExecutor | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const plans = await planChains(client, opts);
    const expected = plans.reduce((n, p) => n + p.expected, 0);
    let workers = opts.workers ?? (expected < AUTO_WORKERS_MIN_ROWS ? 0 : Math.max(2, availableParallelism()));
    if (!workersAvailable()) workers = 0;
    if (workers > 0) {
      const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
      executor = new WorkerPool(workers, { url: databaseUrl, snapshot, maxFindings: max });
    } else {
      executor = new InlineExecutor(client, max);
    }

    // Ranges run up to `ahead` at a time and are consumed strictly in order.
    const hash = Buffer.alloc(32);
    const items = plans.flatMap((plan) => plan.ranges.map((range) => ({ chain: plan.chain, range })));
    const ordered = new OrderedRanges(executor, items, (it) => it.range, ({ chain }, seqs, hashes, n) => {
      const onRow = opts.onRow;
      if (onRow) {
        for (let i = 0; i < n; i++) {
          for (let k = 0, o = 32 * i; k < 32; k++) hash[k] = hashes[o + k] as number;
          onRow(chain, seqs[i] as number, hash);
        }
      }
      rows += n;
      opts.onProgress?.(rows, expected);
    }, Math.max(1, workers) + 1);

    let k = 0;
    for (const plan of plans) {
      const { chain } = plan;
      if (plan.headSeq < 0) report({ chain, seq: 0, kind: 'head_mismatch', detail: 'rows exist for a chain with no head record' });
      let expectSeq = plan.startSeq;
      let prevStored = plan.startPrev;
      let lastSeq = plan.startSeq - 1;
      let lastHash: Buffer | null = plan.startPrev;
      for (let r = 0; r < plan.ranges.length; r++, k++) {
        const sum = await ordered.take(k);
        if (sum.first) {
          // Stitching: the range checked its rows against each other; its first row is checked here.
          const f = sum.first;
          if (f.seq !== expectSeq) {
            report({
              chain,
              seq: f.seq,
              kind: f.seq > expectSeq ? 'seq_gap' : 'seq_order',
              detail: f.seq > expectSeq ? `seq ${expectSeq}..${f.seq - 1} missing` : `seq ${f.seq} after ${expectSeq - 1}`,
            });
          }
          if (prevStored && !f.prevHash.equals(prevStored)) report({ chain, seq: f.seq, kind: 'broken_link', detail: "prev_hash is not the previous row's hash" });
        }
        rechecked += sum.slowRows;
        for (const f of sum.findings) report({ chain, ...f });
        findingCount += sum.findingCount - sum.findings.length;
        if (sum.last) {
          expectSeq = sum.last.seq + 1;
          prevStored = sum.last.hash;
          lastSeq = sum.last.seq;
          lastHash = sum.last.hash;
        }
      }
      if (plan.headSeq >= 0 && !opts.fromSeq) {
        if (plan.headSeq !== lastSeq || (lastHash && plan.headHash && !lastHash.equals(plan.headHash))) {
          report({ chain, seq: lastSeq, kind: 'head_mismatch', detail: `chain head says seq ${plan.headSeq}, last row is ${lastSeq}` });
        }
      }
      heads[chain] = { seq: lastSeq, hash: (lastHash ?? ZERO_HASH).toString('hex') };
    }
    await executor.close();
    executor = undefined;
    await client.query('COMMIT');
    return { chains: plans.length, rows, findings, findingCount, heads, elapsedMs: Date.now() - started, workers, rechecked };
  } finally {
    await executor?.close().catch(() => {});
    await client.end();
  }
}

/**
 * The chains to verify (those in `chains`, then any that only the ledger names), where each must
 * start, and its ranges. Runs in the caller's snapshot transaction.
 */
async function planChains(client: pg.Client, opts: VerifyOptions): Promise<ChainPlan[]> {
  const chainRows = await client.query<{ chain: string; head_seq: string; head_hash: Buffer }>(
    opts.chain ? 'SELECT chain, head_seq, head_hash FROM chains WHERE chain = $1' : 'SELECT chain, head_seq, head_hash FROM chains ORDER BY chain',
    opts.chain ? [opts.chain] : [],
  );
  // Rows of chains that have no `chains` entry are suspicious too: verify them as well. Distinct
  // chains by skipping through the primary key index, one probe per chain (not a scan of every row).
  const orphan = await client.query<{ chain: string }>(
    `WITH RECURSIVE c(chain) AS (
       SELECT min(chain) FROM ledger
       UNION ALL SELECT (SELECT min(chain) FROM ledger WHERE chain > c.chain) FROM c WHERE c.chain IS NOT NULL)
     SELECT chain FROM c WHERE chain IS NOT NULL AND chain <> ALL($1::text[])`,
    [chainRows.rows.map((r) => r.chain)],
  );
  const chains = [
    ...chainRows.rows.map((r) => ({ chain: r.chain, headSeq: Number(r.head_seq), headHash: r.head_hash as Buffer | null })),
    ...orphan.rows.filter((r) => !opts.chain || r.chain === opts.chain).map((r) => ({ chain: r.chain, headSeq: -1, headHash: null })),
  ];
  // Chains whose oldest rows were archived start where a retention record vouches (seq and prev_hash).
  const boundaries = opts.fromSeq ? undefined : await retentionBoundaries(client, opts.retention);
  const plans: ChainPlan[] = [];
  for (const c of chains) {
    const from = opts.fromSeq ?? 1;
    const b = boundaries?.get(c.chain);
    const startSeq = b?.firstSeq ?? from;
    const maxSeq = Number((await client.query<{ m: string | null }>('SELECT max(seq) AS m FROM ledger WHERE chain = $1', [c.chain])).rows[0]?.m ?? 0);
    // The first range has no lower bound unless --from asks for one (a row below the start is a
    // finding, not something to skip); the last has no upper bound.
    const ranges: ChainRange[] = [];
    let lo: number | undefined = opts.fromSeq;
    const size = Math.max(1, Math.trunc(opts.rangeSeqs ?? RANGE_SEQS));
    const startPrev = b?.prevHash ?? (from === 1 ? ZERO_HASH : null);
    // The first range's first row, when it is v3 (no stored prev_hash), chains from the chain's start.
    const start = startPrev === null ? {} : { prevHex: startPrev.toString('hex') };
    for (let cut = startSeq + size; cut <= maxSeq; cut += size) {
      ranges.push({ chain: c.chain, ...(lo !== undefined ? { from: lo } : start), to: cut });
      lo = cut;
    }
    ranges.push({ chain: c.chain, ...(lo !== undefined ? { from: lo } : start) });
    plans.push({ ...c, startSeq, startPrev, ranges, expected: Math.max(0, maxSeq - startSeq + 1) });
  }
  return plans;
}
