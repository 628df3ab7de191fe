/**
 * Reads on a streaming replica (hot standby): `--read-database-url` / DATABASE_READ_URL sends
 * verify, prove, export and the detections' rebuild there, so that auditors never slow ingestion.
 * Writes (the access records of prove and export, everything serve writes) stay on the primary.
 *
 * A replica may lag. Signed checkpoints are committed on the primary; a replica that has not yet
 * replayed them would look truncated. So before reading, wait until the replica has replayed the
 * primary's WAL position taken after the checkpoint files were read: what the checkpoints vouch
 * for is then on the replica, and verifying up to them is exact.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError, VerifyError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { OptionSpecs } from '../config.js';

export const READ_DB_OPTIONS = {
  'read-database-url': { type: 'string', arg: 'URL', help: 'a streaming replica (hot standby) to read from; writes stay on --database-url' },
} as const satisfies OptionSpecs;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: 'syslog-ledger replica' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Waits until the replica at `readUrl` has replayed everything the primary had written when this
 * was called. A database that is not in recovery (not a replica) passes at once. Throws VerifyError
 * after `timeoutMs`.
 */
export async function waitForReplay(primaryUrl: string, readUrl: string, timeoutMs = 60_000): Promise<{ replica: boolean; waitedMs: number }> {
  const t0 = Date.now();
  return withClient(readUrl, async (r) => {
    const rec = await r.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
    if (!rec.rows[0]?.standby) return { replica: false, waitedMs: 0 };
    const lsn = await withClient(primaryUrl, async (p) => (await p.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
    for (;;) {
      const done = await r.query<{ ok: boolean | null }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
      if (done.rows[0]?.ok) return { replica: true, waitedMs: Date.now() - t0 };
      if (Date.now() - t0 > timeoutMs) throw new VerifyError(`the replica has not replayed the primary's WAL up to ${lsn} within ${timeoutMs} ms: it lags or does not stream`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });
}

/** Seconds the replica's replay is behind (0 when it has replayed all it received), or null if not a replica. */
export async function replicaLagSeconds(c: pg.Client | pg.Pool): Promise<number | null> {
  const r = await c.query<{ standby: boolean; lag: number | null }>(
    `SELECT pg_is_in_recovery() AS standby,
            CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag`,
  );
  const row = r.rows[0];
  return row?.standby ? Math.max(0, row.lag ?? 0) : null;
}

/** serve: samples the read replica's lag into syslog_ledger_replica_lag_seconds every `intervalMs`. */
export function startReplicaLagMonitor(o: { url: string; metrics: Metrics; log: Logger; intervalMs?: number }): { close: () => Promise<void> } {
  const pool = new pg.Pool({ connectionString: o.url, max: 1, application_name: 'syslog-ledger replica lag', allowExitOnIdle: true });
  pool.on('error', (err) => o.log.warn({ err: describeError(err) }, 'replica lag: connection error'));
  let warned = false;
  const sample = async (): Promise<void> => {
    try {
      const lag = await replicaLagSeconds(pool);
      o.metrics.replicaUp.set(lag === null ? 0 : 1);
      if (lag !== null) o.metrics.replicaLag.set(lag);
      if (lag === null && !warned) {
        warned = true;
        o.log.warn('--read-database-url is not a replica in recovery: reads go to a primary');
      }
    } catch (err) {
      o.metrics.replicaUp.set(0);
      o.log.warn({ err: describeError(err) }, 'replica lag: could not read it');
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), o.intervalMs ?? 5000);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await pool.end();
    },
  };
}
