import { readFile, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.js';
import { CheckpointFile } from '../../src/checkpoints/file.js';
import { ForeignCheckpointFileError, keyMap, parseCheckpoint, serializeCheckpoint, signCheckpoint, verifyCheckpointSignature } from '../../src/checkpoints/checkpoint.js';
import { Checkpointer } from '../../src/checkpoints/checkpointer.js';
import { CheckpointMismatchError } from '../../src/errors.js';
import { MerkleAccumulator } from '../../src/checkpoints/merkle.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { appendRows, createDb, tamper, tempDir, type TestDb } from './helpers.js';

let db: TestDb;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;

beforeAll(async () => {
  db = await createDb('sl_checkpointer');
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('signing.key'));
});
afterAll(async () => {
  await db.drop();
  await tmp.remove();
});

async function fileLines(path: string) {
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => parseCheckpoint(l));
}

function rootOf(rows: Array<{ hash: Buffer }>): string {
  const acc = new MerkleAccumulator();
  for (const r of rows) acc.append(r.hash);
  return acc.root().toString('hex');
}

describe('checkpointer', () => {
  it('checkpointer: signs every 1,000 committed events into the table and the file, and sets the gauge', async () => {
    const path = tmp.path('count.jsonl');
    const metrics = new Metrics({ defaultMetrics: false });
    const cpr = new Checkpointer({ key, file: path, metrics });
    await cpr.init(db.pool, { chains: ['count'] });
    const rows = await appendRows(db.pool, 'count', 2500);
    for (let i = 0; i < rows.length; i += 100) await cpr.onCommitted('count', rows.slice(i, i + 100));
    const lines = await fileLines(path);
    expect(lines.map((c) => c.seq)).toEqual([1000, 2000]);
    expect(lines[1]?.merkle_root).toBe(rootOf(rows.slice(0, 2000)));
    expect(lines[1]?.head_hash).toBe(rows[1999]?.hash.toString('hex'));
    expect(verifyCheckpointSignature(lines[1]!, keyMap([key]))).toBe('valid');
    const table = await db.pool.query<{ seq: string; record: unknown }>("SELECT seq, record FROM checkpoints WHERE chain = 'count' ORDER BY seq");
    expect(table.rows.map((r) => parseCheckpoint(r.record))).toEqual(lines);
    // Merkle nodes at level >= 8 for the 2,000 covered rows: 7 at level 8, 3 at 9, 1 at 10.
    const nodes = await db.pool.query<{ level: number; n: string }>(
      "SELECT level, count(*) AS n FROM merkle_nodes WHERE chain = 'count' GROUP BY level ORDER BY level",
    );
    expect(nodes.rows.map((r) => [r.level, Number(r.n)])).toEqual([[8, 7], [9, 3], [10, 1]]);
    expect((await metrics.checkpointLast.get()).values[0]?.value).toBeCloseTo(Date.parse(lines[1]!.time) / 1000);
    // close() covers the rest.
    await cpr.close();
    const after = await fileLines(path);
    expect(after.map((c) => c.seq)).toEqual([1000, 2000, 2500]);
    expect(after[2]?.merkle_root).toBe(rootOf(rows));
  });

  it('checkpointer: signs an idle chain within the delay after its last commit', async () => {
    const path = tmp.path('timer.jsonl');
    const cpr = new Checkpointer({ key, file: path, maxDelayMs: 150 });
    await cpr.init(db.pool, { chains: ['timer'] });
    cpr.start();
    const rows = await appendRows(db.pool, 'timer', 5);
    await cpr.onCommitted('timer', rows);
    expect(await fileLines(path)).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    expect((await fileLines(path)).map((c) => c.seq)).toEqual([5]);
    await cpr.close();
    expect((await fileLines(path)).map((c) => c.seq)).toEqual([5]);
  });

  it('checkpointer: refuses rows that do not continue the chain', async () => {
    const cpr = new Checkpointer({ key, file: tmp.path('gap.jsonl') });
    await cpr.init(db.pool, { chains: ['gap'] });
    const rows = await appendRows(db.pool, 'gap', 3);
    await cpr.onCommitted('gap', rows.slice(0, 1));
    await expect(cpr.onCommitted('gap', rows.slice(2))).rejects.toThrow(/diverged/);
    await cpr.close();
  });

  it('checkpointer: init restores the tree from stored nodes and rebuilds nodes lost in a crash', async () => {
    const path = tmp.path('restore.jsonl');
    const first = new Checkpointer({ key, file: path });
    await first.init(db.pool, { chains: ['restore'] });
    const rows = await appendRows(db.pool, 'restore', 1800);
    await first.onCommitted('restore', rows);
    await first.close();
    // A crash after commit: rows that never reached the checkpointer, and stored nodes lost.
    rows.push(...(await appendRows(db.pool, 'restore', 700)));
    await tamper(db.pool, 'merkle_nodes', "DELETE FROM merkle_nodes WHERE chain = 'restore' AND (level > 9 OR idx > 2)");
    const second = new Checkpointer({ key, file: path });
    await second.init(db.pool, { chains: ['restore'] });
    expect(second.state('restore')).toMatchObject({ size: 2500, signedSize: 1800 });
    expect(second.state('restore')?.root.toString('hex')).toBe(rootOf(rows));
    const level8 = await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM merkle_nodes WHERE chain = 'restore' AND level = 8");
    expect(Number(level8.rows[0]?.n)).toBe(9);
    const more = await appendRows(db.pool, 'restore', 10);
    await second.onCommitted('restore', more);
    await second.close();
    const last = (await fileLines(path)).at(-1);
    expect(last?.seq).toBe(2510);
    expect(last?.merkle_root).toBe(rootOf([...rows, ...more]));
  });

  it('checkpointer: will not sign over a ledger that no longer matches the file (re-chained or truncated)', async () => {
    const path = tmp.path('selfcheck.jsonl');
    const cpr = new Checkpointer({ key, file: path });
    await cpr.init(db.pool, { chains: ['selfcheck'] });
    const rows = await appendRows(db.pool, 'selfcheck', 300);
    await cpr.onCommitted('selfcheck', rows);
    await cpr.close();
    await tamper(db.pool, 'ledger', "UPDATE ledger SET hash = sha256(hash) WHERE chain = 'selfcheck' AND seq = 300");
    await tamper(db.pool, 'chains', "UPDATE chains SET head_hash = (SELECT hash FROM ledger WHERE chain = 'selfcheck' AND seq = 300) WHERE chain = 'selfcheck'");
    const again = new Checkpointer({ key, file: path });
    await expect(again.init(db.pool, { chains: ['selfcheck'] })).rejects.toBeInstanceOf(CheckpointMismatchError);
  });

  it('checkpointer: refuses a checkpoint file that belongs to another ledger', async () => {
    const path = tmp.path('foreign.jsonl');
    const c = signCheckpoint(
      { ledger_id: randomUUID(), chain: 'x', seq: 1, tree_size: 1, head_hash: '00'.repeat(32), merkle_root: '11'.repeat(32), time: new Date().toISOString() },
      key,
    );
    await writeFile(path, `${serializeCheckpoint(c)}\n`);
    const cpr = new Checkpointer({ key, file: path });
    await expect(cpr.init(db.pool, { chains: [] })).rejects.toBeInstanceOf(ForeignCheckpointFileError);
  });

  it('checkpointer: a failed database write is retried with the same signed record', async () => {
    const path = tmp.path('retry.jsonl');
    const file = await CheckpointFile.open(path);
    let fail = 1;
    const flaky = {
      query: (text: string, values?: unknown[]) => {
        if (text.includes('INSERT INTO checkpoints') && fail-- > 0) return Promise.reject(new Error('connection lost'));
        return db.pool.query(text, values);
      },
    };
    const cpr = new Checkpointer({ key, file, retryMs: 50, maxEvents: 10 });
    await cpr.init(flaky as never, { chains: ['retry'] });
    const rows = await appendRows(db.pool, 'retry', 10);
    await cpr.onCommitted('retry', rows);
    expect(await fileLines(path)).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    await cpr.close();
    await file.close();
    const lines = await fileLines(path);
    expect(lines.map((c) => c.seq)).toEqual([10]);
    const table = await db.pool.query<{ record: unknown }>("SELECT record FROM checkpoints WHERE chain = 'retry'");
    expect(parseCheckpoint(table.rows[0]?.record)).toEqual(lines[0]);
  });
});
