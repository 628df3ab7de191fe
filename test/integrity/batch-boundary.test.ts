/**
 * verify hands row hashes to the Merkle check in batches of 4,096 per range (verify-range.ts); the
 * link check of a batch's first row reads the hash kept from the batch before. An intact chain across
 * the boundary is intact, and a broken prev_hash right before and right after it is named at its seq.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/verify/verify.js';
import { appendCanonicalRows, createDb, tamper, type TestDb } from './helpers.js';

const CHAIN = 'batch-chain';
const ROWS = 4100;
let db: TestDb;

beforeAll(async () => {
  db = await createDb('sl_batch');
  await appendCanonicalRows(db.pool, CHAIN, ROWS);
});

afterAll(async () => {
  await db?.drop();
});

const kinds = (r: Awaited<ReturnType<typeof verifyLedger>>): string[] => r.findings.map((f) => `${f.seq} ${f.kind}`);

describe('verify: the batch boundary inside a range', () => {
  for (const workers of [0, 1]) {
    it(`an intact chain of ${ROWS} rows is intact (workers: ${workers})`, async () => {
      const r = await verifyLedger(db.url, { workers });
      expect(kinds(r)).toEqual([]);
      expect(r.rows).toBe(ROWS);
    });
  }

  it('a prev_hash changed on the last row of a batch and on the first row of the next: both named, nothing else', async () => {
    await tamper(db.pool, 'ledger', `UPDATE ledger SET prev_hash = $1 WHERE chain = $2 AND seq IN (4096, 4097)`, [randomBytes(32), CHAIN]);
    for (const workers of [0, 1]) {
      const r = await verifyLedger(db.url, { workers });
      expect(kinds(r)).toEqual(['4096 broken_link', '4096 hash_mismatch', '4097 broken_link', '4097 hash_mismatch']);
    }
  });
});
