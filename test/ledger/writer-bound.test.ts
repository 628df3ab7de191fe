/**
 * The writer's byte bound counts the bytes held, not the raw frames alone (LedgerWriter heldBytes,
 * holdUpstream): a record made on the main thread counts its objects too, and the bytes a stage
 * pool holds on their way to the writer count as the queue does, so that `full` comes when the two
 * together reach --queue-max-bytes, and `drain` only once they are under half of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { heldBytes, LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { recordOf, testWriter } from '../helpers/writer.js';
import { waitFor } from '../helpers/tls-client.js';

function record(i: number, pad: number, metrics: Metrics): LedgerRecord {
  return recordOf(`<134>1 2026-12-07T06:00:00Z web-1 app - - - bound ${i} ${'p'.repeat(pad)}`, metrics);
}

describe('writer byte bound (bytes held)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('sl_bound');
    await migrate(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('an inline record counts more than its raw bytes', () => {
    const r = record(0, 4000, new Metrics({ defaultMetrics: false }));
    expect(heldBytes(r)).toBeGreaterThanOrEqual(3 * r.raw.length);
  });

  it('bytes held upstream (a stage pool) fill the bound with the queue; drain waits for commits', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const w = testWriter(db.url, 'bound', metrics, { queueMaxBytes: 100_000 });
    const events: string[] = [];
    w.on('full', () => events.push('full'));
    w.on('drain', () => events.push('drain'));
    // Not started: nothing is committed, so every byte stays held.
    w.holdUpstream(60_000);
    const r = record(1, 4000, metrics);
    w.enqueue(r);
    // 60,000 upstream + the record's ~13 KB: under the bound, though raw bytes alone would be far under too.
    expect(w.full).toBe(false);
    expect(w.pendingBytes).toBe(heldBytes(r));
    w.holdUpstream(30_000);
    expect(w.full).toBe(true);
    expect(events).toEqual(['full']);
    // The pool delivers: its bytes leave the upstream count and arrive as records; still full.
    w.holdUpstream(-90_000);
    for (let i = 2; i < 8; i++) w.enqueue(record(i, 4000, metrics));
    expect(w.full).toBe(true);
    expect(events).toEqual(['full']);
    await w.start();
    await waitFor(async () => events.includes('drain'), 10_000, 50);
    expect(w.full).toBe(false);
    await w.close();
    const rows = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM ledger WHERE chain = 'bound'`);
    expect(Number(rows[0]!.n)).toBe(7);
  });
});
