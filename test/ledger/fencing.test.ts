/**
 * Chain ownership with epochs (migrations/010_scale_out.sql; takeChain and checkOwnership in
 * src/ledger/chain-ownership.ts): a writer that lost its chain without knowing cannot append even
 * one row.
 */
import pino from 'pino';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { ChainFencedError } from '../../src/errors.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { recordOf, testWriter } from '../helpers/writer.js';
import { waitFor } from '../helpers/tls-client.js';

function writer(url: string, chain: string, metrics: Metrics, logs?: unknown[]): LedgerWriter {
  return testWriter(url, chain, metrics, { log: pino({ level: 'info' }, { write: (line: string) => logs?.push(JSON.parse(line)) }) });
}

describe('chain fencing (epochs)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('sl_fencing');
    await migrate(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a stale writer: once another took the chain (epoch bumped), its batch rolls back whole and it stops with a clear error', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const logs: Array<Record<string, unknown>> = [];
    const a = writer(db.url, 'fenced', metrics, logs);
    await a.start();
    const [taken] = await query<{ epoch: string }>(db.url, "SELECT epoch FROM chains WHERE chain = 'fenced'");
    for (let i = 0; i < 5; i++) a.enqueue(recordOf(`<134>1 2024-05-01T12:00:00Z h app - - - before ${i}`, metrics));
    await waitFor(async () => a.head.seq === 5 || undefined);

    // What a new owner does when it takes the chain: bump the epoch (here without touching A's
    // sessions, which stay connected and keep the advisory lock: a lost lock A does not know of).
    await query(db.url, "UPDATE chains SET epoch = epoch + 1 WHERE chain = 'fenced'");
    const failed = new Promise<Error>((res) => a.once('error', res));
    for (let i = 0; i < 3; i++) a.enqueue(recordOf(`<134>1 2024-05-01T12:00:00Z h app - - - stale ${i}`, metrics));
    const err = await failed;
    expect(err).toBeInstanceOf(ChainFencedError);
    expect((err as ChainFencedError).ourEpoch).toBe(BigInt(taken!.epoch));
    expect(err.message).toMatch(/taken by another writer.*appends nothing more/);
    expect(logs.some((l) => l.msg === 'writer stopped' && /taken by another writer/.test(String(l.err)))).toBe(true);
    // Not one row of the stale batch, and the head did not move.
    const rows = await query<{ n: number; max: string }>(db.url, "SELECT count(*)::int AS n, max(seq)::text AS max FROM ledger WHERE chain = 'fenced'");
    expect(rows[0]).toEqual({ n: 5, max: '5' });
    expect((await query<{ head_seq: string }>(db.url, "SELECT head_seq FROM chains WHERE chain = 'fenced'"))[0]!.head_seq).toBe('5');
    await expect(a.close()).rejects.toThrow(/not committed/);
  });

  it('taking a chain bumps its epoch, every time; the next owner continues the chain', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const epoch = async (): Promise<number> => Number((await query<{ epoch: string }>(db.url, "SELECT epoch FROM chains WHERE chain = 'handover'"))[0]!.epoch);
    const a = writer(db.url, 'handover', metrics);
    await a.start();
    const e1 = await epoch();
    a.enqueue(recordOf('<134>1 2024-05-01T12:00:00Z h app - - - one', metrics));
    await a.close();
    const b = writer(db.url, 'handover', metrics);
    await b.start();
    expect(await epoch()).toBe(e1 + 1);
    b.enqueue(recordOf('<134>1 2024-05-01T12:00:00Z h app - - - two', metrics));
    await b.close();
    expect(b.head.seq).toBe(2);
  });

  it('chains are never deleted', async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await expect(c.query("DELETE FROM chains WHERE chain = 'handover'")).rejects.toThrow(/append-only/);
    } finally {
      await c.end();
    }
  });
});
