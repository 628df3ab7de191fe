/**
 * The detector as serve wires it: on the real writer's committed rows, findings enqueued back into
 * the same writer and chained after the rows they name; state bounded; state rebuilt from the ledger
 * at start without writing findings again.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { parseDetectionConfig } from '../../src/detect/config.js';
import { Detector } from '../../src/detect/detector.js';
import type { Frame } from '../../src/framing/framer.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { toRecord } from '../../src/stages.js';
import { Metrics } from '../../src/metrics/registry.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { Feed, PEER, stamp } from './helpers.js';

const CONFIG = parseDetectionConfig({ warmup: 0, brute_force: { per_user: 1000, spraying_users: 1000 } });
const CFG = { format: 'auto', timeZone: 'UTC' } as const;

function frame(text: string): Frame {
  const raw = Buffer.from(text);
  return { raw, body: raw, truncated: false, framing: 'lf' } as Frame;
}

describe('detector', () => {
  it('state: every rule keeps at most max_keys keys per map (LRU), whatever the traffic', () => {
    const feed = new Feed({ max_keys: 100, service_accounts: { patterns: ['svc-*'] } });
    const t0 = Date.UTC(2024, 11, 10, 10);
    for (let i = 0; i < 5000; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      feed.line(`${stamp(t0 + i * 10)} h sshd[${i}]: Failed password for user${i} from ${ip} port 1 ssh2`);
      feed.line(`${stamp(t0 + i * 10)} h sshd[${i}]: Accepted publickey for svc-${i} from ${ip} port 1 ssh2`);
      feed.line(`${stamp(t0 + i * 10)} h sudo: u${i} : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true`);
    }
    // 3 brute-force maps, 1 success-after-failures, 1 privilege, 1 service-account, 1 new-network, cool-downs.
    expect(feed.detector.stats.keys).toBeLessThanOrEqual(100 * 8);
  });

  it('internal rows (its own findings, the monitor\'s) are not observed', () => {
    const feed = new Feed();
    const detector = feed.detector;
    const line = `${stamp(Date.UTC(2024, 11, 10))} h sudo: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/true`;
    const rec = toRecord(frame(`<85>${line}`), PEER, Date.UTC(2024, 11, 10) * 1000, CFG, new Metrics({ defaultMetrics: false }));
    detector.onCommitted([{ ...rec, format: 'internal', chain: 'c', seq: 1, prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) }]);
    expect(feed.findings).toEqual([]);
    detector.onCommitted([{ ...rec, chain: 'c', seq: 2, prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) }]);
    expect(feed.rules()).toEqual(['new_root_user']);
  });
});

describe('detector on the real writer, and rebuilt from the ledger', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('sl_detect');
    await migrate(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => {}); // the drop below terminates its idle connections
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  function start(detector: Detector, metrics: Metrics): LedgerWriter {
    const writer = new LedgerWriter({
      databaseUrl: db.url, chain: 'det', metrics, log: pino({ level: 'silent' }), batchMaxEvents: 7, queueMaxEvents: 10_000, queueMaxBytes: 1 << 24,
      onCommitted: (rows) => detector.onCommitted(rows),
    });
    detector.attach((r) => writer.enqueue(r));
    return writer;
  }

  const line = (ms: number, text: string) => `<38>${stamp(ms)} bastion ${text}`;

  it('findings are chained after the rows they name, survive verify, and a restart neither repeats nor forgets', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const detector = new Detector({ config: CONFIG, metrics });
    const writer = start(detector, metrics);
    await writer.start();
    const now = Date.now() - 60_000;
    const ingest = (ms: number, text: string) => writer.enqueue(toRecord(frame(line(ms, text)), PEER, ms * 1000, CFG, metrics));
    ingest(now, 'sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id');
    for (let i = 0; i < 12; i++) ingest(now + i * 1000, `sshd[${600 + i}]: Failed password for root from 203.0.113.5 port ${40000 + i} ssh2`);
    await writer.close();

    const rows = await query<{ seq: string; format: string; class_uid: number; msgid: string | null; refs: Array<{ chain: string; seq: number }> | null }>(
      db.url,
      `SELECT seq::text, format, class_uid, msgid, event->'unmapped'->'syslog_ledger_detection'->'refs' AS refs FROM ledger WHERE chain = 'det' ORDER BY seq`,
    );
    const findings = rows.filter((r) => r.format === 'internal');
    expect(findings.map((f) => f.msgid)).toEqual(['detection.new_root_user', 'detection.brute_force_source']);
    for (const f of findings) {
      expect(f.class_uid).toBe(2004);
      for (const ref of f.refs!) {
        expect(ref.chain).toBe('det');
        expect(ref.seq).toBeLessThan(Number(f.seq));
        const named = rows.find((r) => Number(r.seq) === ref.seq)!;
        expect(named.format).not.toBe('internal');
      }
    }
    // The brute-force finding names the ten failures up to the tenth (seq 2..11).
    expect(findings[1]!.refs!.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const report = await verifyLedger(db.url);
    expect(report.findings).toEqual([]);

    // Restart: a new detector replays the ledger's recent window and writes nothing while doing so.
    const metrics2 = new Metrics({ defaultMetrics: false });
    const again = new Detector({ config: CONFIG, metrics: metrics2 });
    const written: unknown[] = [];
    again.attach((r) => written.push(r));
    const rebuilt = await again.rebuildFromLedger(pool, 'det');
    expect(rebuilt).toMatchObject({ rows: 15, findings: 2, fromSeq: 1 });
    expect(written).toEqual([]);
    // Live again: alice is known, and the brute force is still cooling down: nothing new.
    const t = now + 20_000;
    const rec = (ms: number, text: string, seq: number) => ({ ...toRecord(frame(line(ms, text)), PEER, ms * 1000, CFG, metrics2), chain: 'det', seq, prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) });
    again.onCommitted([rec(t, 'sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id', 100), rec(t, 'sshd[700]: Failed password for root from 203.0.113.5 port 1 ssh2', 101)]);
    expect(written).toEqual([]);
    expect(again.stats.suppressed).toBe(1);
    // Someone new is still found.
    again.onCommitted([rec(t, 'sudo:    mallory : TTY=pts/9 ; PWD=/ ; USER=root ; COMMAND=/bin/sh', 102)]);
    expect(written).toHaveLength(1);
  });

  it('rebuild: an empty chain or a window with no rows is a no-op', async () => {
    const d = new Detector({ config: CONFIG });
    expect(await d.rebuildFromLedger(pool, 'nothing-here')).toMatchObject({ rows: 0, findings: 0, fromSeq: null });
    expect(await d.rebuildFromLedger(pool, 'det', 1)).toMatchObject({ rows: 0, fromSeq: null });
  });
});
