/**
 * Every query the console runs, in one place. The console only reads: its pool connects with
 * `default_transaction_read_only`, takes the reader role where one is configured
 * (`syslog_ledger_reader`, migrations/002_roles.sql), and has a statement timeout. Queries are built
 * with Kysely (parameters, never text) and run on pg.
 *
 * Searching uses the lifted columns (hostname, user_name, actor_user, class_uid, status_id,
 * received_at) and `raw`; the full OCSF record of an event is read by `readOcsf` only, so that a
 * change of where the record lives (a view over the stored additions) is one edit here.
 */
import pg from 'pg';
import { sql, type ExpressionBuilder, type SqlBool, type Expression } from 'kysely';
import { predicate, type EvidenceQuery } from '../evidence/query.js';
import { db as qb, run, type Database as ConsoleDatabase } from '../ledger/db.js';
import { makeInclusion, type InclusionProofDoc } from '../cli/prove.js';
import { coverageReport, type CoverageReport } from '../monitoring/coverage.js';

/** The console reads the ledger's Database (src/ledger/db.ts): rows, the views, integrity_status. */

type Db = pg.Pool | pg.PoolClient;

/** The console's connections: read-only, the reader role where configured, each statement time-limited. */
export function openReaderPool(databaseUrl: string, statementTimeoutMs: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 4,
    application_name: 'syslog-ledger console',
    options: `-c default_transaction_read_only=on -c statement_timeout=${Math.floor(statementTimeoutMs)}`,
  });
  // An idle client's error (a restarted database) must not crash serve; the pool replaces it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `fn` on a pooled client that has taken the reader role when this session may. */
export async function withReader<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    const r = await client.query("SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader' AND pg_has_role(session_user, oid, 'MEMBER')");
    if (r.rowCount) await client.query('SET ROLE syslog_ledger_reader');
    return await fn(client);
  } finally {
    await client.query('RESET ROLE').catch(() => undefined);
    client.release();
  }
}

