import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForeignCheckpointFileError, parseCheckpoint, serializeCheckpoint } from '../../src/checkpoints/checkpoint.js';
import { Checkpointer } from '../../src/checkpoints/checkpointer.js';
import { loadFrontier } from '../../src/checkpoints/merkle-store.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { CheckpointVerifier } from '../../src/verify/checkpoints.js';
import { appendRows, createDb, rowHash, tamper, tempDir, type TestDb } from './helpers.js';

let db: TestDb;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;
let attacker: SigningKey;
let file: string;

/** Builds a chain of n rows with checkpoints every `every` rows (and a final one). */
async function build(chain: string, n: number, every = 100): Promise<void> {
  const cpr = new Checkpointer({ key, file, maxEvents: every });
  await cpr.init(db.pool, { chains: [chain] });
  const rows = await appendRows(db.pool, chain, n);
  for (let i = 0; i < rows.length; i += 25) await cpr.onCommitted(chain, rows.slice(i, i + 25));
  await cpr.close();
}

/** What verify's streamer does: rows of one chain in seq order into feed(). */
async function check(chain: string, opts: { files?: string[]; from?: number; frontier?: boolean; roots?: boolean } = {}) {
  const v = await CheckpointVerifier.load({ ledgerId: db.ledgerId, keys: [key], files: opts.files ?? [file], chain, merkleRoots: opts.roots ?? true });
  const from = opts.from ?? 1;
  if (from > 1) v.startChain(chain, from, opts.frontier ? await loadFrontier(db.pool, chain, from - 1) : undefined);
  const rows = await db.pool.query<{ seq: string; hash: Buffer }>('SELECT seq, hash FROM ledger WHERE chain = $1 AND seq >= $2 ORDER BY seq', [chain, from]);
  for (const r of rows.rows) v.feed(chain, BigInt(r.seq), r.hash);
  return { findings: v.finish().map((f) => [f.kind, f.seq]), summary: v.summary(), raw: v.findings };
}

beforeAll(async () => {
  db = await createDb('sl_verifycp');
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('signing.key'));
  attacker = await loadOrCreateSigningKey(tmp.path('attacker.key'));
  file = tmp.path('checkpoints.jsonl');
  await writeFile(file, '');
});
afterAll(async () => {
  await db.drop();
  await tmp.remove();
});

