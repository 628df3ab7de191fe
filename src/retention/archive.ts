/**
 * `syslog-ledger archive`: moves each partition that has left its hot window out of the database,
 * never losing verifiability (docs/retention.md).
 *
 *   per due partition, oldest first:
 *     check    each chain's rows in it are the chain's oldest remaining ones, contiguous
 *     export   rows (chain, seq order), each re-hashed and linked on the way  ──> <p>.jsonl.gz (gzip)
 *              + covering signed checkpoint per chain, Merkle frontier/root   ──> <p>.manifest.json
 *     durable  fsync both files and the directory
 *     re-read  verifyArchive() of what is on disk, with the public key only: any finding stops here
 *     drop     ONE transaction: ledger_archives row, DETACH, recount, retention record (boundaries),
 *              DROP TABLE, signed checkpoint of the retention chain; nothing is dropped unless all
 *              of it commits
 *     anchor   the checkpoint appended to the checkpoint file (caught up at the next run after a crash)
 *
 * `--expire` then deletes archive files whose retention has passed (every rule, now and at archive
 * time), recording each deletion in the ledger.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import { LedgerError } from '../errors.js';
import { db, run, runRaw, type LedgerSelected } from '../ledger/db.js';
import { CANONICAL_VERSION } from '../ledger/canonical.js';
import { keyMap, parseCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import { STORED_MIN_LEVEL, insertNodes, readRowHashes, type PendingNode } from '../checkpoints/merkle-store.js';
import type { SigningKey, VerifyingKey } from '../checkpoints/signing.js';
import { ZERO_HASH } from '../ledger/types.js';
import { rowFindings } from '../verify/verify.js';
import { ARCHIVE_VERSION, DATA_SUFFIX, MANIFEST_SUFFIX, MANIFEST_TYPE, ROW_SELECT, fromDbRow, ledgerRowFrom, toStoredRow, type ArchiveManifest, type ChainRange, type DbArchiveRow } from './format.js';
import { planRetention, quoteIdent, type PartitionPlan, type RetentionPlan } from './plan.js';
import { formatPeriod, rowClasses, type RetentionPolicy, type SourceClass } from './policy.js';
import {
  RETENTION_CHAIN,
  appendCheckpoint,
  appendRetentionRecord,
  boundaryToJson,
  catchUpCheckpointFile,
  lockRetentionChain,
  ownBoundary,
  retentionBoundaries,
  retentionRecord,
  signRetentionHead,
  type BoundaryJson,
  type RetentionBoundary,
  type RetentionDetails,
} from './record.js';
import { expireArchive } from './expire.js';
import { fsyncDir, fsyncFile } from './files.js';
import { verifyArchive } from './verify-archive.js';

/** Archiving stopped before anything was dropped; the message says why and what to do. */
export class ArchiveRefusedError extends LedgerError {
  readonly canContinue = false;
  constructor(
    readonly partition: string | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(partition ? `${partition}: ${message}` : message, options);
  }
}

export const DEFAULT_ARCHIVE_DIR = './data/archive';

export interface ArchiveOptions {
  readonly policy: RetentionPolicy;
  /** Archive root; files go to <dir>/<ledger_id>/. */
  readonly dir: string;
  /** Signs the retention chain's checkpoints. */
  readonly key: SigningKey;
  /** Keys accepted on covering checkpoints (rotated keys); the signing key's public half is always accepted. */
  readonly publicKeys?: readonly VerifyingKey[];
  readonly checkpointFile: string;
  readonly now?: Date;
  /** Archive only this partition (it must be due). */
  readonly partition?: string;
  /** Also delete archives past their retention. */
  readonly expire?: boolean;
  /** Plan only: archive nothing. */
  readonly dryRun?: boolean;
  /** How long the drop transaction waits for the ledger's lock (default 10 s). */
  readonly lockTimeoutMs?: number;
  /** Clock (ms since the epoch) for the retention records' receive time and checkpoint time; tests only. */
  readonly clock?: () => number;
  readonly log?: Logger;
}

export interface ArchivedPartition {
  readonly partition: string;
  readonly rows: number;
  readonly dataPath: string;
  readonly manifestPath: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly chains: readonly ChainRange[];
  /** Seq of its retention record in RETENTION_CHAIN. */
  readonly recordSeq: number;
}

