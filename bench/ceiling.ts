/**
 * The database ceiling, measured in the same run and on the same database as the end-to-end test:
 * COPY FROM STDIN of rows exactly like the server's (the same frame mix, already parsed, normalized,
 * hashed and binary-COPY-encoded as the writer does before the clock starts) into a scratch table shaped like `ledger`
 * (`LIKE ledger INCLUDING ALL`, range-partitioned on received_at with a default partition as the
 * ledger is: same columns, primary key, indexes and checks; no triggers), one transaction per batch,
 * on one connection, sent in the writer's ~128 KiB chunks.
 * This is what PostgreSQL can take with no pipeline in front of it; our throughput / this = the headline ratio.
 *
 * Variants, to price what PostgreSQL does per row (BENCH_CEILING_VARIANTS):
 *   ledger    the above
 *   slim      same table; the event JSON without raw_data, unmapped.syslog and metadata.peer (bench/experiments.ts)
 *   pk-only   the full rows into a table with the primary key only (no secondary indexes)
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { V3_COPY_COLUMNS as COPY_COLUMNS } from '../src/ledger/row.js';
import { ZERO_HASH } from '../src/ledger/types.js';
import type { LedgerRecord } from '../src/ledger/types.js';
import type { OcsfEvent } from '../src/normalize/types.js';
import { slimEvent } from './experiments.js';
import { chainRecords, mixRecords } from './stages.js';
import { mark, since, type CpuDiff } from './lib/proc.js';

export const CEILING_VARIANTS = ['ledger', 'slim', 'pk-only'] as const;
export type CeilingVariant = (typeof CEILING_VARIANTS)[number];

export interface CeilingResult {
  readonly variant: CeilingVariant;
  readonly indexes: number;
  readonly rows: number;
  readonly batch: number;
  readonly seconds: number;
  readonly rowsPerSec: number;
  readonly avgLineBytes: number;
  /** CPU seconds per 100,000 rows: PostgreSQL backends of this database, PostgreSQL's shared processes, this process. */
  readonly cpuPer100k: { pg_backends: number; pg_shared: number; loadgen: number; foreign: number };
  readonly tableMb: number;
  /** Cores other processes used meanwhile (noise indicator). */
  readonly foreignCores: number;
}

/** Builds the COPY payload: per batch, the writer's binary COPY data in its ~128 KiB chunks. */
export function buildCeilingBatches(rows: number, batch: number, slim = false, chain = 'ceiling'): { batches: Buffer[][]; bytes: number } {
  const batches: Buffer[][] = [];
  let head = { seq: 0, hash: ZERO_HASH };
  let bytes = 0;
  for (let start = 0; start < rows; start += batch) {
    const n = Math.min(batch, rows - start);
    let records: LedgerRecord[] = mixRecords(n, 100 + start, start);
    if (slim) records = records.map((r) => ({ ...r, event: slimEvent(r.event) as OcsfEvent }));
    const { rows: chained, copy: bufs } = chainRecords(chain, records, head);
    const last = chained[chained.length - 1]!;
    head = { seq: last.seq, hash: last.hash };
    for (const b of bufs) bytes += b.length;
    batches.push(bufs);
  }
  return { batches, bytes };
}

export async function copyCeiling(url: string, database: string, rows: number, batch: number, variant: CeilingVariant = 'ledger'): Promise<CeilingResult> {
  const { batches, bytes } = buildCeilingBatches(rows, batch, variant === 'slim');
  const table = `ceil_ledger_${batch}_${variant.replace('-', '_')}`;
  const c = new pg.Client({ connectionString: url, application_name: 'syslog-ledger bench ceiling' });
  await c.connect();
  try {
    await c.query(`SET client_min_messages = warning`);
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    if (variant === 'pk-only') {
      await c.query(`CREATE TABLE ${table} (LIKE ledger INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (chain, seq, received_at)) PARTITION BY RANGE (received_at)`);
    } else {
      await c.query(`CREATE TABLE ${table} (LIKE ledger INCLUDING ALL) PARTITION BY RANGE (received_at)`);
    }
    await c.query(`CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT`);
    const indexes = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_indexes WHERE tablename = $1`, [`${table}_default`])).rows[0]!.n);
    await c.query('CHECKPOINT').catch(() => undefined);
    const sql = `COPY ${table} (${COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`;
    const s0 = mark(undefined, database);
    const t0 = performance.now();
    for (const bufs of batches) {
      await c.query('BEGIN');
      await pipeline(Readable.from(bufs), c.query(copyStreams.from(sql)));
      await c.query('COMMIT');
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu: CpuDiff = since(s0, mark(undefined, database));
    const n = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    if (n !== rows) throw new Error(`ceiling: expected ${rows} rows, table has ${n}`);
    const mb = Number((await c.query<{ s: string }>(`SELECT pg_total_relation_size('${table}_default') AS s`)).rows[0]!.s) / 1e6;
    await c.query(`DROP TABLE ${table}`);
    const per = (x: number): number => (x * 100_000) / rows;
    return {
      variant,
      indexes,
      rows,
      batch,
      seconds,
      rowsPerSec: rows / seconds,
      avgLineBytes: Math.round(bytes / rows),
      cpuPer100k: { pg_backends: per(cpu.pg_backends), pg_shared: per(cpu.pg_shared), loadgen: per(cpu.loadgen), foreign: per(cpu.foreign) },
      tableMb: Math.round(mb),
      foreignCores: Math.round((100 * cpu.foreign) / seconds) / 100,
    };
  } finally {
    await c.end();
  }
}
