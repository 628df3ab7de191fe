/**
 * `syslog-ledger export`: an evidence package for a query (docs/evidence.md). One snapshot
 * (REPEATABLE READ) gives the count, the rows, the checkpoints and the Merkle nodes, so they agree.
 * Rows stream through a cursor in (chain, seq) order into events.jsonl and events.csv; each
 * contiguous run of seqs gets one proof against the first signed checkpoint covering it (the
 * Merkle frontier before it and a consistency proof from its end to the checkpoint). Every row's
 * hash and every proof is checked here before it is written: a ledger that fails them is not
 * exported. The package is written in a temporary folder beside DIR and renamed only when complete.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { LedgerError } from '../errors.js';
import { keyMap, parseCheckpoint, serializeCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { isoMicros } from '../ledger/copy.js';
import { DbNodeSource } from '../checkpoints/merkle-store.js';
import { MerkleAccumulator, consistencyProof, frontierNodes, nodeKey, verifyConsistency } from '../checkpoints/merkle.js';
import type { SigningKey, VerifyingKey } from '../checkpoints/signing.js';
import { toStored, type DbRow } from '../verify/verify.js';
import { CSV_COLUMNS, DIGESTED_FILES, FILES, PACKAGE_TYPE, PACKAGE_VERSION, csvField, keyFingerprint, signManifest, type CheckpointLink, type FileDigest, type ManifestBody, type RunProof } from './format.js';
import { HashedFile, publish, removeQuietly, writeWhole } from './files.js';
import { describeQuery, isFiltered, predicate, type EvidenceQuery } from './query.js';
import { lineText, rowVersion } from './rows.js';
import { selectRow } from '../verify/select.js';
import { db as qb, run } from '../ledger/db.js';
import { verifyMd } from './verify-md.js';

/** The export could not be completed; nothing that looks like a package was left behind. */
export class ExportError extends LedgerError {
  readonly canContinue = false;
}

export interface ExportOptions {
  readonly databaseUrl: string;
  readonly out: string;
  readonly query: EvidenceQuery;
  readonly reason: string | null;
  readonly key: SigningKey;
  /** Called every ~second with lines written and lines expected. */
  readonly onProgress?: (lines: number, expected: number) => void;
  /** Runs once the package is complete, before it gets its name (records the access; a throw abandons the package). */
  readonly beforePublish?: (summary: ExportSummary) => Promise<void>;
  readonly signal?: AbortSignal;
  /** Seconds to wait for signed checkpoints covering the newest matching rows (default 10). */
  readonly coverageWaitSec?: number;
  /** Rows per FETCH (default 250: a larger fetch raises the peak RSS of an export for no speed; bench/export.ts). */
  readonly fetchRows?: number;
}

export interface ExportSummary {
  readonly dir: string;
  readonly mode: 'complete' | 'filtered';
  readonly matching: number;
  readonly lines: number;
  readonly runs: number;
  readonly bytes: number;
  /** SHA-256 of manifest.json: the package's digest (the manifest lists every other file's). */
  readonly manifestSha256: string;
  readonly query: EvidenceQuery;
  readonly ledgerId: string;
}

interface Span {
  chain: string;
  min: number;
  max: number;
  count: number;
  /** Tree size of the checkpoint covering `max`: the Merkle nodes of every run of the chain are read within it. */
  cover?: number;
}