export interface ArchiveRun {
  readonly plan: RetentionPlan;
  readonly archived: ArchivedPartition[];
  readonly expired: string[];
}

/** Runs the archive (and expiry) pass under `opts.policy`. Throws ArchiveRefusedError when it must stop. */
export async function runArchive(databaseUrl: string, opts: ArchiveOptions): Promise<ArchiveRun> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger archive' });
  await client.connect();
  try {
    if (!(await lockRetentionChain(client))) throw new ArchiveRefusedError(null, `another syslog-ledger archive is running (chain ${RETENTION_CHAIN} is locked)`);
    const keys = [{ publicKey: opts.key.publicKey, keyId: opts.key.keyId }, ...(opts.publicKeys ?? [])];
    const now = opts.now ?? new Date();
    const plan = await planRetention(client, opts.policy, now);
    const due = plan.partitions.filter((p) => p.action === 'archive' || p.action === 'empty-archive');
    if (opts.partition !== undefined) {
      const pp = plan.partitions.find((p) => p.partition.name === opts.partition);
      if (pp === undefined) throw new ArchiveRefusedError(opts.partition, 'no such ledger partition');
      if (!due.includes(pp)) {
        throw new ArchiveRefusedError(
          opts.partition,
          pp.requirement ? `not due: the policy keeps it in the database until ${pp.requirement.archiveAt.toISOString()} (${pp.requirement.hotRule.source})` : 'the DEFAULT partition is never archived',
        );
      }
    }
    const archived: ArchivedPartition[] = [];
    const expired: string[] = [];
    if (opts.dryRun) return { plan, archived, expired };
    await checkRetentionTail(client, opts, keys);
    const ledgerId = (await run(client, db.selectFrom('ledger_meta').select(sql<string>`ledger_id::text`.as('id'))))[0]!.id;
    const dir = resolve(opts.dir, ledgerId);
    await mkdir(dir, { recursive: true });
    for (const pp of due) {
      if (opts.partition !== undefined && pp.partition.name !== opts.partition) continue;
      archived.push(await archivePartition(client, pp, { ...opts, now, dir, ledgerId, keys }));
    }
    if (opts.expire) {
      for (const a of plan.archives) if (a.action === 'expire' || a.action === 'deleted') if (await expireArchive(client, a.partition, a.path, { ...opts, keys })) expired.push(a.partition);
    }
    return { plan, archived, expired };
  } finally {
    await client.end().catch(() => {});
  }
}

interface Ctx extends ArchiveOptions {
  readonly now: Date;
  readonly dir: string;
  readonly ledgerId: string;
  readonly keys: readonly VerifyingKey[];
}

/**
 * Before anything else: the checkpoint file catches up with the database (a run that stopped between
 * commit and file append), and the retention chain must end at a signed checkpoint. Records and their
 * checkpoints commit together, so rows after the last one were not written by this command: refuse
 * to sign over them.
 */
async function checkRetentionTail(client: pg.Client, opts: ArchiveOptions, keys: readonly VerifyingKey[]): Promise<void> {
  const signed = await catchUpCheckpointFile(client, opts.checkpointFile, keys);
  const head = Number((await run(client, db.selectFrom('chains').select(sql<string>`coalesce(max(head_seq), 0)`.as('s')).where('chain', '=', RETENTION_CHAIN)))[0]!.s);
  if (head > signed) {
    throw new ArchiveRefusedError(
      null,
      `chain ${RETENTION_CHAIN} has rows after its last signed checkpoint (seq ${signed + 1}..${head}) that no archive run signed: ` +
        'refusing to sign over them; run syslog-ledger verify and investigate',
    );
  }
}

/** Per chain of a partition: its seq range there. */
interface PartChain {
  chain: string;
  first: number;
  last: number;
  rows: number;
}

/** A partition of the ledger as a table of Kysely queries (its columns are the ledger's). */
const partition = (table: string) => sql<LedgerSelected>`${sql.id(table)}`.as('part');

