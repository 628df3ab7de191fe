/**
 * Archive -> drop -> restore -> verify, on a real PostgreSQL, through the real writer, checkpointer,
 * archive, restore and `verify` commands. Daily partitions 2024-03-01..06; rows at chosen times:
 *
 *   web1  03-01: seq 1..300    03-02: 301..500   03-03: 501..600
 *   web2  03-01: seq 1..50                       03-03: 51..80
 *   web3                                         03-03: 1..40        03-05: 41..100
 *
 * Policy default=1y with a 1-day hot window: at 03-03 12:00 only 03-01 is due; at 03-05 12:00 also
 * 03-02 and 03-03 (which by then holds the first retention record too).
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { ArchiveRefusedError, runArchive, type ArchivedPartition } from '../../src/retention/archive.js';
import type { ArchiveManifest, ArchiveRow } from '../../src/retention/format.js';
import { ensurePartitions, listPartitions } from '../../src/retention/partitions.js';
import { parsePolicy } from '../../src/retention/policy.js';
import { RETENTION_CHAIN, appendRetentionRecord, boundaryToJson, retentionBoundaries, retentionRecord } from '../../src/retention/record.js';
import { RestoreRefusedError, restoreArchive } from '../../src/retention/restore.js';
import { verifyArchive } from '../../src/retention/verify-archive.js';
import { recomputeHash } from '../../src/verify/verify.js';
import { toStoredRow } from '../../src/retention/format.js';
import { MerkleAccumulator } from '../../src/checkpoints/merkle.js';
import { loadOrCreateSigningKey, loadPublicKey } from '../../src/checkpoints/signing.js';
import { cli, createEnv, record, snapshotRows, us, writeChains, type RetentionEnv } from './helpers.js';

let env: RetentionEnv;
const policy = parsePolicy('default=1y', { hot: '1d' });
const at = (iso: string): Date => new Date(iso);
let original: Array<Record<string, unknown>>;
let first: ArchivedPartition;

function rows(from: number, to: number, day: string): ReturnType<typeof record>[] {
  const out = [];
  for (let i = from; i <= to; i++) out.push(record(i, us(`${day}T00:00:00Z`) + i * 60_000_123));
  return out;
}

async function archive(now: string, extra: Partial<Parameters<typeof runArchive>[1]> = {}): Promise<ArchivedPartition[]> {
  const run = await runArchive(env.url, { policy, now: at(now), clock: () => Date.parse(now), dir: env.archiveDir, key: env.key, checkpointFile: env.checkpointFile, ...extra });
  return run.archived;
}

async function verifyCli(...extra: string[]): Promise<{ code: number; out: string }> {
  return cli(['verify', '--database-url', env.url, '--checkpoints', env.checkpointFile, '--public-key', env.pubFile, ...extra]);
}

/** Runs SQL with the append-only guards off (the attacker's move). */
async function asAttacker(sql: string, values: unknown[] = []): Promise<void> {
  const c = await env.pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
    await c.query(sql, values);
    await c.query('ALTER TABLE ledger ENABLE TRIGGER USER');
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    c.release();
  }
}

