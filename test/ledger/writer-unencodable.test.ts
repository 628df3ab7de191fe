/**
 * A record the row encoding refuses (a stage bug: here a class_uid outside int4) does not stop
 * the writer: it is stored in its place as received, with the error as its parse error, and the
 * records around it are stored as usual; the chain verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { Metrics } from '../../src/metrics/registry.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { recordOf, testWriter } from '../helpers/writer.js';


describe('writer: a record its row encoding refuses', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('sl_unencodable');
    await migrate(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('is stored as received with the error, in its place; the writer goes on and the chain verifies', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const w = testWriter(db.url, 'enc', metrics);
    await w.start();
    const bad = recordOf('<38>Nov 28 12:00:02 bastion sshd[1235]: Failed password for bob from 10.9.8.6 port 51001 ssh2', metrics);
    (bad.columns as { class_uid: number }).class_uid = 2 ** 40;
    w.enqueue(recordOf('<134>1 2026-12-07T06:00:00Z web-1 app - - - before', metrics));
    w.enqueue(bad);
    w.enqueue(recordOf('<134>1 2026-12-07T06:00:01Z web-1 app - - - after', metrics));
    await w.close();
    expect(w.fatalError).toBeUndefined();
    const rows = await query<{ seq: string; format: string; parse_error: string | null; raw: Buffer }>(db.url, `SELECT seq, format, parse_error, raw FROM ledger WHERE chain = 'enc' ORDER BY seq`);
    expect(rows.map((r) => r.format)).toEqual(['rfc5424', 'unparsed', 'rfc5424']);
    expect(rows[1]!.parse_error).toMatch(/^the ledger row could not be encoded: .*out of range/);
    expect(rows[1]!.raw.equals(bad.raw)).toBe(true);
    const internal = (await metrics.parseFailures.get()).values.find((v) => v.labels.reason === 'internal');
    expect(internal?.value).toBe(1);
    const report = await verifyLedger(db.url, { workers: 0 });
    expect(report.findings).toEqual([]);
    expect(report.rows).toBe(3);
  });
});
