/**
 * Access records (src/evidence/access.ts): commands appending to the access chain at once queue on
 * its lock, never fork it, and leave a checkpoint file that only goes forward; the whole ledger then
 * verifies with that file (truncation of the access chain would be caught).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_CHAIN, proveAccessEvent, recordAccess } from '../../src/evidence/access.js';
import { parseCheckpoint } from '../../src/checkpoints/checkpoint.js';
import { loadOrCreateSigningKey, loadPublicKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { CheckpointVerifier } from '../../src/verify/checkpoints.js';
import { createDb, tempDir, type TestDb } from '../integrity/helpers.js';

let db: TestDb;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;

beforeAll(async () => {
  db = await createDb('sl_access');
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('ledger-signing.key'));
});
afterAll(async () => {
  await db.drop();
  await tmp.remove();
});

describe('access records', () => {
  it('access: 12 records appended at once get seqs 1..12, each signed, and the checkpoint file only goes forward', async () => {
    const file = tmp.path('checkpoints.jsonl');
    const seqs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => recordAccess(db.url, { key, checkpointFile: file, event: proveAccessEvent({ chain: 'web1', seq: i + 1, proofSha256: '00'.repeat(32), valid: true }) })),
    );
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const head = (await db.pool.query<{ head_seq: string }>('SELECT head_seq FROM chains WHERE chain = $1', [ACCESS_CHAIN])).rows[0]!;
    expect(Number(head.head_seq)).toBe(12);
    expect(Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM checkpoints WHERE chain = $1', [ACCESS_CHAIN])).rows[0]!.n)).toBe(12);
    const fileSeqs = readFileSync(file, 'utf8').trim().split('\n').map((l) => parseCheckpoint(l).seq);
    expect(fileSeqs.at(-1)).toBe(12);
    expect(fileSeqs).toEqual([...fileSeqs].sort((a, b) => a - b));
    expect(new Set(fileSeqs).size).toBe(fileSeqs.length);

    const cv = await CheckpointVerifier.load({ ledgerId: db.ledgerId, keys: [await loadPublicKey(tmp.path('ledger-signing.key.pub'))], files: [file] });
    const report = await verifyLedger(db.url, { onRow: (chain, seq, hash) => cv.feed(chain, seq, hash) });
    expect(report.findings).toEqual([]);
    expect(cv.finish()).toEqual([]);
    expect(report.rows).toBe(12);
  }, 60_000);
});
