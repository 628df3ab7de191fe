/**
 * Capacity metrics (src/monitoring/capacity.ts): database size, ledger bytes and bytes per day,
 * partition count, archive overdue; sampled from a real database with dated partitions.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { capacityOf, startCapacityMonitor } from '../../src/monitoring/capacity.js';
import { Metrics } from '../../src/metrics/registry.js';
import type { LedgerPartition } from '../../src/retention/partitions.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { metricValue } from '../helpers/tls-client.js';

const DAY = 86_400_000;
const part = (name: string, fromMs: number | null, days: number, bytes: number): LedgerPartition => ({
  name, from: fromMs === null ? null : new Date(fromMs), to: fromMs === null ? null : new Date(fromMs + days * DAY), isDefault: fromMs === null, estimatedRows: 0, bytes,
});

describe('capacity metrics', () => {
  it('bytes per day from the newest complete partition; overdue from the oldest one past the hot window', () => {
    const now = Date.UTC(2026, 0, 10, 12);
    const parts = [part('p1', Date.UTC(2026, 0, 1), 1, 100), part('p2', Date.UTC(2026, 0, 9), 1, 800), part('p3', Date.UTC(2026, 0, 10), 1, 50), part('d', null, 0, 8)];
    expect(capacityOf(parts, 5000, 0, now)).toEqual({ databaseBytes: 5000, ledgerBytes: 958, bytesPerDay: 800, partitions: 4, archiveOverdueSec: 0 });
    // p1 ended Jan 2; with a 7-day hot window it was due Jan 9 00:00: 1.5 days ago.
    expect(capacityOf(parts, 5000, 7 * DAY, now).archiveOverdueSec).toBe(1.5 * 86_400);
    expect(capacityOf(parts, 5000, 30 * DAY, now).archiveOverdueSec).toBe(0);
    // A monthly partition: its bytes over its days.
    expect(capacityOf([part('m', Date.UTC(2025, 11, 1), 31, 3100)], 0, 0, now).bytesPerDay).toBe(100);
  });

  describe('sampled from the database', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase('sl_capacity');
      await migrate(db.url);
      await query(db.url, "SELECT ledger_create_partition('2026-01-01', '2026-01-02'), ledger_create_partition('2026-01-02', '2026-01-03')");
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('exports the five gauges', async () => {
      const metrics = new Metrics({ defaultMetrics: false });
      const mon = startCapacityMonitor({ url: db.url, metrics, log: pino({ level: 'silent' }), hotWindowMs: 90 * DAY, intervalMs: 60_000 });
      try {
        const s = await mon.sample();
        expect(s).toBeDefined();
        const text = await metrics.registry.metrics();
        expect(metricValue(text, 'syslog_ledger_database_size_bytes')).toBeGreaterThan(1_000_000);
        expect(metricValue(text, 'syslog_ledger_partitions')).toBe(3);
        expect(metricValue(text, 'syslog_ledger_ledger_bytes')).toBeGreaterThan(0);
        expect(metricValue(text, 'syslog_ledger_ledger_bytes_per_day')).toBeGreaterThan(0);
        // 2026-01-01 ended Jan 2; +90 days: due 2026-04-02, long before now (the machine's clock is later).
        const overdue = metricValue(text, 'syslog_ledger_archive_overdue_seconds')!;
        expect(Math.abs(overdue - (Date.now() - Date.UTC(2026, 3, 2)) / 1000)).toBeLessThan(5);
      } finally {
        await mon.close();
      }
    });
  });
});