async function chainsOf(client: pg.Client, table: string): Promise<PartChain[]> {
  const rows = await run(
    client,
    db
      .selectFrom(partition(table))
      .select(['chain', sql<string>`min(seq)`.as('first'), sql<string>`max(seq)`.as('last'), sql<string>`count(*)`.as('n')])
      .groupBy('chain')
      .orderBy('chain'),
  );
  return rows.map((x) => ({ chain: x.chain, first: Number(x.first), last: Number(x.last), rows: Number(x.n) }));
}

async function archivePartition(client: pg.Client, pp: PartitionPlan, ctx: Ctx): Promise<ArchivedPartition> {
  const p = pp.partition;
  const name = p.name;
  const boundaries = await retentionBoundaries(client, { keys: ctx.keys });
  const chains = await chainsOf(client, name);

  // 1. Each chain's rows here are its oldest remaining ones, contiguous, and none is elsewhere.
  for (const c of chains) {
    const want = boundaries.get(c.chain)?.firstSeq ?? 1;
    if (c.first !== want) {
      throw new ArchiveRefusedError(name, `chain "${c.chain}" starts here at seq ${c.first}, but its oldest remaining row should be seq ${want}: archive older partitions first, or run syslog-ledger verify`);
    }
    const elsewhere = await run(
      client,
      db.selectFrom('ledger').select('seq').where('chain', '=', c.chain).where('seq', '<=', c.last).where(sql<boolean>`tableoid <> ${name}::regclass`).limit(1),
    );
    if (c.rows !== c.last - c.first + 1 || elsewhere.length > 0) {
      throw new ArchiveRefusedError(name, `rows of chain "${c.chain}" seq ${c.first}..${c.last} are not all in this partition (receive clock went backwards?, or rows missing): it cannot leave alone`);
    }
  }

  // 2. Export, re-hashing every row.
  const dataName = name + DATA_SUFFIX;
  const dataPath = join(ctx.dir, dataName);
  const manifestPath = join(ctx.dir, name + MANIFEST_SUFFIX);
  const tmp = `${dataPath}.tmp-${process.pid}`;
  const ranges = new Map<string, { c: PartChain; acc: MerkleAccumulator; nodes: PendingNode[]; prev: Buffer; firstHash: string; lastHash: string; before: RetentionBoundary | undefined }>();
  const classes: Partial<Record<SourceClass, number>> = {};
  let rows = 0;
  const sha = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  async function* lines(): AsyncGenerator<string> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      await client.query(`DECLARE archive_cur NO SCROLL CURSOR FOR ${ROW_SELECT} FROM ${ledgerRowFrom(quoteIdent(name))} ORDER BY l.chain, l.seq`);
      for (;;) {
        const res = await client.query<DbArchiveRow>('FETCH 2000 FROM archive_cur');
        if (res.rows.length === 0) break;
        let out = '';
        for (const db of res.rows) {
          const row = fromDbRow(db);
          let st = ranges.get(row.chain);
          if (st === undefined) {
            const c = chains.find((x) => x.chain === row.chain)!;
            const before = boundaries.get(row.chain);
            const nodes: PendingNode[] = [];
            const acc = new MerkleAccumulator({ onNode: (l, i, h) => nodes.push([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL });
            if (before) acc.restore(before.frontier);
            st = { c, acc, nodes, prev: before?.prevHash ?? ZERO_HASH, firstHash: row.hash, lastHash: row.hash, before };
            ranges.set(row.chain, st);
          }
          const stored = toStoredRow(row, db.syslog ?? 'null', db.event ?? 'null');
          // A v3 row stores no prev_hash: the first of a chain in this partition chains from the archived boundary.
          if (stored.prevHash.length === 0) {
            stored.prevHash = st.prev;
            row.prev_hash = st.prev.toString('hex');
          }
          const re = rowFindings(stored.prevHash, stored);
          const problem = !stored.prevHash.equals(st.prev)
            ? 'prev_hash is not the previous row\'s hash'
            : !re.hashOk
              ? 'row content does not match its hash'
              : re.badColumns.length > 0
                ? 'lifted columns disagree with the event'
                : null;
          if (problem) throw new ArchiveRefusedError(name, `the ledger is not intact at chain "${row.chain}" seq ${row.seq} (${problem}): nothing archived; run syslog-ledger verify`);
          st.acc.append(stored.hash);
          st.prev = stored.hash;
          st.lastHash = row.hash;
          const cls = rowClasses(row);
          for (const k of cls.length ? cls : (['default'] as const)) classes[k] = (classes[k] ?? 0) + 1;
          rows += 1;
          out += `${JSON.stringify(row)}\n`;
        }
        yield out;
      }
    } finally {
      await client.query('COMMIT').catch(() => {});
    }
  }
  try {
    await pipeline(lines, createGzip(), tap, createWriteStream(tmp, { mode: 0o640 }));
    await fsyncFile(tmp);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof ArchiveRefusedError) throw err;
    throw new ArchiveRefusedError(name, `writing ${tmp} failed: ${(err as Error).message}; nothing was dropped`, { cause: err });
  }

  // 3. Per chain: the covering signed checkpoint, and the row hashes up to it.
  const chainRanges: ChainRange[] = [];
  for (const c of chains) {
    const st = ranges.get(c.chain)!;
    const cp = await coveringCheckpoint(client, c.chain, c.last, ctx.keys, ctx.ledgerId);
    if (cp === undefined) {
      await rm(tmp, { force: true });
      throw new ArchiveRefusedError(name, `no signed checkpoint covers chain "${c.chain}" up to seq ${c.last} (serve signs within 1 s; a ledger with no checkpoints cannot be archived verifiably; check --public-key for rotated keys)`);
    }
    const tail = await readRowHashes(client, c.chain, c.last, cp.seq);
    const after = st.acc.snapshot();
    chainRanges.push({
      chain: c.chain,
      first_seq: c.first,
      last_seq: c.last,
      rows: c.rows,
      first_prev_hash: (st.before?.prevHash ?? ZERO_HASH).toString('hex'),
      first_hash: st.firstHash,
      last_hash: st.lastHash,
      frontier_before: { size: st.before?.frontier.size ?? 0, hashes: (st.before?.frontier.frontier ?? []).map((h) => h.toString('hex')) },
      frontier_after: { size: after.size, hashes: after.frontier.map((h) => h.toString('hex')) },
      merkle_root: st.acc.root().toString('hex'),
      checkpoint: cp,
      checkpoint_tail: tail.map((h) => h.toString('hex')),
    });
  }
  const req = pp.requirement!;
  const manifest: ArchiveManifest = {
    type: MANIFEST_TYPE,
    v: ARCHIVE_VERSION,
    ledger_id: ctx.ledgerId,
    canonical_version: CANONICAL_VERSION,
    partition: { name, from: p.from!.toISOString(), to: p.to!.toISOString() },
    created_at: new Date().toISOString(),
    policy: {
      spec: ctx.policy.spec,
      archive_at: req.archiveAt.toISOString(),
      expires_at: req.expireAt.toISOString(),
      hot_rule: `${req.hotRule.cls} hot ${formatPeriod(req.hotRule.hot)} (${req.hotRule.source})`,
      total_rule: `${req.totalRule.cls} total ${formatPeriod(req.totalRule.total)} (${req.totalRule.source})`,
    },
    file: { name: dataName, compression: 'gzip', format: 'jsonl', bytes, sha256: sha.digest('hex'), rows },
    classes,
    chains: chainRanges,
  };

  // 4. Durable: data file renamed into place, manifest written, both and the directory fsynced.
  await rename(tmp, dataPath);
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const mtmp = `${manifestPath}.tmp-${process.pid}`;
  await writeFile(mtmp, manifestText, { mode: 0o640 });
  await fsyncFile(mtmp);
  await rename(mtmp, manifestPath);
  await fsyncDir(ctx.dir);

  // 5. Re-read and verify what is on disk, with the public keys only.
  const check = await verifyArchive(manifestPath, { keys: ctx.keys, maxFindings: 5 });
  if (check.findingCount > 0) {
    throw new ArchiveRefusedError(name, `the archive written to ${dataPath} does not verify (${check.findings.map((f) => `${f.kind}: ${f.detail}`).join('; ')}): nothing was dropped`);
  }
  ctx.log?.info({ partition: name, rows, file: dataPath, sha256: manifest.file.sha256 }, 'archive written and verified');

  // Stored Merkle nodes of the archived ranges (a cache; lets serve resume a tree without these rows).
  for (const c of chains) {
    const st = ranges.get(c.chain)!;
    if (st.nodes.length) await insertNodes(client, c.chain, st.nodes);
  }

  // 6. Detach, recount, record, drop: one transaction.
  const newBoundaries: Record<string, BoundaryJson> = {};
  for (const [chain, b] of boundaries) newBoundaries[chain] = boundaryToJson(b);
  for (const r of chainRanges) newBoundaries[r.chain] = { first_seq: r.last_seq + 1, prev_hash: r.last_hash, frontier: r.frontier_after };
  const details: RetentionDetails = {
    v: 1,
    action: 'archive',
    partition: manifest.partition,
    rows,
    archive: { path: dataPath, sha256: manifest.file.sha256, bytes, manifest_sha256: createHash('sha256').update(manifestText).digest('hex') },
    removed: chainRanges.map((r) => ({ chain: r.chain, first_seq: r.first_seq, last_seq: r.last_seq, rows: r.rows, first_hash: r.first_hash, last_hash: r.last_hash })),
    boundaries: newBoundaries,
  };
  let recordSeq: number;
  let cp: Checkpoint;
  await client.query('BEGIN');
  try {
    await runRaw(client, sql`SET LOCAL lock_timeout = ${sql.lit(Math.max(1, Math.round(ctx.lockTimeoutMs ?? 10_000)))}`);
    await runRaw(client, sql`LOCK TABLE ${sql.id(name)} IN SHARE MODE`);
    const now = await chainsOf(client, name);
    if (JSON.stringify(now) !== JSON.stringify(chains)) throw new ArchiveRefusedError(name, 'rows arrived in the partition while it was being archived: nothing was dropped; run again');
    if (p.from === null || p.to === null) throw new ArchiveRefusedError(name, 'the DEFAULT partition is never archived');
    await run(
      client,
      db.insertInto('ledger_archives').values({
        partition: name, range_from: p.from, range_to: p.to, rows, path: dataPath, sha256: Buffer.from(manifest.file.sha256, 'hex'), expires_at: req.expireAt, manifest: manifestText,
      }),
    );
    await runRaw(client, sql`ALTER TABLE ledger DETACH PARTITION ${sql.id(name)}`);
    const record = await appendRetentionRecord(client, retentionRecord(details, (ctx.clock ?? Date.now)() * 1000));
    recordSeq = record.seq;
    await runRaw(client, sql`DROP TABLE ${sql.id(name)}`);
    cp = await signRetentionHead(client, { key: ctx.key, boundary: ownBoundary(newBoundaries), ...(ctx.clock ? { now: ctx.clock } : {}) });
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    if (err instanceof ArchiveRefusedError) throw err;
    const timeout = (err as { code?: string }).code === '55P03';
    throw new ArchiveRefusedError(
      name,
      timeout
        ? 'could not lock the ledger within the lock timeout (a long query holds it): nothing was dropped; run again (the archive files are rewritten)'
        : `dropping the partition failed: ${(err as Error).message}; nothing was dropped`,
      { cause: err },
    );
  }
  ctx.log?.info({ partition: name, rows, recordSeq }, 'partition detached and dropped; retention record written and signed');
  // 7. The signed retention checkpoint leaves the machine with the others.
  await appendCheckpoint(ctx.checkpointFile, cp);
  return { partition: name, rows, dataPath, manifestPath, sha256: manifest.file.sha256, bytes, chains: chainRanges, recordSeq };
}

/** The first validly signed checkpoint of `chain` at or after `seq` (from the checkpoints table). */
async function coveringCheckpoint(client: pg.Client, chain: string, seq: number, keys: readonly VerifyingKey[], ledgerId: string): Promise<Checkpoint | undefined> {
  const km = keyMap(keys);
  const res = await run(client, db.selectFrom('checkpoints').select('record').where('chain', '=', chain).where('seq', '>=', seq).orderBy('seq').limit(20));
  for (const r of res) {
    try {
      const cp = parseCheckpoint(r.record);
      if (cp.ledger_id === ledgerId && verifyCheckpointSignature(cp, km) === 'valid') return cp;
    } catch {
      // A malformed stored checkpoint is not a covering one; verify reports it.
    }
  }
  return undefined;
}
