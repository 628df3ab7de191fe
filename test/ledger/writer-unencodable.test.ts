/**
 * A record the row encoding refuses (a stage bug: here a class_uid outside int4) does not stop
 * the writer: it is stored in its place as received, with the error as its parse error, and the
 * records around it are stored as usual; the chain verifies.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { Framer } from '../../src/framing/framer.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { Metrics } from '../../src/metrics/registry.js';
import { toRecord } from '../../src/stages.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { createTestDatabase, query } from '../helpers/db.js';

const PEER: PeerIdentity = { cn: 'client1.example.com', sans: [], subject: 'CN=client1.example.com', fingerprint: '00', address: '192.0.2.7:40000' };

function record(text: string, metrics: Metrics): LedgerRecord {
  const [frame] = new Framer({ maxFrameBytes: 65536 }).push(Buffer.from(`${text}\n`));
  return toRecord(frame!, PEER, Date.now() * 1000, { format: 'auto', timeZone: 'UTC' }, metrics);
}

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
    const w = new LedgerWriter({ databaseUrl: db.url, chain: 'enc', metrics, log: pino({ level: 'silent' }), batchMaxEvents: 100, queueMaxEvents: 1000, queueMaxBytes: 1 << 20 });
    await w.start();
    const bad = record('<38>Nov 28 12:00:02 bastion sshd[1235]: Failed password for bob from 10.9.8.6 port 51001 ssh2', metrics);
    (bad.columns as { class_uid: number }).class_uid = 2 ** 40;
    w.enqueue(record('<134>1 2026-12-07T06:00:00Z web-1 app - - - before', metrics));
    w.enqueue(bad);
    w.enqueue(record('<134>1 2026-12-07T06:00:01Z web-1 app - - - after', metrics));
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
