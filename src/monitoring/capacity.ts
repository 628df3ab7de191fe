/**
 * Capacity metrics, sampled by serve every minute (docs/operations.md, "Sizing"): the database's
 * size, the ledger's bytes (all partitions) and bytes per day (the newest complete partition), the
 * partition count, and how long the oldest partition has been due for `archive` ("archive
 * overdue": its end plus --hot-window is past and it is still in the database).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { listPartitions, type LedgerPartition } from '../retention/partitions.js';
import type { Metrics } from '../metrics/registry.js';

export interface CapacitySample {
  readonly databaseBytes: number;
  readonly ledgerBytes: number;
  readonly bytesPerDay: number;
  readonly partitions: number;
  readonly archiveOverdueSec: number;
}

const DAY_MS = 86_400_000;

/** The figures from a partition list; `hotWindowMs` 0: archive overdue is not tracked (0). */
export function capacityOf(parts: readonly LedgerPartition[], databaseBytes: number, hotWindowMs: number, now = Date.now()): CapacitySample {
  const dated = parts.filter((p) => !p.isDefault && p.from !== null && p.to !== null);
  const complete = dated.filter((p) => p.to!.getTime() <= now);
  const newest = complete[complete.length - 1];
  const bytesPerDay = newest ? newest.bytes / Math.max(1, (newest.to!.getTime() - newest.from!.getTime()) / DAY_MS) : 0;
  const oldest = dated[0];
  const overdueMs = hotWindowMs > 0 && oldest ? now - (oldest.to!.getTime() + hotWindowMs) : 0;
  return {
    databaseBytes,
    ledgerBytes: parts.reduce((a, p) => a + p.bytes, 0),
    bytesPerDay: Math.round(bytesPerDay),
    partitions: parts.length,
    archiveOverdueSec: Math.max(0, Math.round(overdueMs / 1000)),
  };
}

export function startCapacityMonitor(o: { url: string; metrics: Metrics; log: Logger; hotWindowMs: number; intervalMs?: number }): { close: () => Promise<void>; sample: () => Promise<CapacitySample | undefined> } {
  const pool = new pg.Pool({ connectionString: o.url, max: 1, application_name: 'syslog-ledger capacity', allowExitOnIdle: true });
  pool.on('error', (err) => o.log.warn({ err: describeError(err) }, 'capacity metrics: connection error'));
  const sample = async (): Promise<CapacitySample | undefined> => {
    try {
      const size = await pool.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes');
      const s = capacityOf(await listPartitions(pool), Number(size.rows[0]!.bytes), o.hotWindowMs);
      o.metrics.databaseBytes.set(s.databaseBytes);
      o.metrics.ledgerBytes.set(s.ledgerBytes);
      o.metrics.ledgerBytesPerDay.set(s.bytesPerDay);
      o.metrics.partitions.set(s.partitions);
      o.metrics.archiveOverdue.set(s.archiveOverdueSec);
      return s;
    } catch (err) {
      o.log.warn({ err: describeError(err) }, 'capacity metrics: could not sample');
      return undefined;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), o.intervalMs ?? 60_000);
  timer.unref();
  return {
    sample,
    close: async () => {
      clearInterval(timer);
      await pool.end();
    },
  };
}
