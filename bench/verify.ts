/**
 * `syslog-ledger verify` throughput on a ledger of BENCH_VERIFY_ROWS (1,000,000) events, with a
 * signed checkpoint every 1,000 rows per chain, as serve writes them (issue 5: >= 150,000 events/s on
 * the 2-core dev machine).
 *
 * The ledger is built without the TLS server, in a few seconds: BENCH_VERIFY_TEMPLATES distinct
 * events of the load mix (bench/lib/frames.ts: RFC 5424 with structured data, sshd, sudo, rsyslog
 * JSON; ~180 B raw, ~0.3 KB syslog and ~1.3 KB event JSON) are parsed and normalized by the server's
 * own code, then cycled through with their own seq and receive time, hashed with the real
 * canonical form and chainHash, and COPY'd in on two connections. The table is UNLOGGED and its
 * indexes are built after the load (both only make the build fast: verify reads the heap and the
 * primary key exactly as on a logged table), then VACUUM FREEZE'd so the first verify run does not
 * pay for setting hint bits.
 *
 * Each run is the real command in a child process (`node dist/src/main.js verify --json ...`, so
 * startup, the checkpoint file and the key are included), timed from spawn to exit, with CPU seconds
 * of verify, of the database's backends and of everything else ("foreign": other tenants of the
 * machine, the measure of how noisy the run was).
 *
 *   node dist/bench/verify.js          (npx tsc -p tsconfig.json first)
 *
 * Environment: BENCH_VERIFY_ROWS (1000000), BENCH_VERIFY_CHAINS (1), BENCH_VERIFY_TEMPLATES (20000),
 * BENCH_VERIFY_RUNS (3; the best and the median are reported), BENCH_VERIFY_WORKERS (comma list of
 * `verify --workers` values to compare, default "auto"; an item "@PATH" runs another build's
 * dist/src/main.js with its defaults, e.g. the commit before a change, interleaved with the others so
 * that both see the same machine), BENCH_VERIFY_ARGS (extra verify flags),
 * BENCH_VERIFY_KEEP=1 (keep the database and reuse it next time: built once per rows/chains),
 * BENCH_VERIFY_PROFILE=1 (one more run under node --cpu-prof, summarized per thread),
 * BENCH_VERIFY_FORM (3, what serve writes; 2 and 1 build a ledger written before format v3 or before version 2),
 * BENCH_VERIFY_VS_FORM (e.g. 2: also build a ledger of that form, same events, and run verify on it
 * interleaved with the others, as "form2:auto": the two formats' CPU per event from one run),
 * BENCH_VERIFY_PROOFS=0 (skip the proof sizes: inclusion and consistency proofs made by the real
 * `prove` on the bench chain and checked by `verify-proof`),
 * DATABASE_URL (admin URL; default postgres://postgres@127.0.0.1:5432/postgres).
 *
 * Before the timed runs: CHECKPOINT and sync (the build's writes reach the disk now, not during a run),
 * and one untimed run. The result records PostgreSQL's shared_buffers and huge_pages and this
 * machine's huge pages, which changed verify's speed by ~10 % on the earlier machine (databaseSettings below).
 */
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { migrate } from '../src/db/migrate.js';
import { canonicalJson, chainHash, ledgerColumns, type CanonicalLifted } from '../src/ledger/canonical.js';
import { serializeCheckpoint, signCheckpoint } from '../src/checkpoints/checkpoint.js';
import { CopyBuffer } from '../src/ledger/copy-binary.js';
import { CONNECTION_INSERT_SQL, encodeV3, V3_COPY_SQL } from '../src/ledger/row.js';
import { sha256 } from '../src/ledger/sha256.js';
import { chainConnection, v3Values } from '../src/ledger/v3.js';
import { COPY_COLUMNS, copyBytea, copyText, copyTextArray, isoMicros } from '../src/ledger/copy.js';
import { MerkleAccumulator } from '../src/checkpoints/merkle.js';
import { keyIdOf } from '../src/checkpoints/signing.js';
import { ZERO_HASH, type LedgerRecord } from '../src/ledger/types.js';
import { adminUrl, withClient, withDatabase } from './lib/db.js';
import { accumulate, diff, machine, machineTicks, snapshot } from './lib/proc.js';
import { printProfile, summarizeProfile } from './profile.js';
import { BENCH_PEER, mixRecords } from './stages.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/src/main.js');
const env = (k: string, d: string): string => process.env[k] ?? d;
const log = (msg: string): void => console.error(`[bench verify ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;

/** Rows per signed checkpoint, as serve does (docs/integrity.md "Checkpoints"). */
const CHECKPOINT_EVERY = 1000;
/** Rows per COPY transaction. */
const COPY_CHUNK = 20_000;
/** Bump when the generated ledger changes, so a kept database is rebuilt. */
const LEDGER_VERSION = 1;

export interface VerifyBenchOptions {
  readonly rows?: number;
  readonly chains?: number;
  readonly templates?: number;
  /** Canonical form of the rows: 2 (what serve writes) or 1 (a ledger written before version 2). */
  readonly form?: 1 | 2 | 3;
  readonly runs?: number;
  /** `verify --workers` values to compare; 'auto' leaves the flag out. */
  readonly workers?: readonly string[];
  readonly extraArgs?: readonly string[];
  readonly keep?: boolean;
  readonly profile?: boolean;
}

export interface BenchLedger {
  readonly name: string;
  readonly url: string;
  readonly rows: number;
  readonly chains: number;
  readonly dir: string;
  readonly checkpointFile: string;
  /** The private key (prove and export sign their access records with it). */
  readonly signingKeyFile: string;
  readonly publicKeyFile: string;
  /** Seconds to build it (0 when an existing one was reused). */
  readonly buildSeconds: number;
  readonly tableMb: number;
  readonly avg: { rawBytes: number; syslogBytes: number; eventBytes: number };
  drop(): Promise<void>;
}

export interface VerifyRun {
  readonly workers: string;
  readonly seconds: number;
  readonly eventsPerSec: number;
  /** verify's own elapsed time (rows only, after the checkpoint file was read). */
  readonly verifyMs: number;
  readonly status: string;
  readonly cpu: { verify: number; pg_backends: number; foreign: number };
  readonly loadavg: number[];
}

export interface VerifyBenchResult {
  readonly rows: number;
  readonly chains: number;
  /** Canonical form version of the rows. */
  readonly form: 1 | 2 | 3;
  readonly buildSeconds: number;
  readonly tableMb: number;
  readonly avg: BenchLedger['avg'];
  readonly machine: Record<string, unknown>;
  readonly runs: VerifyRun[];
  /** Per --workers value: best and median events/s. */
  readonly summary: Array<{ workers: string; best: number; median: number }>;
  readonly proofs: ProofSize[];
  /** `export` of the whole ledger and `verify-evidence` of the package (bench/export.ts; BENCH_EXPORT=0 skips). */
  readonly export?: import('./export.js').ExportBenchResult;
  readonly profile?: string;
}

/** The event mix, parsed and normalized once; each template keeps its COPY fields and canonical JSON. */
interface Template {
  readonly record: LedgerRecord;
  readonly syslogJson: string;
  readonly eventJson: string;
  /** The lifted columns as canonical form version 2 hashes them; undefined for a version 1 ledger. */
  readonly lifted: CanonicalLifted | undefined;
  /** COPY text of the columns between received_at and prev_hash (peer_cn .. src_ip). */
  readonly middle: string;
}

function templates(count: number, form: 1 | 2 | 3): Template[] {
  return mixRecords(count, 11).map((r) => {
    const syslogJson = canonicalJson(r.syslog);
    const eventJson = canonicalJson(r.event);
    const { columns: c, lifted: l } = ledgerColumns(r.columns);
    const lifted = form === 2 ? (l ?? undefined) : undefined;
    const middle =
      `${copyText(r.peer.cn)}\t${copyTextArray(r.peer.sans)}\t${copyText(r.peer.address)}\t${r.format}\t${copyBytea(r.raw)}\t` +
      `${r.truncated ? 't' : 'f'}\t${copyText(r.parseError)}\t${copyText(syslogJson)}\t${copyText(eventJson)}\t${copyText(c.event_time)}\t` +
      `${copyText(c.hostname)}\t${copyText(c.app_name)}\t${c.class_uid}\t${c.activity_id}\t${c.status_id}\t${c.severity_id}\t` +
      `${copyText(c.user_name)}\t${copyText(c.actor_user)}\t${copyText(c.src_ip)}`;
    return { record: r, syslogJson, eventJson, lifted, middle };
  });
}

const dbName = (rows: number, chains: number, form: 1 | 2 | 3): string => `bench_verify_${rows}_${chains}_f${form}_v${LEDGER_VERSION}`;

/** Builds (or, with keep, reuses) the benchmark ledger and its checkpoint file. */
export async function buildLedger(rows: number, chains: number, templateCount: number, keep: boolean, form: 1 | 2 | 3 = 3): Promise<BenchLedger> {
  const admin = adminUrl();
  const name = keep ? dbName(rows, chains, form) : `${dbName(rows, chains, form)}_${process.pid}`;
  const url = withDatabase(admin, name);
  const dir = keep ? join(tmpdir(), name) : mkdtempSync(join(tmpdir(), `${name}-`));
  const checkpointFile = join(dir, 'checkpoints.jsonl');
  const publicKeyFile = join(dir, 'ledger-signing.key.pub');
  const signingKeyFile = join(dir, 'ledger-signing.key');
  const drop = async (): Promise<void> => {
    if (keep) return;
    await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    rmSync(dir, { recursive: true, force: true });
  };
  const sizes = async (): Promise<{ tableMb: number; avg: BenchLedger['avg'] }> =>
    withClient(url, async (c) => {
      const r = (
        await c.query<{ mb: string; raw: string; sy: string; ev: string }>(
          `SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('ledger')) / 1e6 AS mb,
                  (SELECT avg(length(raw)) FROM ledger TABLESAMPLE SYSTEM (1)) AS raw,
                  (SELECT avg(octet_length(syslog::text)) FROM ledger TABLESAMPLE SYSTEM (1)) AS sy,
                  (SELECT avg(octet_length(event::text)) FROM ledger TABLESAMPLE SYSTEM (1)) AS ev`,
        )
      ).rows[0]!;
      return { tableMb: round(Number(r.mb)), avg: { rawBytes: round(Number(r.raw)), syslogBytes: round(Number(r.sy)), eventBytes: round(Number(r.ev)) } };
    });

  if (keep && existsSync(checkpointFile)) {
    const ok = await withClient(url, async (c) => {
      // The bench chains only: prove and export add records to the access chain.
      const heads = Number((await c.query<{ n: string }>("SELECT sum(head_seq) AS n FROM chains WHERE chain LIKE 'bench-%'")).rows[0]!.n);
      const pk = (await c.query(`SELECT 1 FROM pg_constraint WHERE conrelid = 'ledger'::regclass AND contype = 'p'`)).rowCount;
      return heads === rows && pk === 1;
    }).catch(() => false);
    if (ok && existsSync(signingKeyFile)) {
      log(`reusing ${name}`);
      return { name, url, rows, chains, dir, checkpointFile, publicKeyFile, signingKeyFile, buildSeconds: 0, ...(await sizes()), drop };
    }
  }

  const t0 = performance.now();
  await withClient(admin, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await migrate(url);
  // Whatever indexes the migrations define (the schema grows): dropped for the load, rebuilt after it.
  const indexes = await withClient(url, async (c) => {
    await c.query('SET client_min_messages = warning');
    const found = (
      await c.query<{ name: string; def: string; con: string | null; condef: string | null }>(
        `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def, k.conname AS con, pg_get_constraintdef(k.oid) AS condef
           FROM pg_index i LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
          WHERE i.indrelid = 'ledger'::regclass`,
      )
    ).rows;
    for (const ix of found) await c.query(ix.con ? `ALTER TABLE ledger DROP CONSTRAINT ${ix.con}` : `DROP INDEX ${ix.name}`);
    for (const { relid } of (await c.query<{ relid: string }>(`SELECT relid::text FROM pg_partition_tree('ledger') WHERE isleaf`)).rows) {
      await c.query(`ALTER TABLE ${relid} SET UNLOGGED`);
    }
    // pg_get_indexdef() of a partitioned table's index says ON ONLY (no partitions): build them all.
    return found.map((ix) => (ix.con ? `ALTER TABLE ledger ADD CONSTRAINT ${ix.con} ${ix.condef}` : ix.def.replace(' ON ONLY ', ' ON ')));
  });

  log(`parsing and normalizing ${templateCount} template events`);
  const tpl = templates(templateCount, form);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(publicKeyFile, publicKey.export({ format: 'pem', type: 'spki' }) as string);
  writeFileSync(signingKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
  const key = { privateKey, publicKey, keyId: keyIdOf(publicKey), created: true };
  const ledgerId = await withClient(url, async (c) => (await c.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]!.id);

  const conns = await Promise.all([0, 1].map(async () => {
    const c = new pg.Client({ connectionString: url, application_name: 'syslog-ledger bench verify load' });
    await c.connect();
    await c.query('SET synchronous_commit = off');
    return c;
  }));
  const busy: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  const copySql = form === 3 ? V3_COPY_SQL : `COPY ledger (${COPY_COLUMNS.join(', ')}) FROM STDIN`;
  // Format v3 (what serve writes): each template's v3 values once; per row only chain, seq, time and hash change.
  const v3tpl = form === 3 ? tpl.map((t) => v3Values(t.record, 'bench', 1, chainConnection(1, BENCH_PEER)).values) : [];
  const v3conn = chainConnection(1, BENCH_PEER);
  const cpLines: string[] = [];
  const v3out = new CopyBuffer();
  const perChain = Math.ceil(rows / chains);
  const baseUs = Date.UTC(2026, 10, 28, 12, 0, 0) * 1000;
  let next = 0;
  let built = 0;
  log(`hashing and COPYing ${rows} rows in ${chains} chain(s)`);
  for (let ch = 0; ch < chains; ch++) {
    const chain = chains === 1 ? 'bench-1' : `bench-${ch + 1}`;
    const n = Math.min(perChain, rows - ch * perChain);
    const acc = new MerkleAccumulator();
    let prev = ZERO_HASH;
    await conns[0]!.query('INSERT INTO chains (chain) VALUES ($1)', [chain]);
    if (form === 3) {
      const r = v3conn.record;
      await conns[0]!.query(CONNECTION_INSERT_SQL, [chain, 1, r.transport, r.peer_addr, r.peer_cn, r.peer_sans, r.peer_subject, r.peer_fingerprint]);
    }
    for (let start = 0; start < n; start += COPY_CHUNK) {
      const end = Math.min(n, start + COPY_CHUNK);
      const parts: string[] = [];
      let part = '';
      for (let i = start; i < end; i++) {
        const seq = i + 1;
        const t = tpl[(ch * 7919 + i) % tpl.length]!;
        const r = t.record;
        const us = baseUs + (ch * perChain + i) * 50;
        if (form === 3) {
          const v = { ...v3tpl[(ch * 7919 + i) % v3tpl.length]!, chain, seq, received_at: us, conn: 1 };
          const h = sha256(encodeV3(prev, v, v3conn.bytes));
          v.hash = h;
          v3out.row(v);
          acc.append(h);
          if (seq % CHECKPOINT_EVERY === 0 || seq === n) {
            cpLines.push(serializeCheckpoint(signCheckpoint({
              ledger_id: ledgerId, chain, seq, tree_size: seq, head_hash: h.toString('hex'), merkle_root: acc.root().toString('hex'),
              time: new Date(us / 1000 + 1000).toISOString(),
            }, key)));
          }
          prev = h;
          continue;
        }
        const hash = chainHash(prev, {
          chain, seq, receivedAtUs: us, peerCn: r.peer.cn, peerSans: r.peer.sans, peerAddr: r.peer.address, format: r.format,
          truncated: r.truncated, parseError: r.parseError, raw: r.raw, syslogJson: t.syslogJson, eventJson: t.eventJson, lifted: t.lifted,
        });
        part += `${chain}\t${seq}\t${isoMicros(us)}\t${t.middle}\t${copyBytea(prev)}\t${copyBytea(hash)}\n`;
        if (part.length >= 65536) {
          parts.push(part);
          part = '';
        }
        acc.append(hash);
        if (seq % CHECKPOINT_EVERY === 0 || seq === n) {
          cpLines.push(serializeCheckpoint(signCheckpoint({
            ledger_id: ledgerId, chain, seq, tree_size: seq, head_hash: hash.toString('hex'), merkle_root: acc.root().toString('hex'),
            time: new Date(us / 1000 + 1000).toISOString(),
          }, key)));
        }
        prev = hash;
      }
      if (part) parts.push(part);
      const data = form === 3 ? v3out.take() : parts.map((p) => Buffer.from(p, 'utf8'));
      // Two COPY streams: while one connection's backend stores a chunk, this process hashes the next chunk.
      const slot = next++ % 2;
      await busy[slot];
      const c = conns[slot]!;
      busy[slot] = (async () => {
        await c.query('BEGIN');
        await pipeline(Readable.from(data), c.query(copyStreams.from(copySql)));
        await c.query('COMMIT');
      })();
      built += end - start;
      if (built % 200_000 < COPY_CHUNK) log(`${built} rows`);
    }
    await Promise.all(busy);
    await conns[0]!.query('UPDATE chains SET head_seq = $2, head_hash = $3 WHERE chain = $1', [chain, n, prev]);
  }
  await Promise.all(busy);
  writeFileSync(checkpointFile, `${cpLines.join('\n')}\n`);
  log('building indexes, VACUUM FREEZE ANALYZE');
  const todo = [...indexes];
  await Promise.all(conns.map(async (c) => {
    for (let sql = todo.shift(); sql !== undefined; sql = todo.shift()) await c.query(sql);
  }));
  await conns[0]!.query('VACUUM (FREEZE, ANALYZE) ledger');
  await Promise.all(conns.map((c) => c.end()));
  const buildSeconds = (performance.now() - t0) / 1000;
  log(`built ${name} in ${buildSeconds.toFixed(1)} s`);
  return { name, url, rows, chains, dir, checkpointFile, publicKeyFile, signingKeyFile, buildSeconds, ...(await sizes()), drop };
}

/**
 * The `checkpoints` and `merkle_nodes` tables, as the checkpointer fills them (prove reads them):
 * the file's checkpoints, and the level >= 8 nodes recomputed from the row hashes. Once per ledger.
 */
export async function fillProofTables(l: BenchLedger): Promise<void> {
  await withClient(l.url, async (c) => {
    if (Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM checkpoints')).rows[0]!.n) > 0) return;
    const lines = readFileSync(l.checkpointFile, 'utf8').split('\n').filter(Boolean);
    await c.query(
      `INSERT INTO checkpoints (chain, seq, tree_size, head_hash, merkle_root, signed_at, key_id, record)
       SELECT r->>'chain', (r->>'seq')::bigint, (r->>'tree_size')::bigint, decode(r->>'head_hash', 'hex'), decode(r->>'merkle_root', 'hex'),
              (r->>'time')::timestamptz, r->>'key_id', r FROM unnest($1::jsonb[]) AS r`,
      [lines],
    );
    for (const { chain } of (await c.query<{ chain: string }>('SELECT chain FROM chains')).rows) {
      const nodes: Array<[number, number, Buffer]> = [];
      const acc = new MerkleAccumulator({ onNode: (level, idx, hash) => nodes.push([level, idx, hash]), onNodeMinLevel: 8 });
      for (let from = 1; ; from += 100_000) {
        const r = await c.query<{ hash: Buffer }>('SELECT hash FROM ledger WHERE chain = $1 AND seq >= $2 AND seq < $3 ORDER BY seq', [chain, from, from + 100_000]);
        for (const row of r.rows) acc.append(row.hash);
        if (r.rows.length < 100_000) break;
      }
      await c.query(
        'INSERT INTO merkle_nodes (chain, level, idx, hash) SELECT $1, l, i, h FROM unnest($2::smallint[], $3::bigint[], $4::bytea[]) AS t(l, i, h)',
        [chain, nodes.map((n) => n[0]), nodes.map((n) => n[1]), nodes.map((n) => n[2])],
      );
    }
  });
}

/** Proofs made by the real `prove` on the bench chain, checked by the real `verify-proof`. */
export interface ProofSize {
  readonly kind: 'inclusion' | 'consistency';
  readonly args: string;
  readonly treeSize: number;
  readonly hashes: number;
  /** The whole proof document, compact JSON (the event included for inclusion proofs). */
  readonly documentBytes: number;
  readonly verifies: boolean;
}

async function proofSizes(l: BenchLedger): Promise<ProofSize[]> {
  await fillProofTables(l);
  const chain = 'bench-1';
  const n = Math.ceil(l.rows / l.chains);
  const cases: Array<{ kind: ProofSize['kind']; args: string[] }> = [
    ...[1, Math.floor(n / 2) + 1, n].map((seq) => ({ kind: 'inclusion' as const, args: ['--seq', String(seq)] })),
    { kind: 'inclusion', args: ['--seq', '777', '--tree-size', '1000'] },
    { kind: 'consistency', args: ['--consistency', '1000', 'latest'] },
    { kind: 'consistency', args: ['--consistency', String(Math.floor(n / 2000) * 1000 || 1000), 'latest'] },
  ];
  const out: ProofSize[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'bench-proofs-'));
  try {
    for (const c of cases) {
      const file = join(dir, 'proof.json');
      const access = ['--signing-key', l.signingKeyFile, '--checkpoint-file', join(l.dir, 'access-checkpoints.jsonl')];
      const made = await run([MAIN, 'prove', '--database-url', l.url, '--chain', chain, ...c.args, '--out', file, ...access]);
      if (made !== 0) throw new Error(`prove ${c.args.join(' ')} exited ${made}`);
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { proof: string[]; tree_size?: number; second?: { tree_size: number } };
      const ok = (await run([MAIN, 'verify-proof', '--public-key', l.publicKeyFile, file])) === 0;
      out.push({ kind: c.kind, args: c.args.join(' '), treeSize: doc.tree_size ?? doc.second?.tree_size ?? 0, hashes: doc.proof.length, documentBytes: JSON.stringify(doc).length, verifies: ok });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function run(args: string[]): Promise<number | null> {
  return new Promise((res) => spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', (c) => res(c)));
}

/** One run of the real command; `profileDir` adds --cpu-prof. */
async function runVerify(l: BenchLedger, workers: string, extra: readonly string[], profileDir?: string): Promise<VerifyRun> {
  // A variant "@/path/to/dist/src/main.js" runs another build (e.g. an older commit) with its defaults.
  const other = workers.startsWith('@') ? workers.slice(1) : undefined;
  const args = [
    ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
    other ?? MAIN, 'verify', '--database-url', l.url, '--checkpoints', l.checkpointFile, '--public-key', l.publicKeyFile, '--json',
    ...(workers === 'auto' || other !== undefined ? [] : ['--workers', workers]),
    ...(other !== undefined ? [] : extra),
  ];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  // Sampled while it runs: the child and the database's backends are gone once it exits.
  const s0 = snapshot(child.pid, l.name);
  const m0 = machineTicks();
  const seen = new Map(s0);
  const poll = setInterval(() => {
    accumulate(seen, snapshot(child.pid, l.name));
  }, 200);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(poll);
  const cpu = diff(s0, seen);
  // Everything else the machine did meanwhile (jiffies are 1/100 s), clamped at 0 for sampling slack.
  const busy = (machineTicks().busy - m0.busy) / 100;
  const foreign = Math.max(0, busy - cpu.server - cpu.pg_backends);
  let summary: { status?: string; rows?: number; elapsed_ms?: number } = {};
  try {
    summary = JSON.parse(out.trim().split('\n').pop() ?? '{}') as typeof summary;
  } catch {
    // reported below
  }
  if (code !== 0 || summary.rows !== l.rows) throw new Error(`verify exited ${code} with ${out.slice(0, 2000)}`);
  return {
    workers,
    seconds: round(seconds, 2),
    eventsPerSec: Math.round(l.rows / seconds),
    verifyMs: summary.elapsed_ms ?? 0,
    status: summary.status ?? '?',
    cpu: { verify: round(cpu.server, 2), pg_backends: round(cpu.pg_backends, 2), foreign: round(foreign, 2) },
    loadavg: loadavg().map((x) => round(x, 2)),
  };
}

/**
 * The PostgreSQL settings verify's speed depends on most where page faults are expensive. On the PVM
 * guest of 2026-11-28/29 a fault cost ~25 µs, and a new backend faults in every shared_buffers page it
 * touches (32,768 for 128 MB with 4 KB pages: ~0.85 s of a backend's CPU); with huge pages
 * (`huge_pages = try`, the default, once the kernel has them: `vm.nr_hugepages`) it is ~250 faults.
 * docs/integrity.md "Measured" has both machines' figures.
 */
async function databaseSettings(url: string): Promise<{ shared_buffers: string; huge_pages: string; machine_huge_pages_mb: number; machine_huge_pages_in_use_mb: number }> {
  const show = async (c: pg.Client, name: string): Promise<string> => (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  const [shared, huge] = await withClient(url, async (c): Promise<[string, string]> => [await show(c, 'shared_buffers'), await show(c, 'huge_pages')]);
  const info = existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '';
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const pageMb = field('Hugepagesize') / 1024;
  return {
    shared_buffers: shared,
    huge_pages: huge,
    machine_huge_pages_mb: field('HugePages_Total') * pageMb,
    machine_huge_pages_in_use_mb: (field('HugePages_Total') - field('HugePages_Free') + field('HugePages_Rsvd')) * pageMb,
  };
}

export async function benchVerify(o: VerifyBenchOptions = {}): Promise<VerifyBenchResult> {
  const rows = o.rows ?? Number(env('BENCH_VERIFY_ROWS', '1000000'));
  const chains = o.chains ?? Number(env('BENCH_VERIFY_CHAINS', '1'));
  const runsPer = o.runs ?? Number(env('BENCH_VERIFY_RUNS', '3'));
  const workers = [...(o.workers ?? env('BENCH_VERIFY_WORKERS', 'auto').split(','))];
  const extra = o.extraArgs ?? env('BENCH_VERIFY_ARGS', '').split(/\s+/).filter(Boolean);
  const keep = o.keep ?? process.env.BENCH_VERIFY_KEEP === '1';
  const f = o.form ?? Number(env('BENCH_VERIFY_FORM', '3'));
  const form = f === 1 ? 1 : f === 2 ? 2 : 3;
  const l = await buildLedger(rows, chains, o.templates ?? Number(env('BENCH_VERIFY_TEMPLATES', '20000')), keep, form);
  const vs = Number(env('BENCH_VERIFY_VS_FORM', '0'));
  const other = vs === 1 || vs === 2 || (vs === 3 && form !== 3) ? await buildLedger(rows, chains, o.templates ?? Number(env('BENCH_VERIFY_TEMPLATES', '20000')), keep, vs) : undefined;
  if (other) workers.push(`form${vs}:auto`);
  /** The ledger and --workers value of a variant ("formN:auto" runs the other ledger). */
  const variant = (w: string): [BenchLedger, string] => (other && w.startsWith('form') ? [other, 'auto'] : [l, w]);
  try {
    const m = { ...machine(), database: await databaseSettings(l.url) };
    log(`PostgreSQL: shared_buffers ${m.database.shared_buffers}, huge_pages ${m.database.huge_pages}; this machine's huge pages: ${m.database.machine_huge_pages_mb} MB, ${m.database.machine_huge_pages_in_use_mb} MB in use`);
    // The build's writes go to disk first (PostgreSQL's dirty buffers, then the kernel's), not during
    // the timed runs; then one untimed pass reads the table into the OS page cache (shared_buffers is
    // far smaller than the table).
    await withClient(l.url, (c) => c.query('CHECKPOINT'));
    execFileSync('sync');
    await runVerify(l, workers[0]!, extra);
    if (other) await runVerify(other, 'auto', extra);
    const runs: VerifyRun[] = [];
    for (let i = 0; i < runsPer; i++) {
      for (const w of workers) {
        const [vl, vw] = variant(w);
        const r = { ...(await runVerify(vl, vw, extra)), workers: w };
        log(`workers=${w}: ${r.eventsPerSec} events/s (${r.seconds} s; cpu verify ${r.cpu.verify} s, pg ${r.cpu.pg_backends} s, other tenants ${r.cpu.foreign} s; load ${r.loadavg.join(' ')})`);
        runs.push(r);
      }
    }
    const summary = workers.map((w) => {
      const rates = runs.filter((r) => r.workers === w).map((r) => r.eventsPerSec).sort((a, b) => a - b);
      return { workers: w, best: rates[rates.length - 1] ?? 0, median: rates[Math.floor(rates.length / 2)] ?? 0 };
    });
    let profile: string | undefined;
    if (o.profile ?? process.env.BENCH_VERIFY_PROFILE === '1') {
      const pdir = mkdtempSync(join(tmpdir(), 'verify-prof-'));
      await runVerify(l, workers[0]!, extra, pdir);
      profile = readdirSync(pdir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => `--- ${f}\n${printProfile(summarizeProfile(join(pdir, f), 20))}`)
        .join('\n');
      log(`profiles in ${pdir}`);
    }
    const proofs = process.env.BENCH_VERIFY_PROOFS === '0' ? [] : await proofSizes(l);
    for (const p of proofs) log(`${p.kind} ${p.args}: ${p.hashes} hashes, ${p.documentBytes} B document, tree size ${p.treeSize}, verify-proof ${p.verifies ? 'ok' : 'FAILED'}`);
    let exp: import('./export.js').ExportBenchResult | undefined;
    if (process.env.BENCH_EXPORT !== '0') {
      const { benchExport } = await import('./export.js');
      exp = await benchExport(l);
      log(`export of ${exp.rows} events: ${exp.export.seconds} s (${exp.export.eventsPerSec}/s), peak RSS ${exp.export.peakRssMb} MB, package ${exp.packageMb} MB; verify-evidence ${exp.verifyEvidence.seconds} s, peak RSS ${exp.verifyEvidence.peakRssMb} MB`);
    }
    return { rows, chains, form, buildSeconds: round(l.buildSeconds, 1), tableMb: l.tableMb, avg: l.avg, machine: m, runs, summary, proofs, ...(exp ? { export: exp } : {}), ...(profile ? { profile } : {}) };
  } finally {
    await l.drop();
    await other?.drop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const r = await benchVerify();
  if (r.profile) console.error(r.profile);
  const { profile: _p, ...rest } = r;
  console.log(JSON.stringify(rest, null, 2));
  for (const s of r.summary) {
    console.error(`verify, ${r.rows} events (canonical form v${r.form}) in ${r.chains} chain(s), --workers ${s.workers}: best ${s.best} events/s, median ${s.median}`);
  }
}
