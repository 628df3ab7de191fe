/**
 * The writer's retry never drops and never duplicates: with the connection cut right before a
 * COMMIT, right after one (the batch committed but the writer never heard), and with the network
 * going silent mid-COMMIT (a partition: the old session keeps its locks), every record is
 * committed once, in order, and the chain verifies.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { toRecord } from '../../src/stages.js';
import { Metrics } from '../../src/metrics/registry.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { runCli } from '../helpers/server.js';
import { waitFor } from '../helpers/tls-client.js';
import { frame, tally } from './load.js';
import { FAULTS, startPgProxy, type PgProxy } from './pg-proxy.js';

const PEER = { cn: 'client1.example.com', sans: ['DNS:client1.example.com'], subject: 'CN=client1.example.com', fingerprint: '00', address: '127.0.0.1:1' };
const PER_BATCH = 200;

describe('writer retry across lost connections', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: PgProxy;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    db = await createTestDatabase('sl_retry');
    await migrate(db.url);
    const u = new URL(db.url);
    proxy = await startPgProxy(Number(u.port || 5432), u.hostname);
  });
  afterAll(async () => {
    await proxy?.close();
    await db?.drop();
  });

  it('commits every record once, in order, whichever side of COMMIT the connection is lost on', async () => {
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const metrics = new Metrics({ defaultMetrics: false });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    const writer = new LedgerWriter({
      databaseUrl: viaProxy.toString(),
      chain: 'retry',
      metrics,
      log: pino({ level: 'info' }, sink),
      batchMaxEvents: PER_BATCH,
      queueMaxEvents: 100_000,
      queueMaxBytes: 64 << 20,
      commitTimeoutMs: 2000,
    });
    await writer.start();
    let n = 0;
    const enqueue = (count: number): void => {
      for (let i = 0; i < count; i++, n++) {
        const body = Buffer.from(frame('retry', n).slice(0, -1));
        writer.enqueue(toRecord({ raw: body, body, truncated: false, framing: 'lf' }, PEER, Date.now() * 1000, { format: 'auto', timeZone: 'UTC' }, metrics));
      }
    };
    const committed = async (): Promise<number> => Number((await query(db.url, `SELECT count(*) AS n FROM ledger WHERE chain = 'retry'`))[0]!.n);
    enqueue(PER_BATCH);
    await waitFor(async () => (await committed()) === n);
    const settle = async (fault: string): Promise<void> => {
      try {
        await waitFor(async () => (await committed()) >= n, 30_000, 100);
      } catch (err) {
        throw new Error(`${fault}: ${await committed()} of ${n} committed; writer log: ${JSON.stringify(logs.slice(-6).map((l) => [l.msg, l.err]))}`, { cause: err });
      }
    };
    for (const fault of FAULTS) {
      proxy.arm(fault);
      enqueue(PER_BATCH);
      await settle(fault);
      enqueue(PER_BATCH);
      await settle(`after ${fault}`);
    }
    await writer.close();
    expect(proxy.triggered).toEqual([...FAULTS]);

    const rows = await query<{ seq: string; msg: string }>(db.url, `SELECT seq, syslog->>'message' AS msg FROM ledger_rows WHERE chain = 'retry' ORDER BY seq`);
    const t = tally(rows.map((r) => Number(r.msg.slice('retry '.length))), n);
    expect(t).toEqual({ stored: n, missing: 0, duplicates: 0, outOfOrder: 0, through: n });
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // The writer noticed the batch lost after its COMMIT had committed, and did not write it again.
    expect(logs.filter((l) => l.msg === 'in-flight batches had committed before the failure; not rewriting them')).toHaveLength(1);
    // After the partition, the old session (idle in its transaction, holding the chain's locks) was ended.
    expect(logs.filter((l) => l.msg === "ended this writer's previous database sessions, still open after the connection was lost")).toHaveLength(1);
    expect(logs.some((l) => String(l.err).includes('did not finish within 2000 ms'))).toBe(true);
    const verify = await runCli(['verify', '--chain', 'retry', '--no-checkpoints'], { env: { DATABASE_URL: db.url } });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    console.log(`[writer-retry] ${n} records through ${FAULTS.join(', ')}: stored ${t.stored}, missing ${t.missing}, duplicates ${t.duplicates}; proxy connections ${proxy.connections}`);
  }, 90_000);
});
