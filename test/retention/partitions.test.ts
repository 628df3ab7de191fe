/**
 * The partitioned ledger on a real PostgreSQL: partitions made ahead of time, the DEFAULT partition
 * that takes everything else, and the append-only guards on every partition.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePartitions, listPartitions, periodStart, startPartitionMaintenance, uncovered } from '../../src/retention/partitions.js';
import { createEnv, type RetentionEnv } from './helpers.js';

let env: RetentionEnv;
let client: pg.Client;

const names = async (): Promise<string[]> => (await listPartitions(client)).map((p) => p.name);

async function insertAt(iso: string, seq: number): Promise<string> {
  const r = await client.query<{ p: string }>(
    `INSERT INTO ledger (chain, seq, received_at, format, raw, syslog, event, prev_hash, hash)
     VALUES ('parts', $1, $2, 'rfc5424', 'x'::bytea, '{}', '{}', decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'))
     RETURNING tableoid::regclass::text AS p`,
    [seq, iso],
  );
  return r.rows[0]!.p;
}

beforeAll(async () => {
  env = await createEnv('sl_ret_parts');
  client = new pg.Client({ connectionString: env.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await env?.cleanup();
});

describe('ledger partitions', () => {
  it('partitions: a fresh ledger has only the DEFAULT partition, and an insert at any time succeeds', async () => {
    expect(await names()).toEqual(['ledger_default']);
    expect(await insertAt('1999-12-31T23:59:59Z', 1)).toBe('ledger_default');
  });

  it('partitions: daily partitions are made for the current day and the next N, idempotently', async () => {
    const now = new Date('2025-03-30T15:00:00Z');
    const r = await ensurePartitions(client, { interval: 'daily', ahead: 3, now });
    expect(r.created).toEqual(['ledger_p20250330', 'ledger_p20250331', 'ledger_p20250401', 'ledger_p20250402']);
    expect((await ensurePartitions(client, { interval: 'daily', ahead: 3, now })).created).toEqual([]);
    const p = (await listPartitions(client)).find((x) => x.name === 'ledger_p20250331')!;
    expect([p.from?.toISOString(), p.to?.toISOString()]).toEqual(['2025-03-31T00:00:00.000Z', '2025-04-01T00:00:00.000Z']);
    expect(await insertAt('2025-03-31T23:59:59.999999Z', 2)).toBe('ledger_p20250331');
    expect(await insertAt('2025-04-01T00:00:00Z', 3)).toBe('ledger_p20250401');
  });

  it('partitions: switching to monthly fills only what no partition covers yet', async () => {
    const r = await ensurePartitions(client, { interval: 'monthly', ahead: 1, now: new Date('2025-04-10T00:00:00Z') });
    // April is covered up to 04-03 by daily partitions: the rest of April, then May.
    expect(r.created).toEqual(['ledger_p20250403', 'ledger_p20250501']);
    const p = (await listPartitions(client)).find((x) => x.name === 'ledger_p20250403')!;
    expect([p.from?.toISOString(), p.to?.toISOString()]).toEqual(['2025-04-03T00:00:00.000Z', '2025-05-01T00:00:00.000Z']);
    expect(uncovered(new Date('2025-03-30T00:00:00Z'), new Date('2025-06-01T00:00:00Z'), await listPartitions(client))).toEqual([]);
    expect(periodStart(new Date('2025-12-31T23:00:00Z'), 'monthly', 1).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('partitions: serve\'s maintenance makes today\'s and the next week\'s daily partitions, and never throws', async () => {
    const m = await startPartitionMaintenance({ databaseUrl: env.url, interval: 'daily' });
    m.close();
    const today = periodStart(new Date(), 'daily');
    const want = [0, 1, 7].map((n) => `ledger_p${periodStart(today, 'daily', n).toISOString().slice(0, 10).replaceAll('-', '')}`);
    expect(await names()).toEqual(expect.arrayContaining(want));
    const broken = await startPartitionMaintenance({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', interval: 'daily' });
    broken.close();
  });

  it('partitions: a range the DEFAULT partition already holds rows of is left to it, and said so', async () => {
    expect(await insertAt('2025-07-04T12:00:00Z', 4)).toBe('ledger_default');
    const r = await ensurePartitions(client, { interval: 'monthly', ahead: 0, now: new Date('2025-07-10T00:00:00Z') });
    expect(r.created).toEqual([]);
    expect(r.skipped).toEqual([{ from: new Date('2025-07-01T00:00:00Z'), to: new Date('2025-08-01T00:00:00Z'), reason: 'the DEFAULT partition holds rows of this range' }]);
    expect(await insertAt('2025-07-05T12:00:00Z', 5)).toBe('ledger_default');
  });

  it('partitions: concurrent maintenance from two servers creates each partition once', async () => {
    const other = new pg.Client({ connectionString: env.url });
    await other.connect();
    try {
      const now = new Date('2030-01-01T00:00:00Z');
      const [a, b] = await Promise.all([
        ensurePartitions(client, { interval: 'daily', ahead: 4, now }),
        ensurePartitions(other, { interval: 'daily', ahead: 4, now }),
      ]);
      expect([...a.created, ...b.created].sort()).toEqual(['ledger_p20300101', 'ledger_p20300102', 'ledger_p20300103', 'ledger_p20300104', 'ledger_p20300105']);
    } finally {
      await other.end();
    }
  });

  it('partitions: UPDATE, DELETE and TRUNCATE are refused on every partition, named directly or through the ledger', async () => {
    for (const t of ['ledger_p20250331', 'ledger_default']) {
      await expect(client.query(`UPDATE ${t} SET peer_addr = 'x'`)).rejects.toThrow(new RegExp(`UPDATE on ${t} is refused`));
    }
    for (const t of ['ledger_p20250331', 'ledger_default', 'ledger_p20300105']) {
      await expect(client.query(`TRUNCATE ${t}`)).rejects.toThrow(new RegExp(`TRUNCATE on ${t} is refused: the ledger is append-only`));
    }
    await expect(client.query(`DELETE FROM ledger_p20250331`)).rejects.toThrow(/DELETE on ledger_p20250331 is refused/);
    await expect(client.query(`UPDATE ledger SET peer_addr = 'x' WHERE seq = 2`)).rejects.toThrow(/UPDATE on ledger_p20250331 is refused/);
    await expect(client.query('TRUNCATE ledger')).rejects.toThrow(/append-only/);
    // A partition made by hand (plain CREATE TABLE ... PARTITION OF) gets its TRUNCATE guard too.
    await client.query(`CREATE TABLE ledger_p20400101 PARTITION OF ledger FOR VALUES FROM ('2040-01-01') TO ('2040-01-02')`);
    await expect(client.query('TRUNCATE ledger_p20400101')).rejects.toThrow(/append-only/);
  });

  it('partitions: DETACH and DROP of a partition, or of the ledger, are refused unless its archive is recorded', async () => {
    await expect(client.query('ALTER TABLE ledger DETACH PARTITION ledger_p20250331')).rejects.toThrow(/detaching ledger_p20250331 from the ledger is refused: ledger data leaves only through `syslog-ledger archive`/);
    await expect(client.query('DROP TABLE ledger_p20250331')).rejects.toThrow(/DROP of public\.ledger_p20250331 is refused/);
    await expect(client.query('DROP TABLE ledger_default')).rejects.toThrow(/DROP of public\.ledger_default is refused/);
    await expect(client.query('DROP TABLE ledger CASCADE')).rejects.toThrow(/is refused/);
    // Other tables are not concerned.
    await client.query('CREATE TABLE ledger_notes (x int)');
    await client.query('DROP TABLE ledger_notes');
    expect(await names()).toContain('ledger_p20250331');
  });
});