beforeAll(async () => {
  env = await createEnv('sl_ret_cycle');
  const c = new pg.Client({ connectionString: env.url });
  await c.connect();
  await ensurePartitions(c, { interval: 'daily', ahead: 5, now: at('2024-03-01T05:00:00Z') });
  await c.end();
  // Rows 1..300 of web1 spread over 03-01 (i * ~60 s), and so on; see the header.
  const day = (d: string, from: number, to: number): ReturnType<typeof record>[] =>
    rows(from, to, d).map((r, k) => ({ ...r, receivedAtUs: us(`${d}T00:00:00Z`) + (k + 1) * 250_000_001 }));
  await writeChains(env, {
    web1: [...day('2024-03-01', 1, 300), ...day('2024-03-02', 301, 500), ...day('2024-03-03', 501, 600)],
    web2: [...day('2024-03-01', 1, 50), ...day('2024-03-03', 51, 80)],
    web3: [...day('2024-03-03', 1, 40), ...day('2024-03-05', 41, 100)],
  });
  original = await snapshotRows(env.pool, 'ledger_p20240301');
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

describe('archive -> drop -> restore -> verify', () => {
  it('retention: the rows landed in their daily partitions and verify passes before anything leaves', async () => {
    expect(original).toHaveLength(350);
    const counts = await env.pool.query<{ p: string; n: string }>("SELECT tableoid::regclass::text AS p, count(*) AS n FROM ledger GROUP BY 1 ORDER BY 1");
    expect(counts.rows.map((r) => [r.p, Number(r.n)])).toEqual([
      ['ledger_p20240301', 350],
      ['ledger_p20240302', 200],
      ['ledger_p20240303', 170],
      ['ledger_p20240305', 60],
    ]);
    const v = await verifyCli();
    expect(v.out).toMatch(/^intact: 780 rows in 3 chain/m);
    expect(v.code).toBe(0);
  });

  it('retention: a partition the policy still requires in the database is refused, and nothing leaves', async () => {
    await expect(archive('2024-03-03T12:00:00Z', { partition: 'ledger_p20240302' })).rejects.toThrow(ArchiveRefusedError);
    await expect(archive('2024-03-03T12:00:00Z', { partition: 'ledger_p20240302' })).rejects.toThrow(/not due: the policy keeps it in the database until 2024-03-04/);
    expect((await listPartitions(env.pool)).map((p) => p.name)).toContain('ledger_p20240302');
  });

  it('retention: archive writes, verifies, then detaches and drops only the due partition, and records it in the ledger', async () => {
    const done = await archive('2024-03-03T12:00:00Z');
    expect(done.map((a) => a.partition)).toEqual(['ledger_p20240301']);
    first = done[0]!;
    expect(first.rows).toBe(350);
    expect(first.chains.map((c) => [c.chain, c.first_seq, c.last_seq])).toEqual([
      ['web1', 1, 300],
      ['web2', 1, 50],
    ]);
    const names = (await listPartitions(env.pool)).map((p) => p.name);
    expect(names).not.toContain('ledger_p20240301');
    expect(names).toContain('ledger_p20240302');
    // The file on disk is what the manifest says.
    const manifest = JSON.parse(await readFile(first.manifestPath, 'utf8')) as ArchiveManifest;
    expect(createHash('sha256').update(await readFile(first.dataPath)).digest('hex')).toBe(manifest.file.sha256);
    expect(manifest.chains[0]!.checkpoint.seq).toBeGreaterThanOrEqual(300);
    // The record: what left, and the boundaries verify will start from.
    const b = await retentionBoundaries(env.pool, { keys: [await loadPublicKey(env.pubFile)] });
    expect([...b.keys()].sort()).toEqual(['web1', 'web2']);
    expect(b.get('web1')!.firstSeq).toBe(301);
    expect(b.get('web1')!.prevHash.toString('hex')).toBe(manifest.chains[0]!.last_hash);
    const rec = await env.pool.query<{ seq: string; message: string }>("SELECT seq, event->>'message' AS message FROM ledger WHERE chain = $1", [RETENTION_CHAIN]);
    expect(rec.rows).toHaveLength(1);
    expect(rec.rows[0]!.message).toMatch(/partition ledger_p20240301 \(350 rows: web1 1\.\.300, web2 1\.\.50\) archived to .* and dropped/);
    // The interlock: the archive is recorded; other partitions still cannot be dropped by hand.
    await expect(env.pool.query('DROP TABLE ledger_p20240302')).rejects.toThrow(/DROP of public\.ledger_p20240302 is refused/);
    await expect(env.pool.query('ALTER TABLE ledger DETACH PARTITION ledger_p20240302')).rejects.toThrow(/detaching ledger_p20240302 from the ledger is refused/);
    await expect(env.pool.query('TRUNCATE ledger_p20240302')).rejects.toThrow(/append-only/);
  });

  it('retention: verify passes across the retention boundary (rows, heads, signed checkpoints)', async () => {
    const v = await verifyCli();
    expect(v.out).toMatch(/^intact: 431 rows in 4 chain/m);
    expect(v.code).toBe(0);
  });

  it('retention: verify --archive checks the archive offline with the public key only', async () => {
    const v = await cli(['verify', '--archive', first.dataPath, '--public-key', env.pubFile]);
    expect(v.out).toMatch(/^intact: archive of ledger_p20240301 .* 350 rows: web1 1\.\.300 .* web2 1\.\.50/m);
    expect(v.code).toBe(0);
    // Without the right key it cannot vouch for the checkpoints.
    await loadOrCreateSigningKey(join(env.dir, 'other.key'));
    const w = await cli(['verify', '--archive', first.manifestPath, '--public-key', join(env.dir, 'other.key.pub')]);
    expect(w.code).toBe(1);
    expect(w.out).toMatch(/checkpoint_signature: the covering checkpoint is signed by key [0-9a-f]{32}, not by a given --public-key/);
  });

  it('retention: restore loads the archive into its own schema, verified, equal to the originals byte for byte', async () => {
    const r = await cli(['restore', '--database-url', env.url, '--public-key', env.pubFile, first.dataPath]);
    expect(r.out).toMatch(/restored 350 rows of ledger_p20240301 into schema restore_ledger_p20240301 \(verified\)/);
    expect(r.code).toBe(0);
    const restored = await snapshotRows(env.pool, 'restore_ledger_p20240301.ledger');
    expect(restored).toEqual(original);
    // The raw bytes that are not UTF-8 came back exactly.
    expect(restored.some((x) => String(x.raw).endsWith('ff00800a095c'))).toBe(true);
    // Restoring again into the same schema is refused; the live ledger is untouched.
    await expect(restoreArchive(env.url, first.dataPath, { keys: [await loadPublicKey(env.pubFile)] })).rejects.toThrow(/schema restore_ledger_p20240301 exists already/);
    expect((await verifyCli()).code).toBe(0);
  });

  it('retention: a corrupted archive is refused with a clear error, by verify --archive and by restore', async () => {
    const dir = join(env.dir, 'corrupt');
    await mkdir(dir);
    const data = join(dir, 'ledger_p20240301.jsonl.gz');
    const manifestPath = join(dir, 'ledger_p20240301.manifest.json');
    await copyFile(first.manifestPath, manifestPath);
    const bytes = await readFile(first.dataPath);
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x40;
    await writeFile(data, damaged);
    const v = await cli(['verify', '--archive', data, '--public-key', env.pubFile]);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/file_digest: .* has SHA-256 [0-9a-f]{64} .* the manifest says [0-9a-f]{64} .*: the file was changed or damaged/);
    expect(v.out).toMatch(/file_corrupt: .* does not decompress|hash_mismatch|malformed_row/);
    const pub = [await loadPublicKey(env.pubFile)];
    await expect(restoreArchive(env.url, data, { keys: pub, schema: 'restore_damaged' })).rejects.toThrow(RestoreRefusedError);
    await expect(restoreArchive(env.url, data, { keys: pub, schema: 'restore_damaged' })).rejects.toThrow(/the archive does not verify .*file_digest: .*nothing was restored/);
    expect((await env.pool.query("SELECT 1 FROM pg_namespace WHERE nspname = 'restore_damaged'")).rowCount).toBe(0);
    // Cut short (a truncated upload).
    await writeFile(data, bytes.subarray(0, bytes.length - 200));
    const t = await cli(['verify', '--archive', data, '--public-key', env.pubFile]);
    expect(t.code).toBe(1);
    expect(t.out).toMatch(/file_corrupt: .* does not decompress .* \(damaged or truncated archive\)/);
    // A missing manifest: cannot check at all (exit 2).
    const m = await cli(['verify', '--archive', join(dir, 'nope.jsonl.gz'), '--public-key', env.pubFile]);
    expect(m.code).toBe(2);
    expect(m.out).toMatch(/verify could not check the archive: .*nope\.manifest\.json: cannot read the archive manifest/);
  });

  it('retention: an archive edited consistently (digest updated, even hashes recomputed) still fails against the signed root', async () => {
    const lines = gunzipSync(await readFile(first.dataPath)).toString('utf8').trimEnd().split('\n');
    const manifest = JSON.parse(await readFile(first.manifestPath, 'utf8')) as ArchiveManifest;
    const write = async (name: string, ls: string[], patch: (m: ArchiveManifest) => void = () => {}): Promise<string> => {
      const dir = join(env.dir, name);
      await mkdir(dir);
      const gz = gzipSync(Buffer.from(`${ls.join('\n')}\n`));
      const m = structuredClone(manifest);
      m.file.sha256 = createHash('sha256').update(gz).digest('hex');
      m.file.bytes = gz.length;
      patch(m);
      await writeFile(join(dir, m.file.name), gz);
      await writeFile(join(dir, 'ledger_p20240301.manifest.json'), JSON.stringify(m));
      return join(dir, m.file.name);
    };
    // 1. One message changed, digest updated: the row no longer matches its hash.
    // Format v3: the row's stored event (these test events are stored whole) and the event shown.
    const edited = lines.map((l, i) => (i === 99 ? l.replaceAll('event 100 (', 'nothing happened (') : l));
    expect(edited[99]).not.toBe(lines[99]);
    const r1 = await verifyArchive(await write('edited', edited), { keys: [env.key] });
    expect(r1.findings.map((f) => `${f.kind}@${f.chain}:${f.seq}`)).toEqual(['hash_mismatch@web1:100']);
    // 2. The same change with every hash after it recomputed and the manifest made to agree: only the
    //    signed checkpoint (which the forger cannot re-sign) tells.
    let prev: Buffer | undefined;
    const acc = new MerkleAccumulator();
    const rechained = edited.map((l, i) => {
      const row = JSON.parse(l) as ArchiveRow;
      if (row.chain !== 'web1') return l;
      if (i >= 99) {
        row.prev_hash = prev!.toString('hex');
        row.hash = recomputeHash(Buffer.from(row.prev_hash, 'hex'), toStoredRow(row, JSON.stringify(row.syslog), JSON.stringify(row.event))).hash.toString('hex');
      }
      prev = Buffer.from(row.hash, 'hex');
      acc.append(prev);
      return JSON.stringify(row);
    });
    const r2 = await verifyArchive(
      await write('rechained', rechained, (m) => {
        const c = m.chains[0]!;
        c.last_hash = prev!.toString('hex');
        const snap = acc.snapshot();
        c.frontier_after = { size: snap.size, hashes: snap.frontier.map((h) => h.toString('hex')) };
        c.merkle_root = acc.root().toString('hex');
      }),
      { keys: [env.key] },
    );
    // Rows, links, frontier and root agree with each other now; the signed root does not.
    expect(r2.findings.length).toBeGreaterThan(0);
    expect(new Set(r2.findings.map((f) => `${f.kind}@${f.chain}`))).toEqual(new Set(['checkpoint_mismatch@web1']));
    expect(r2.findings.at(-1)!.detail).toMatch(/Merkle root of rows 1\.\.\d+ is [0-9a-f]{64}, the signed checkpoint says/);
  });

  it('retention: later partitions leave too, the retention records\' own partition included, and verify still passes', async () => {
    const done = await archive('2024-03-05T12:00:00Z');
    expect(done.map((a) => a.partition)).toEqual(['ledger_p20240302', 'ledger_p20240303']);
    expect(done[1]!.chains.map((c) => [c.chain, c.first_seq, c.last_seq])).toEqual([
      [RETENTION_CHAIN, 1, 1],
      ['web1', 501, 600],
      ['web2', 51, 80],
      ['web3', 1, 40],
    ]);
    const b = await retentionBoundaries(env.pool, { keys: [env.key] });
    expect(Object.fromEntries([...b].map(([c, x]) => [c, x.firstSeq]))).toEqual({ web1: 601, web2: 81, web3: 41, [RETENTION_CHAIN]: 2 });
    const v = await verifyCli();
    expect(v.out).toMatch(/^intact: 62 rows in 4 chain/m);
    expect(v.code).toBe(0);
    for (const a of done) expect((await cli(['verify', '--archive', a.manifestPath, '--public-key', env.pubFile])).code).toBe(0);
  });

  it('retention: verify still fails for tampering after the boundary', async () => {
    // A changed row after the boundary.
    const raw = (await env.pool.query<{ raw: Buffer }>("SELECT raw FROM ledger WHERE chain = 'web3' AND seq = 70")).rows[0]!.raw;
    await asAttacker("UPDATE ledger SET raw = 'forged'::bytea WHERE chain = 'web3' AND seq = 70");
    const changed = await verifyCli();
    expect(changed.code).toBe(1);
    expect(changed.out).toMatch(/TAMPERED chain=web3 seq=70 hash_mismatch/);
    await asAttacker("UPDATE ledger SET raw = $1 WHERE chain = 'web3' AND seq = 70", [raw]);
    expect((await verifyCli()).code).toBe(0);

    // The first row after the boundary deleted: the boundary no longer matches.
    await env.pool.query('CREATE TABLE saved AS SELECT * FROM ledger WHERE chain = $1 AND seq <= 60', ['web3']);
    await asAttacker("DELETE FROM ledger WHERE chain = 'web3' AND seq = 41");
    const gone = await verifyCli();
    expect(gone.code).toBe(1);
    expect(gone.out).toMatch(/TAMPERED chain=web3 seq=42 seq_gap: seq 41\.\.41 missing/);

    // Rows after the boundary deleted and a forged retention record vouching for the new start:
    // it is not covered by a signed checkpoint, so verify does not believe it.
    await asAttacker("DELETE FROM ledger WHERE chain = 'web3' AND seq <= 60");
    const b = await retentionBoundaries(env.pool, { keys: [env.key] });
    const saved = (await env.pool.query<{ hash: Buffer }>('SELECT hash FROM saved ORDER BY seq')).rows.map((r) => r.hash);
    const acc = new MerkleAccumulator();
    acc.restore(b.get('web3')!.frontier);
    for (const h of saved) acc.append(h);
    const boundaries = Object.fromEntries([...b].map(([c, x]) => [c, boundaryToJson(x)]));
    boundaries.web3 = boundaryToJson({ firstSeq: 61, prevHash: saved[saved.length - 1]!, frontier: acc.snapshot() });
    const c = await env.pool.connect();
    try {
      await c.query('BEGIN');
      await appendRetentionRecord(
        c as unknown as pg.Client,
        retentionRecord(
          { v: 1, action: 'archive', partition: { name: 'ledger_p20240305', from: '', to: '' }, rows: 20, archive: { path: '/dev/null', sha256: '0'.repeat(64), bytes: 0, manifest_sha256: '' }, removed: [], boundaries },
          Date.parse('2024-03-05T13:00:00Z') * 1000,
        ),
      );
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    const forged = await verifyCli();
    expect(forged.code).toBe(1);
    expect(forged.out).toMatch(/TAMPERED chain=web3 seq=61 seq_gap: seq 41\.\.60 missing/);
    // (With --no-checkpoints only the hash chains are checked, and the latest record is believed:
    // that mode cannot tell, as documented.)
    expect((await verifyCli('--no-checkpoints')).code).toBe(0);
  });

  it('retention: archive refuses to sign over a retention record it did not write', async () => {
    await expect(archive('2024-03-06T12:00:00Z')).rejects.toThrow(/chain syslog-ledger\.retention has rows after its last signed checkpoint \(seq 4\.\.4\) that no archive run signed: refusing to sign over them/);
    // The attacker's changes undone: the forged record removed, web3's rows put back.
    await asAttacker('DELETE FROM ledger WHERE chain = $1 AND seq = 4', [RETENTION_CHAIN]);
    await env.pool.query('UPDATE chains SET head_seq = 3, head_hash = (SELECT hash FROM ledger WHERE chain = $1 AND seq = 3) WHERE chain = $1', [RETENTION_CHAIN]);
    await env.pool.query('INSERT INTO ledger SELECT * FROM saved');
    expect((await verifyCli()).code).toBe(0);
  });

  it('retention: --expire deletes archives past their retention and records it; everything left still verifies', async () => {
    const run = await runArchive(env.url, { policy, now: at('2025-04-01T00:00:00Z'), clock: () => Date.parse('2025-04-01T00:00:00Z'), dir: env.archiveDir, key: env.key, checkpointFile: env.checkpointFile, expire: true });
    expect(run.archived.map((a) => a.partition)).toEqual(['ledger_p20240304', 'ledger_p20240305', 'ledger_p20240306']);
    expect(run.expired).toEqual(['ledger_p20240301', 'ledger_p20240302', 'ledger_p20240303']);
    await expect(readFile(first.dataPath)).rejects.toThrow(/ENOENT/);
    await expect(readFile(first.manifestPath)).rejects.toThrow(/ENOENT/);
    const msgs = (await env.pool.query<{ m: string }>("SELECT event->>'message' AS m FROM ledger WHERE chain = $1 ORDER BY seq", [RETENTION_CHAIN])).rows.map((r) => r.m);
    expect(msgs.filter((m) => /^archive .* of partition ledger_p2024030[123] \(\d+ rows\) deleted: its retention period has passed$/.test(m))).toHaveLength(3);
    const v = await verifyCli();
    expect(v.out).toMatch(/^intact: \d+ rows in 4 chain/m);
    expect(v.code).toBe(0);
    const last = run.archived.find((a) => a.partition === 'ledger_p20240305')!;
    expect(last.chains.map((c) => [c.chain, c.first_seq, c.last_seq])).toEqual([
      [RETENTION_CHAIN, 2, 3],
      ['web3', 41, 100],
    ]);
    expect((await cli(['verify', '--archive', last.dataPath, '--public-key', env.pubFile])).code).toBe(0);
    // The next pass finds the archives just made past their retention too (2024-03 + 1y); then nothing.
    const pass = () => runArchive(env.url, { policy, now: at('2025-04-01T00:00:00Z'), dir: env.archiveDir, key: env.key, checkpointFile: env.checkpointFile, expire: true });
    expect((await pass()).expired).toEqual(['ledger_p20240304', 'ledger_p20240305', 'ledger_p20240306']);
    const again = await pass();
    expect([again.archived.length, again.expired.length]).toEqual([0, 0]);
    expect((await verifyCli()).code).toBe(0);
  });
});