describe('verify-checkpoints', () => {
  it('verify-checkpoints: an intact chain gives no findings and compares every checkpoint', async () => {
    await build('intact', 1050);
    const r = await check('intact');
    expect(r.findings).toEqual([]);
    expect(r.summary.checkpointsCompared).toBe(11);
  });

  it('verify-checkpoints: deleted rows at the tail are reported as truncation', async () => {
    await build('trunc', 500);
    await tamper(db.pool, 'ledger', "DELETE FROM ledger WHERE chain = 'trunc' AND seq > 420");
    const r = await check('trunc');
    expect(r.findings).toEqual([['truncated', 421]]);
    expect(r.raw[0]?.detail).toMatch(/ends at seq 420 .* up to seq 500: 80 rows deleted/);
  });

  it('verify-checkpoints: a whole chain deleted is truncation from seq 1', async () => {
    await build('gone', 150);
    await tamper(db.pool, 'ledger', "DELETE FROM ledger WHERE chain = 'gone'");
    expect((await check('gone')).findings).toEqual([['truncated', 1]]);
  });

  it('verify-checkpoints: a chain recomputed without the signing key fails at the first checkpoint after the change', async () => {
    await build('rechain', 400);
    // The attacker changes row 250 and recomputes every hash after it, so the chain links are whole.
    const rows = (await db.pool.query<{ seq: string; raw: Buffer; prev_hash: Buffer }>("SELECT seq, raw, prev_hash FROM ledger WHERE chain = 'rechain' AND seq >= 250 ORDER BY seq")).rows;
    let prev = rows[0]!.prev_hash;
    const c = await db.pool.connect();
    await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
    for (const r of rows) {
      const raw = Number(r.seq) === 250 ? Buffer.from('<13>1 - host app - - - nothing happened') : r.raw;
      const h = rowHash(prev, raw);
      await c.query("UPDATE ledger SET raw = $2, prev_hash = $3, hash = $4 WHERE chain = 'rechain' AND seq = $1", [r.seq, raw, prev, h]);
      prev = h;
    }
    await c.query('ALTER TABLE ledger ENABLE TRIGGER USER');
    c.release();
    const r = await check('rechain');
    expect(r.findings).toEqual([
      ['checkpoint_head_mismatch', 300],
      ['checkpoint_root_mismatch', 300],
      ['checkpoint_head_mismatch', 400],
      ['checkpoint_root_mismatch', 400],
    ]);
    // Head hashes alone catch it too.
    expect((await check('rechain', { roots: false })).findings).toEqual([
      ['checkpoint_head_mismatch', 300],
      ['checkpoint_head_mismatch', 400],
    ]);
  });

  it('verify-checkpoints: a deleted row in the middle makes the next signed root unreproducible', async () => {
    await build('hole', 300);
    await tamper(db.pool, 'ledger', "DELETE FROM ledger WHERE chain = 'hole' AND seq = 150");
    expect((await check('hole')).findings).toEqual([['checkpoint_root_mismatch', 200]]);
  });

  it('verify-checkpoints: a row whose hash was changed is caught by the signed Merkle root', async () => {
    await build('leaf', 300);
    await tamper(db.pool, 'ledger', "UPDATE ledger SET hash = sha256(hash) WHERE chain = 'leaf' AND seq = 120");
    expect((await check('leaf')).findings).toEqual([
      ['checkpoint_root_mismatch', 200],
      ['checkpoint_root_mismatch', 300],
    ]);
  });

  it('verify-checkpoints: --from with the stored frontier still compares roots', async () => {
    await build('from', 600);
    const r = await check('from', { from: 333, frontier: true });
    expect(r.findings).toEqual([]);
    expect(r.summary.checkpointsCompared).toBe(3);
    const noFrontier = await check('from', { from: 333 });
    expect(noFrontier.findings).toEqual([]);
    // The same through the fromSeq option (what verify --from without --chain uses), with a changed row.
    await tamper(db.pool, 'ledger', "UPDATE ledger SET hash = sha256(hash) WHERE chain = 'from' AND seq = 400");
    const v = await CheckpointVerifier.load({ ledgerId: db.ledgerId, keys: [key], files: [file], fromSeq: 333 });
    const rows = await db.pool.query<{ seq: string; hash: Buffer }>("SELECT seq, hash FROM ledger WHERE chain = 'from' AND seq >= 333 ORDER BY seq");
    for (const r of rows.rows) v.feed('from', Number(r.seq), r.hash);
    expect(v.finish().filter((f) => f.chain === 'from').map((f) => [f.kind, f.seq])).toEqual([['checkpoint_head_mismatch', 400]]);
  });

  it('verify-checkpoints: a checkpoint file going backwards or with bad signatures is reported', async () => {
    await build('file', 300);
    const own = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => parseCheckpoint(l)).filter((c) => c.chain === 'file');
    const copy = tmp.path('copy.jsonl');
    const [c100, c200, c300] = own;
    const forged = { ...c300!, seq: 350, tree_size: 350 };
    await writeFile(copy, [c100, c300, c200, forged].map((c) => serializeCheckpoint(c!)).join('\n') + '\n');
    const r = await check('file', { files: [copy] });
    expect(r.findings).toEqual([
      ['checkpoint_backwards', 200],
      ['checkpoint_bad_signature', 350],
    ]);
  });

  it('verify-checkpoints: checkpoints signed by a key the verifier does not know are not trusted', async () => {
    const cpr = new Checkpointer({ key: attacker, file: tmp.path('attacker.jsonl'), maxEvents: 50, selfCheck: false });
    await cpr.init(db.pool, { chains: ['intact'] });
    const more = await appendRows(db.pool, 'intact', 60);
    await cpr.onCommitted('intact', more);
    await cpr.close();
    const r = await check('intact', { files: [file, tmp.path('attacker.jsonl')] });
    expect(r.findings).toEqual([['checkpoint_unknown_key', 1110]]);
  });

  it('verify-checkpoints: a checkpoint file of another ledger is refused', async () => {
    const other = tmp.path('other-ledger.jsonl');
    const c = parseCheckpoint((await readFile(file, 'utf8')).split('\n')[0]!);
    await writeFile(other, `${serializeCheckpoint({ ...c, ledger_id: randomUUID() })}\n`);
    await appendFile(other, await readFile(file));
    await expect(check('intact', { files: [other] })).rejects.toBeInstanceOf(ForeignCheckpointFileError);
  });
});
