/**
 * Chain-set checkpoints (src/checkpoints/chain-set.ts): every chain head signed in one snapshot by one
 * instance at a time; verify shows that no chain was dropped and none went backwards.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { ChainSetCheckpointer, checkChainSet, compareChainSets, signChainSet, verifyChainSets, type ChainSetCheckpoint } from '../../src/checkpoints/chain-set.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { createTestDatabase, query } from '../helpers/db.js';

const H = (c: string): string => c.repeat(64).slice(0, 64);

describe('chain-set checkpoints', () => {
  let dir: string;
  let key: SigningKey;
  let other: SigningKey;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-chainset-'));
    key = await loadOrCreateSigningKey(join(dir, 'k1.key'));
    other = await loadOrCreateSigningKey(join(dir, 'k2.key'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('signature, root and order: sound when untouched; an edited head, an unknown key or a bad signature are found', () => {
    const heads = [{ chain: 's1', seq: 10, head_hash: H('a') }, { chain: 's2', seq: 4, head_hash: H('b') }];
    const cp = signChainSet('00000000-0000-0000-0000-000000000001', 1, heads, key);
    expect(checkChainSet(cp, [key])).toEqual([]);
    const edited: ChainSetCheckpoint = { ...cp, heads: [heads[0]!, { ...heads[1]!, seq: 3 }] };
    expect(checkChainSet(edited, [key]).map((f) => f.kind)).toEqual(['chain_set_root_mismatch']);
    const dropped: ChainSetCheckpoint = { ...cp, heads: [heads[0]!] };
    expect(checkChainSet(dropped, [key]).map((f) => f.kind)).toEqual(['chain_set_root_mismatch']);
    expect(checkChainSet(cp, [other]).map((f) => f.kind)).toEqual(['chain_set_unknown_key']);
    expect(checkChainSet({ ...cp, n: 2 }, [key]).map((f) => f.kind)).toEqual(['chain_set_bad_signature']);
  });

  it('a later checkpoint must keep every chain, at the same seq or beyond', () => {
    const a = signChainSet('x', 1, [{ chain: 's1', seq: 10, head_hash: H('a') }, { chain: 's2', seq: 4, head_hash: H('b') }], key);
    const grown = signChainSet('x', 2, [{ chain: 's1', seq: 11, head_hash: H('c') }, { chain: 's2', seq: 4, head_hash: H('b') }, { chain: 's3', seq: 1, head_hash: H('d') }], key);
    expect(compareChainSets(a, grown)).toEqual([]);
    const dropped = signChainSet('x', 2, [{ chain: 's1', seq: 11, head_hash: H('c') }], key);
    expect(compareChainSets(a, dropped).map((f) => [f.kind, f.chain])).toEqual([['chain_dropped', 's2']]);
    const back = signChainSet('x', 2, [{ chain: 's1', seq: 9, head_hash: H('c') }, { chain: 's2', seq: 4, head_hash: H('b') }], key);
    expect(compareChainSets(a, back).map((f) => [f.kind, f.chain])).toEqual([['chain_set_backwards', 's1']]);
  });

  describe('in the database', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase('sl_chainset');
      await migrate(db.url);
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('two instances: the one holding the chain-set lock signs, the other never; unchanged heads are not signed again; the other takes over when the signer stops; verify finds a dropped chain', async () => {
      const log = pino({ level: 'silent' });
      const file = join(dir, 'chain-sets.jsonl');
      const a = new ChainSetCheckpointer({ databaseUrl: db.url, key, log, intervalMs: 1000, file });
      const b = new ChainSetCheckpointer({ databaseUrl: db.url, key, log, intervalMs: 1000 });
      try {
        await query(db.url, "INSERT INTO chains (chain, head_seq, head_hash) VALUES ('s1', 5, decode(repeat('aa', 32), 'hex')), ('s2', 3, decode(repeat('bb', 32), 'hex'))");
        // At once: the lock lets one sign; the other finds it held.
        const [ta, tb] = await Promise.all([a.tick(), b.tick()]);
        expect([ta, tb].filter(Boolean)).toHaveLength(1);
        expect([a.leading, b.leading].filter(Boolean)).toHaveLength(1);
        const [leader, other] = a.leading ? [a, b] : [b, a];
        expect(await leader.tick()).toBeUndefined();
        await query(db.url, "UPDATE chains SET head_seq = 6, head_hash = decode(repeat('cc', 32), 'hex') WHERE chain = 's1'");
        await query(db.url, "INSERT INTO chains (chain) VALUES ('s3')");
        // A head moved: still only the lock holder signs.
        expect(await other.tick()).toBeUndefined();
        const second = await leader.tick();
        expect(second).toMatchObject({ n: 2, chains: 3 });
        expect((await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM chain_set_checkpoints'))[0]!.n).toBe(2);
        // Instance a appends what it signed to its file (the copy outside the database).
        expect(existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').length : 0).toBe(leader === a ? 2 : 0);
        // The signer stops: it signs the heads as they are first (a head moved), then its session
        // ends and the lock with it; the other signs from its next tick.
        await query(db.url, "UPDATE chains SET head_seq = 7, head_hash = decode(repeat('dd', 32), 'hex') WHERE chain = 's1'");
        await leader.close();
        expect((await query<{ n: number; seq: string }>(db.url, "SELECT n::int, record->'heads'->0->>'seq' AS seq FROM chain_set_checkpoints ORDER BY n DESC LIMIT 1"))[0]).toEqual({ n: 3, seq: '7' });
        await query(db.url, "UPDATE chains SET head_seq = 8, head_hash = decode(repeat('ee', 32), 'hex') WHERE chain = 's1'");
        expect(await other.tick()).toMatchObject({ n: 4, chains: 3 });
        expect(other.leading).toBe(true);
      } finally {
        await a.close();
        await b.close();
      }

      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        expect(await verifyChainSets(c, [key])).toEqual({ findings: [], checkpoints: 4, chains: 3 });
        // A chain dropped by someone who can bypass the guards (the triggers are the owner's).
        await c.query("SET session_replication_role = replica; DELETE FROM chains WHERE chain = 's2'; SET session_replication_role = origin");
        const r = await verifyChainSets(c, [key]);
        expect(r.findings.map((f) => [f.kind, f.chain])).toEqual([['chain_dropped', 's2']]);
        // A head moved backwards.
        await c.query("SET session_replication_role = replica; UPDATE chains SET head_seq = 2 WHERE chain = 's1'; SET session_replication_role = origin");
        expect((await verifyChainSets(c, [key])).findings.map((f) => [f.kind, f.chain]).sort()).toEqual([['chain_dropped', 's2'], ['chain_set_head_mismatch', 's1']]);
        // The signed rows themselves are append-only.
        await expect(c.query('DELETE FROM chain_set_checkpoints')).rejects.toThrow(/append-only/);
      } finally {
        await c.end();
      }
    });
  });
});