export async function runExport(o: ExportOptions): Promise<ExportSummary> {
  const out = resolve(o.out);
  const parent = dirname(out);
  if (existsSync(out)) throw new ExportError(`${out} already exists; give a new folder`);
  if (!existsSync(parent)) throw new ExportError(`${parent} does not exist`);
  const tmp = join(parent, `.${basename(out)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  // Private until published: nobody reads the events before the access record is written.
  await mkdir(tmp, { mode: 0o700 });
  const files: HashedFile[] = [];
  const client = new pg.Client({ connectionString: o.databaseUrl, application_name: 'syslog-ledger export' });
  try {
    await client.connect();
    const body = await exportInSnapshot(client, o, tmp, files);
    const digests: Record<string, FileDigest> = body.files;
    digests[FILES.fingerprint] = await writeWhole(join(tmp, FILES.fingerprint), `${body.key.fingerprint_sha256}\n`);
    digests[FILES.verify] = await writeWhole(join(tmp, FILES.verify), verifyMd(body));
    const manifest = signManifest({ ...body, files: Object.fromEntries(DIGESTED_FILES.map((f) => [f, digests[f] as FileDigest])) }, o.key);
    const m = await writeWhole(join(tmp, FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
    const bytes = Object.values(manifest.files).reduce((n, d) => n + d.bytes, m.bytes);
    const summary: ExportSummary = {
      dir: out,
      mode: body.mode,
      matching: body.counts.matching,
      lines: body.counts.lines,
      runs: body.counts.runs,
      bytes,
      manifestSha256: m.sha256,
      query: o.query,
      ledgerId: body.ledger_id,
    };
    await o.beforePublish?.(summary);
    if (existsSync(out)) throw new ExportError(`${out} appeared while the package was being written`);
    await publish(tmp, out, parent);
    return summary;
  } catch (err) {
    for (const f of files) f.destroy();
    await removeQuietly(tmp);
    throw err;
  } finally {
    await client.end().catch(() => {});
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Everything read from the database, in one snapshot; returns the manifest body with the digests of the streamed files. */
async function exportInSnapshot(client: pg.Client, o: ExportOptions, tmp: string, files: HashedFile[]): Promise<ManifestBody> {
  const pub: VerifyingKey = { publicKey: o.key.publicKey, keyId: o.key.keyId };
  const keys = keyMap([pub]);
  const waitSec = o.coverageWaitSec ?? 10;
  // The newest matching rows may be a second ahead of their checkpoint: wait for it, in a fresh snapshot each time.
  for (let attempt = 0; ; attempt++) {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const ledgerId = (await client.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]?.id;
      if (ledgerId === undefined) throw new ExportError('ledger_meta is empty: is this a syslog-ledger database?');
      const spans = await matchingSpans(client, o.query);
      const uncovered: string[] = [];
      for (const s of spans) {
        const cp = await coveringCheckpoint(client, s.chain, s.max, keys);
        if (cp === undefined) uncovered.push(`${s.chain} (seq ${s.max})`);
        else s.cover = cp.tree_size;
      }
      if (uncovered.length > 0) {
        if (attempt < waitSec) {
          await client.query('ROLLBACK');
          await sleep(1000);
          continue;
        }
        throw new ExportError(
          `no checkpoint signed by key ${o.key.keyId} covers the newest matching rows of ${uncovered.join(', ')} ` +
            '(serve signs within a second of a commit; is this the signing key serve uses?)',
        );
      }
      const body = await streamPackage(client, o, tmp, files, spans, ledgerId, keys, pub);
      await client.query('COMMIT');
      return body;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }
}

async function matchingSpans(client: pg.Client, q: EvidenceQuery): Promise<Span[]> {
  const rows = await run(
    client,
    qb
      .selectFrom('ledger')
      .select((eb) => ['chain', eb.fn.min('seq').as('min'), eb.fn.max('seq').as('max'), eb.fn.countAll().as('count')])
      .where((eb) => predicate(eb, q))
      .groupBy('chain')
      .orderBy('chain'),
  );
  return rows.map((r) => ({ chain: r.chain, min: Number(r.min), max: Number(r.max), count: Number(r.count) }));
}

/** The first checkpoint at or after `seq` that is validly signed by the key (undefined: none yet). */
async function coveringCheckpoint(client: pg.Client, chain: string, seq: number, keys: ReadonlyMap<string, VerifyingKey>, newest = false): Promise<Checkpoint | undefined> {
  let q = qb.selectFrom('checkpoints').select('record').where('chain', '=', chain).where('seq', '>=', seq);
  q = newest ? q.orderBy('seq', 'desc') : q.orderBy('seq');
  for (const r of await run(client, q.limit(100))) {
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(r.record);
    } catch {
      continue;
    }
    if (verifyCheckpointSignature(cp, keys) === 'valid') return cp;
  }
  return undefined;
}

/** A run being streamed: its accumulator and the rows so far. */
interface OpenRun {
  chain: string;
  first: number;
  last: number;
  lastHash: Buffer;
  acc: MerkleAccumulator;
  left: string[];
}

async function streamPackage(
  client: pg.Client,
  o: ExportOptions,
  tmp: string,
  files: HashedFile[],
  spans: Span[],
  ledgerId: string,
  keys: ReadonlyMap<string, VerifyingKey>,
  pub: VerifyingKey,
): Promise<ManifestBody> {
  const q = o.query;
  const filtered = isFiltered(q);
  const matching = spans.reduce((n, s) => n + s.count, 0);
  const expected = filtered ? matching : spans.reduce((n, s) => n + s.max - s.min + 1, 0);
  const events = new HashedFile(join(tmp, FILES.events));
  const csv = new HashedFile(join(tmp, FILES.csv));
  const proofs = new HashedFile(join(tmp, FILES.proofs));
  files.push(events, csv, proofs);
  await csv.write(`${CSV_COLUMNS.join(',')}\r\n`);

  // Filtered: the matching rows. Complete: every row of each chain's span, in_range telling which match.
  let rowsQuery = selectRow(qb.selectFrom('ledger')).select((eb) => predicate(eb, q).as('in_range'));
  rowsQuery = filtered
    ? rowsQuery.where((eb) => predicate(eb, q))
    : rowsQuery.where((eb) => eb.or(spans.map((s) => eb.and([eb('chain', '=', s.chain), eb('seq', '>=', s.min), eb('seq', '<=', s.max)]))));
  const compiled = rowsQuery.orderBy('ledger.chain').orderBy('ledger.seq').compile();

  const used = new Map<string, Checkpoint>(); // `${chain}/${tree_size}`
  const sources = new Map<string, DbNodeSource>();
  const sourceFor = (chain: string, size: number): DbNodeSource => {
    const k = `${chain}/${size}`;
    let s = sources.get(k);
    if (s === undefined) {
      if (sources.size > 16) sources.clear();
      s = new DbNodeSource(client, chain, size);
      sources.set(k, s);
    }
    return s;
  };
  const coverOf = new Map(spans.map((s) => [s.chain, s.cover]));
  const chainStats: ManifestBody['counts']['chains'] = {};
  let lines = 0;
  let inRangeCount = 0;
  let runs = 0;
  let open: OpenRun | undefined;

  const closeRun = async (r: OpenRun): Promise<void> => {
    const cp = await coveringCheckpoint(client, r.chain, r.last, keys);
    if (cp === undefined) throw new ExportError(`chain "${r.chain}": no signed checkpoint covers seq ${r.last}`);
    const proof = await consistencyProof(sourceFor(r.chain, cp.tree_size), r.last, cp.tree_size);
    if (!verifyConsistency(r.last, cp.tree_size, r.acc.root(), Buffer.from(cp.merkle_root, 'hex'), proof)) {
      throw new ExportError(
        `chain "${r.chain}" seq ${r.first}..${r.last} does not verify against the checkpoint signed at tree size ${cp.tree_size}: ` +
          'the ledger or its Merkle nodes changed after signing; run `syslog-ledger verify`',
      );
    }
    used.set(`${r.chain}/${cp.tree_size}`, cp);
    const line: RunProof = { chain: r.chain, first_seq: r.first, last_seq: r.last, tree_size: cp.tree_size, left: r.left, consistency: proof.map((p) => p.toString('hex')) };
    await proofs.write(`${JSON.stringify(line)}\n`);
    runs++;
    const st = chainStats[r.chain]!;
    st.runs++;
  };

  const openRun = async (chain: string, seq: number): Promise<OpenRun> => {
    const acc = new MerkleAccumulator();
    let left: string[] = [];
    if (seq > 1) {
      const ids = frontierNodes(seq - 1);
      const got = await sourceFor(chain, coverOf.get(chain) ?? seq - 1).getNodes(ids);
      const frontier = ids.map((n) => got.get(nodeKey(n)) as Buffer);
      acc.restore({ size: seq - 1, frontier });
      left = frontier.map((h) => h.toString('hex'));
    }
    return { chain, first: seq, last: seq - 1, lastHash: Buffer.alloc(0), acc, left };
  };

  let lastProgress = 0;
  await client.query(`DECLARE evidence_rows NO SCROLL CURSOR FOR ${compiled.sql}`, compiled.parameters as unknown[]);
  for (;;) {
    if (o.signal?.aborted) throw new ExportError('interrupted');
    const res = await client.query<DbRow & { in_range: boolean; message: string | null }>(`FETCH ${o.fetchRows ?? 250} FROM evidence_rows`);
    if (res.rows.length === 0) break;
    let jsonl = '';
    let csvText = '';
    for (const db of res.rows) {
      const r = toStored(db);
      if (open !== undefined && (open.chain !== r.chain || r.seq !== open.last + 1)) {
        await events.write(jsonl);
        jsonl = '';
        await closeRun(open);
        open = undefined;
      }
      if (open === undefined) {
        if (!filtered && chainStats[r.chain] !== undefined) throw new ExportError(`chain "${r.chain}": seq ${r.seq} follows a gap in the span; run \`syslog-ledger verify\``);
        chainStats[r.chain] ??= { first_seq: r.seq, last_seq: r.seq, lines: 0, matching: 0, runs: 0 };
        open = await openRun(r.chain, r.seq);
      } else if (!r.prevHash.equals(open.lastHash)) {
        throw new ExportError(`chain "${r.chain}" seq ${r.seq}: prev_hash is not the hash of seq ${r.seq - 1}; run \`syslog-ledger verify\``);
      }
      const version = rowVersion(r);
      if (version === null) throw new ExportError(`chain "${r.chain}" seq ${r.seq} does not match its stored hash (changed after it was written); run \`syslog-ledger verify\``);
      open.acc.append(r.hash);
      open.last = r.seq;
      open.lastHash = r.hash;
      const st = chainStats[r.chain]!;
      st.last_seq = r.seq;
      st.lines++;
      if (db.in_range) {
        st.matching++;
        inRangeCount++;
      }
      jsonl += `${lineText(r, version, filtered || db.in_range)}\n`;
      const l = r.lifted;
      csvText +=
        [r.chain, r.seq, isoMicros(r.receivedAtUs), l.event_time, l.hostname, l.app_name, l.class_uid, l.activity_id, l.status_id, l.severity_id,
          l.user_name, l.actor_user, l.src_ip, r.peerCn, r.peerAddr, r.format, r.parseError, db.in_range, db.message, r.raw.toString('utf8')]
          .map(csvField)
          .join(',') + '\r\n';
      lines++;
    }
    await events.write(jsonl);
    await csv.write(csvText);
    const now = Date.now();
    if (o.onProgress && now - lastProgress >= 1000) {
      lastProgress = now;
      o.onProgress(lines, expected);
    }
  }
  if (open !== undefined) await closeRun(open);
  await client.query('CLOSE evidence_rows');
  o.onProgress?.(lines, expected);
  if (inRangeCount !== matching || lines !== expected) {
    throw new ExportError(`the ledger gave ${lines} rows (${inRangeCount} matching) where it counted ${expected} (${matching} matching) in the same snapshot`);
  }

  // The checkpoints used, the newest of each chain, and a consistency proof from each used one to it.
  const cpFile = new HashedFile(join(tmp, FILES.checkpoints));
  const linkFile = new HashedFile(join(tmp, FILES.consistency));
  files.push(cpFile, linkFile);
  const byChain = new Map<string, Checkpoint[]>();
  for (const cp of used.values()) byChain.set(cp.chain, [...(byChain.get(cp.chain) ?? []), cp]);
  for (const [chain, list] of [...byChain].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    list.sort((a, b) => a.tree_size - b.tree_size);
    const newest = (await coveringCheckpoint(client, chain, list[list.length - 1]!.tree_size, keys, true))!;
    const all = list.some((c) => c.tree_size === newest.tree_size) ? list : [...list, newest];
    for (const cp of all) await cpFile.write(`${serializeCheckpoint(cp)}\n`);
    for (const cp of list) {
      if (cp.tree_size === newest.tree_size) continue;
      const proof = await consistencyProof(sourceFor(chain, newest.tree_size), cp.tree_size, newest.tree_size);
      if (!verifyConsistency(cp.tree_size, newest.tree_size, Buffer.from(cp.merkle_root, 'hex'), Buffer.from(newest.merkle_root, 'hex'), proof)) {
        throw new ExportError(`chain "${chain}": the checkpoint at ${cp.tree_size} is not a prefix of the newest (${newest.tree_size}); run \`syslog-ledger verify\``);
      }
      const link: CheckpointLink = { chain, from_tree_size: cp.tree_size, to_tree_size: newest.tree_size, proof: proof.map((p) => p.toString('hex')) };
      await linkFile.write(`${JSON.stringify(link)}\n`);
    }
  }

  const dbUser = (await client.query<{ u: string }>('SELECT session_user AS u')).rows[0]?.u ?? '';
  const digests: Record<string, FileDigest> = {};
  digests[FILES.events] = await events.close();
  digests[FILES.csv] = await csv.close();
  digests[FILES.proofs] = await proofs.close();
  digests[FILES.checkpoints] = await cpFile.close();
  digests[FILES.consistency] = await linkFile.close();
  return {
    type: PACKAGE_TYPE,
    v: PACKAGE_VERSION,
    ledger_id: ledgerId,
    created_at: new Date().toISOString(),
    exported_by: { os_user: osUser(), host: hostname(), db_user: dbUser, reason: o.reason },
    query: { ...q, predicate: describeQuery(q) },
    mode: filtered ? 'filtered' : 'complete',
    counts: { matching, lines, runs, chains: chainStats },
    key: { key_id: pub.keyId, fingerprint_sha256: keyFingerprint(pub) },
    files: digests,
  };
}

export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
}
