/**
 * The ledger's partitions by receive time (migrations/001_ledger.sql): listing them, and creating
 * the next ones ahead of time. `serve` calls startPartitionMaintenance() after migrate: at start and
 * every 6 hours it makes sure the current period and the next `ahead` ones have a partition.
 *
 * Creating a partition locks the parent table briefly. Each one is made in its own transaction with
 * a lock_timeout, so that a long query on the ledger makes maintenance retry later rather than queue
 * the writer's inserts behind it. Rows never wait for a partition: the DEFAULT partition takes them.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Queryable } from '../checkpoints/merkle-store.js';

export const PARTITION_INTERVALS = ['daily', 'monthly'] as const;
export type PartitionInterval = (typeof PARTITION_INTERVALS)[number];

/** Partitions created ahead of the current period, by default. */
export const DEFAULT_AHEAD: Record<PartitionInterval, number> = { daily: 7, monthly: 2 };

const MAINTENANCE_EVERY_MS = 6 * 3600_000;
/** Serializes partition creation between serve processes sharing a ledger (arbitrary, fixed). */
const PARTITION_LOCK = 7_355_608_232;

/** A partition of `ledger`: [from, to) in UTC, or the DEFAULT partition (from = to = null). */
export interface LedgerPartition {
  readonly name: string;
  readonly from: Date | null;
  readonly to: Date | null;
  readonly isDefault: boolean;
  /** pg_class.reltuples: the planner's estimate (-1 when never analyzed). */
  readonly estimatedRows: number;
  readonly bytes: number;
}

/** Every partition of `ledger`, oldest first, the DEFAULT partition last. */
export async function listPartitions(db: Queryable): Promise<LedgerPartition[]> {
  const res = await db.query<{ name: string; bound: string; from_ms: string | null; to_ms: string | null; reltuples: number; bytes: string }>(
    `SELECT c.relname AS name, b.expr AS bound,
            (extract(epoch FROM (regexp_match(b.expr, $$FROM \\('([^']+)'\\)$$))[1]::timestamptz) * 1000)::bigint AS from_ms,
            (extract(epoch FROM (regexp_match(b.expr, $$TO \\('([^']+)'\\)$$))[1]::timestamptz) * 1000)::bigint AS to_ms,
            c.reltuples, pg_total_relation_size(c.oid) AS bytes
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
      WHERE i.inhparent = 'ledger'::regclass`,
  );
  const parts = res.rows.map((r) => ({
    name: r.name,
    from: r.from_ms === null ? null : new Date(Number(r.from_ms)),
    to: r.to_ms === null ? null : new Date(Number(r.to_ms)),
    isDefault: r.bound === 'DEFAULT',
    estimatedRows: Number(r.reltuples),
    bytes: Number(r.bytes),
  }));
  return parts.sort((a, b) => (a.isDefault ? 1 : 0) - (b.isDefault ? 1 : 0) || (a.from?.getTime() ?? 0) - (b.from?.getTime() ?? 0));
}

/** Start of the period (UTC day or month) that contains `t`, moved by `n` periods. */
export function periodStart(t: Date, interval: PartitionInterval, n = 0): Date {
  return interval === 'daily'
    ? new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() + n))
    : new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + n, 1));
}

/** The parts of [lo, hi) that no partition covers. */
export function uncovered(lo: Date, hi: Date, parts: readonly LedgerPartition[]): Array<[Date, Date]> {
  let pieces: Array<[number, number]> = [[lo.getTime(), hi.getTime()]];
  for (const p of parts) {
    if (p.from === null || p.to === null) continue;
    const [a, b] = [p.from.getTime(), p.to.getTime()];
    pieces = pieces.flatMap(([x, y]): Array<[number, number]> => {
      if (b <= x || a >= y) return [[x, y]];
      const out: Array<[number, number]> = [];
      if (x < a) out.push([x, a]);
      if (b < y) out.push([b, y]);
      return out;
    });
  }
  return pieces.map(([x, y]) => [new Date(x), new Date(y)]);
}

export interface EnsureOptions {
  readonly interval: PartitionInterval;
  /** Periods after the current one (default DEFAULT_AHEAD[interval]). */
  readonly ahead?: number;
  readonly now?: Date;
  /** Wait at most this long for the table lock (default 5 s); then try again at the next run. */
  readonly lockTimeoutMs?: number;
  readonly log?: Logger;
}

export interface EnsureResult {
  readonly created: string[];
  /** Ranges left to the DEFAULT partition: it already holds rows there, or the lock was busy. */
  readonly skipped: Array<{ from: Date; to: Date; reason: string }>;
}

/**
 * Creates the partitions of the current period and the next `ahead` ones, where missing. Ranges that
 * are partly covered (the interval was changed) get partitions for the uncovered parts only.
 */
export async function ensurePartitions(client: pg.Client, opts: EnsureOptions): Promise<EnsureResult> {
  const now = opts.now ?? new Date();
  const ahead = opts.ahead ?? DEFAULT_AHEAD[opts.interval];
  const created: string[] = [];
  const skipped: EnsureResult['skipped'] = [];
  for (let i = 0; i <= ahead; i++) {
    const lo = periodStart(now, opts.interval, i);
    const hi = periodStart(now, opts.interval, i + 1);
    for (const [from, to] of uncovered(lo, hi, await listPartitions(client))) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs ?? 5000))}`);
        await client.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
        // Another process may have made it while we waited.
        if (uncovered(from, to, await listPartitions(client)).length === 0) {
          await client.query('COMMIT');
          continue;
        }
        // PostgreSQL refuses a partition whose range the DEFAULT partition already holds rows of
        // (it cannot move them, and the ledger never deletes): those rows and that range stay there.
        const held = await client.query('SELECT 1 FROM ledger_default WHERE received_at >= $1 AND received_at < $2 LIMIT 1', [from, to]);
        if (held.rowCount) {
          await client.query('ROLLBACK');
          skipped.push({ from, to, reason: 'the DEFAULT partition holds rows of this range' });
          continue;
        }
        const made = await client.query<{ name: string | null }>('SELECT ledger_create_partition($1, $2) AS name', [from, to]);
        await client.query('COMMIT');
        if (made.rows[0]?.name) created.push(made.rows[0].name);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        if ((err as { code?: string }).code !== '55P03') throw err;
        skipped.push({ from, to, reason: 'the ledger was locked by another query (lock_timeout); retried at the next run' });
      }
    }
  }
  if (created.length) opts.log?.info({ created }, 'ledger partitions created');
  for (const s of skipped) opts.log?.warn({ from: s.from.toISOString(), to: s.to.toISOString(), reason: s.reason }, 'ledger partition not created');
  return { created, skipped };
}

/** Runs ensurePartitions() now and every 6 hours; failures are logged, never fatal (DEFAULT takes rows). */
export async function startPartitionMaintenance(opts: EnsureOptions & { readonly databaseUrl: string }): Promise<{ close(): void }> {
  const run = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'syslog-ledger partitions' });
    try {
      await client.connect();
      await ensurePartitions(client, { ...opts, now: new Date() });
    } catch (err) {
      opts.log?.error({ err: describeError(err) }, 'ledger partition maintenance failed; rows go to the DEFAULT partition meanwhile');
    } finally {
      await client.end().catch(() => {});
    }
  };
  await run();
  const timer = setInterval(() => void run(), MAINTENANCE_EVERY_MS);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