export interface ChainIntegrity {
  readonly chain: string;
  readonly headSeq: number;
  readonly headHash: string;
  readonly checkpointSeq: number | null;
  readonly checkpointSignedAt: Date | null;
  readonly rowsAfterCheckpoint: number;
  readonly verifiedAt: Date | null;
  readonly verifyResult: string | null;
  readonly verifyReason: string | null;
  readonly verifyDetail: string | null;
  readonly verifiedFromSeq: number | null;
  readonly verifiedToSeq: number | null;
  readonly lastSuccessAt: Date | null;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

/** Each chain's head, last signed checkpoint and last verification (the integrity_status view). */
export async function integrity(db: Db): Promise<ChainIntegrity[]> {
  const rows = await run(db, qb.selectFrom('integrity_status').selectAll().orderBy('chain'));
  return rows.map((r) => ({
    chain: r.chain,
    headSeq: Number(r.head_seq),
    headHash: r.head_hash,
    checkpointSeq: num(r.checkpoint_seq),
    checkpointSignedAt: r.checkpoint_signed_at,
    rowsAfterCheckpoint: Number(r.rows_after_checkpoint),
    verifiedAt: r.verified_at,
    verifyResult: r.verify_result,
    verifyReason: r.verify_reason,
    verifyDetail: r.verify_detail,
    verifiedFromSeq: num(r.verified_from_seq),
    verifiedToSeq: num(r.verified_to_seq),
    lastSuccessAt: r.last_success_at,
  }));
}

/** A search: the export's query (by receive time) and, optionally, bytes the raw frame contains. */
export interface SearchQuery {
  readonly query: EvidenceQuery;
  /** Text the raw frame must contain (as UTF-8 bytes, case-sensitive); null: any. */
  readonly text: string | null;
}

export interface SearchRow {
  readonly chain: string;
  readonly seq: number;
  readonly receivedAt: Date;
  readonly hostname: string | null;
  readonly userName: string | null;
  readonly classUid: number;
  readonly statusId: number;
  /** The first bytes of the raw frame. */
  readonly rawHead: Buffer;
}

/** The search's WHERE: the evidence module's predicate, and the raw-frame text. */
function where(eb: ExpressionBuilder<ConsoleDatabase, 'ledger'>, s: SearchQuery): Expression<SqlBool> {
  const base = predicate(eb, s.query);
  if (s.text === null) return base;
  return eb.and([base, sql<SqlBool>`position(convert_to(${s.text}, 'UTF8') in ${eb.ref('raw')}) > 0`]);
}

export const RAW_HEAD_BYTES = 400;

/**
 * One page of a search in ledger order (chain, seq) after the key `after`, and the exact number of
 * matching rows, both in one snapshot.
 */
export async function search(db: pg.PoolClient, s: SearchQuery, after: { chain: string; seq: number } | null, limit: number): Promise<{ total: number; rows: SearchRow[]; more: boolean }> {
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const [count] = await run(db, qb.selectFrom('ledger').select((eb) => eb.fn.countAll<string>().as('n')).where((eb) => where(eb, s)));
    const rows = await run(
      db,
      qb
        .selectFrom('ledger')
        .select(['chain', 'seq', 'received_at', 'hostname', 'user_name', 'class_uid', 'status_id'])
        .select(sql<Buffer>`substring(raw from 1 for ${RAW_HEAD_BYTES})`.as('raw_head'))
        .where((eb) => {
          const w = where(eb, s);
          return after === null ? w : eb.and([w, eb(eb.refTuple('chain', 'seq'), '>', eb.tuple(after.chain, after.seq))]);
        })
        .orderBy('chain')
        .orderBy('seq')
        .limit(limit + 1),
    );
    await db.query('COMMIT');
    return {
      total: Number(count?.n ?? 0),
      more: rows.length > limit,
      rows: rows.slice(0, limit).map((r) => ({
        chain: r.chain,
        seq: Number(r.seq),
        receivedAt: r.received_at,
        hostname: r.hostname,
        userName: r.user_name,
        classUid: r.class_uid,
        statusId: r.status_id,
        rawHead: r.raw_head,
      })),
    };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface LedgerEntry {
  readonly chain: string;
  readonly seq: number;
  readonly receivedAt: Date;
  readonly hash: Buffer;
  /** null: the previous row is not in the database (archived, or seq 1 has none: then 32 zero bytes). */
  readonly prevHash: Buffer | null;
  readonly raw: Buffer;
  readonly peerCn: string | null;
  readonly peerAddr: string | null;
  readonly format: string;
  readonly ocsf: unknown;
}

/** The full OCSF record of one event (the view assembles it from the row and its connection). */
async function readOcsf(db: Db, chain: string, seq: number): Promise<unknown> {
  const [r] = await run(db, qb.selectFrom('ocsf_events').select('event').where('chain', '=', chain).where('seq', '=', seq));
  return r?.event;
}

/** One ledger row and its OCSF record; undefined when there is none. */
export async function readEntry(db: Db, chain: string, seq: number): Promise<LedgerEntry | undefined> {
  const [r] = await run(
    db,
    qb
      .selectFrom('ledger_rows as l')
      .select(['l.chain', 'l.seq', 'l.received_at', 'l.hash', 'l.raw', 'l.peer_cn', 'l.peer_addr', 'l.format'])
      // Format v3 stores no link: the previous hash is the previous row's.
      .select((eb) =>
        eb.fn
          .coalesce('l.prev_hash', eb.selectFrom('ledger as p').select('p.hash').whereRef('p.chain', '=', 'l.chain').where('p.seq', '=', seq - 1).limit(1))
          .as('prev_hash'),
      )
      .where('l.chain', '=', chain)
      .where('l.seq', '=', seq),
  );
  if (r === undefined) return undefined;
  return {
    chain: r.chain,
    seq: Number(r.seq),
    receivedAt: r.received_at,
    hash: r.hash,
    prevHash: r.prev_hash ?? (seq === 1 ? Buffer.alloc(32) : null),
    raw: r.raw,
    peerCn: r.peer_cn,
    peerAddr: r.peer_addr,
    format: r.format,
    ocsf: await readOcsf(db, chain, seq),
  };
}

/** The inclusion proof of one event against its chain's latest signed checkpoint (as `prove --seq`). */
export async function inclusionProof(db: pg.PoolClient, chain: string, seq: number): Promise<{ doc: InclusionProofDoc; ok: boolean }> {
  return makeInclusion(db as unknown as pg.Client, chain, seq, 'latest');
}

/** The coverage report of a period (src/monitoring/coverage.ts). */
export async function coverage(db: Db, fromUs: number, toUs: number, thresholdSec: number, expectSources: readonly string[]): Promise<CoverageReport> {
  return coverageReport(db, { fromUs, toUs, thresholdSec, lookbackSec: 7 * 86_400, expectSources });
}
