/**
 * Offline verification of an archive (`syslog-ledger verify --archive FILE`): needs the two archive
 * files and the checkpoint public key(s), nothing else.
 *
 *   1. the data file's SHA-256 and size are the manifest's;
 *   2. it decompresses, every line is a row, rows come chain by chain in seq order, without gaps;
 *   3. every row hashes to its `hash` (canonical form, docs/ledger-format.md) and links to the
 *      previous one; its lifted columns agree with its event;
 *   4. per chain, from the manifest's frontier before the range, the rows' Merkle tree reaches the
 *      manifest's frontier and root after it, and, with the row hashes up to the covering
 *      checkpoint, that checkpoint's head hash and Merkle root; the checkpoint is signed by a given
 *      key and names the manifest's ledger.
 * The manifest itself is not signed and need not be: everything in it that matters is recomputed and
 * bound to a signed root (a wrong frontier_before gives a wrong root).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { MalformedDataError, VerifyError } from '../errors.js';
import { keyMap, verifyCheckpointSignature } from '../checkpoints/checkpoint.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import type { VerifyingKey } from '../checkpoints/signing.js';
import { ZERO_HASH } from '../ledger/types.js';
import { rowFindings } from '../verify/verify.js';
import { canonicalJson } from '../ledger/canonical.js';
import { v3EventOf } from '../ledger/v3.js';
import { isoMicros } from '../ledger/copy.js';
import { sha256File } from './files.js';
import { ARCHIVE_VERSION, MANIFEST_TYPE, archivePaths, toStoredRow, type ArchiveManifest, type ArchiveRow, type ChainRange } from './format.js';

export const ARCHIVE_FINDING_KINDS = [
  /** The data file's SHA-256 or size is not the manifest's. */
  'file_digest',
  /** The data file does not decompress (damaged gzip stream). */
  'file_corrupt',
  /** A line that is not a valid row. */
  'malformed_row',
  /** A row of a chain the manifest does not list, or out of the manifest's order. */
  'unexpected_row',
  'seq_gap',
  'seq_order',
  'broken_link',
  'hash_mismatch',
  'column_mismatch',
  /** Fewer (or more) rows than the manifest says. */
  'row_count',
  /** The manifest's frontier, first/last hash or root disagree with the rows. */
  'manifest_mismatch',
  /** The covering checkpoint's head hash or Merkle root disagrees with the rows. */
  'checkpoint_mismatch',
  /** The covering checkpoint is not validly signed by a given key, or is another ledger's. */
  'checkpoint_signature',
] as const;
export type ArchiveFindingKind = (typeof ARCHIVE_FINDING_KINDS)[number];

export interface ArchiveFinding {
  readonly kind: ArchiveFindingKind;
  readonly chain: string | null;
  readonly seq: number | null;
  readonly detail: string;
}

export interface ArchiveReport {
  readonly manifestPath: string;
  readonly dataPath: string;
  readonly manifest: ArchiveManifest;
  rows: number;
  findings: ArchiveFinding[];
  /** Counted even when only the first `maxFindings` are kept. */
  findingCount: number;
}

export interface VerifyArchiveOptions {
  /** Accepted checkpoint keys (at least one). */
  readonly keys: readonly VerifyingKey[];
  /** Each row after it was checked, in file order (restore loads it). */
  readonly onRow?: (row: ArchiveRow, ok: boolean) => void | Promise<void>;
  readonly maxFindings?: number;
}

/** The archive cannot be checked at all (manifest missing or unreadable): exit 2. */
export class ArchiveUnreadableError extends VerifyError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** Reads and shape-checks a manifest. */
export async function readManifest(path: string): Promise<ArchiveManifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ArchiveUnreadableError(path, `cannot read the archive manifest: ${(cause as Error).message}`, { cause });
  }
  let m: ArchiveManifest;
  try {
    m = JSON.parse(text) as ArchiveManifest;
  } catch (cause) {
    throw new ArchiveUnreadableError(path, 'the archive manifest is not JSON (damaged?)', { cause });
  }
  const ok =
    typeof m === 'object' && m !== null && m.type === MANIFEST_TYPE && m.v === ARCHIVE_VERSION &&
    typeof m.ledger_id === 'string' && typeof m.file?.name === 'string' && typeof m.file.sha256 === 'string' &&
    Number.isSafeInteger(m.file.rows) && Array.isArray(m.chains);
  if (!ok) throw new ArchiveUnreadableError(path, `not a syslog-ledger archive manifest (type ${MANIFEST_TYPE}, v ${ARCHIVE_VERSION})`);
  return m;
}


interface ChainState {
  readonly range: ChainRange;
  readonly acc: MerkleAccumulator;
  expectSeq: number;
  prev: Buffer;
  rows: number;
  last: Buffer | undefined;
}

/** Verifies an archive (FILE: the data file or its manifest). Throws ArchiveUnreadableError when it cannot. */
export async function verifyArchive(file: string, opts: VerifyArchiveOptions): Promise<ArchiveReport> {
  const paths = archivePaths(file);
  const manifest = await readManifest(paths.manifest);
  // The data file sits beside its manifest (only its base name is taken from the manifest).
  const dataPath = join(dirname(paths.manifest), basename(manifest.file.name));
  const report: ArchiveReport = { manifestPath: paths.manifest, dataPath, manifest, rows: 0, findings: [], findingCount: 0 };
  const max = opts.maxFindings ?? 1000;
  const find = (kind: ArchiveFindingKind, chain: string | null, seq: number | null, detail: string): void => {
    report.findingCount += 1;
    if (report.findings.length < max) report.findings.push({ kind, chain, seq, detail });
  };
  if (opts.keys.length === 0) throw new ArchiveUnreadableError(paths.manifest, 'no public key given: the covering checkpoints cannot be checked');
  try {
    await stat(dataPath);
  } catch (cause) {
    throw new ArchiveUnreadableError(dataPath, 'the archive data file named by the manifest is missing', { cause });
  }

  const digest = await sha256File(dataPath);
  if (digest.sha256 !== manifest.file.sha256 || digest.bytes !== manifest.file.bytes) {
    find('file_digest', null, null, `${dataPath} has SHA-256 ${digest.sha256} (${digest.bytes} bytes), the manifest says ${manifest.file.sha256} (${manifest.file.bytes} bytes): the file was changed or damaged`);
  }

  const ranges = new Map(manifest.chains.map((c) => [c.chain, c]));
  const order = manifest.chains.map((c) => c.chain);
  let orderAt = -1;
  let cur: ChainState | undefined;
  const seen = new Set<string>();
  const start = (range: ChainRange): ChainState | undefined => {
    const acc = new MerkleAccumulator();
    try {
      if (range.frontier_before.size !== range.first_seq - 1) throw new RangeError(`frontier_before has size ${range.frontier_before.size}, not ${range.first_seq - 1}`);
      acc.restore({ size: range.frontier_before.size, frontier: range.frontier_before.hashes.map((h) => Buffer.from(h, 'hex')) });
    } catch (err) {
      find('manifest_mismatch', range.chain, range.first_seq, `frontier_before is unusable: ${(err as Error).message}`);
      return undefined;
    }
    if (range.first_seq === 1 && range.first_prev_hash !== ZERO_HASH.toString('hex')) {
      find('manifest_mismatch', range.chain, 1, 'first_prev_hash of seq 1 is not zero');
    }
    return { range, acc, expectSeq: range.first_seq, prev: Buffer.from(range.first_prev_hash, 'hex'), rows: 0, last: undefined };
  };

  let corrupt: Error | undefined;
  let lineNo = 0;
  try {
    for await (const line of gunzipLines(dataPath)) {
      lineNo += 1;
      if (line.length === 0) continue;
      let row: ArchiveRow;
      try {
        row = JSON.parse(line) as ArchiveRow;
        if (typeof row.chain !== 'string' || !Number.isSafeInteger(row.seq) || typeof row.hash !== 'string' || typeof row.raw_base64 !== 'string') {
          throw new MalformedDataError('not a ledger row');
        }
      } catch (err) {
        find('malformed_row', null, null, `line ${lineNo}: ${(err as Error).message}`);
        continue;
      }
      report.rows += 1;
      if (cur?.range.chain !== row.chain) {
        if (cur) finishChain(cur, find);
        cur = undefined;
        const range = ranges.get(row.chain);
        const at = order.indexOf(row.chain, orderAt + 1);
        if (range === undefined || seen.has(row.chain) || at < 0) {
          find('unexpected_row', row.chain, row.seq, `line ${lineNo}: chain "${row.chain}" is ${range ? 'out of the manifest\'s order' : 'not in the manifest'}`);
          await opts.onRow?.(row, false);
          continue;
        }
        orderAt = at;
        seen.add(row.chain);
        cur = start(range);
        if (cur === undefined) {
          await opts.onRow?.(row, false);
          continue;
        }
      }
      const ok = checkRow(cur, row, lineNo, find);
      await opts.onRow?.(row, ok);
    }
  } catch (err) {
    corrupt ??= err as Error;
  }
  if (corrupt) {
    find('file_corrupt', cur?.range.chain ?? null, null, `${dataPath} does not decompress after line ${lineNo}: ${corrupt.message} (damaged or truncated archive)`);
  } else if (cur) {
    finishChain(cur, find);
  }
  for (const c of manifest.chains) {
    if (!seen.has(c.chain)) find('row_count', c.chain, c.first_seq, `the manifest lists ${c.rows} rows of chain "${c.chain}" (seq ${c.first_seq}..${c.last_seq}); the file has none`);
  }
  if (!corrupt && report.rows !== manifest.file.rows) find('row_count', null, null, `the file has ${report.rows} rows, the manifest says ${manifest.file.rows}`);

  // The covering checkpoints: signed by a given key, of this ledger.
  const keys = keyMap(opts.keys);
  for (const c of manifest.chains) {
    const cp = c.checkpoint;
    if (cp?.ledger_id !== manifest.ledger_id || cp.chain !== c.chain) {
      find('checkpoint_signature', c.chain, cp?.seq ?? null, `the covering checkpoint names ledger ${cp?.ledger_id} chain "${cp?.chain}", not this archive's`);
      continue;
    }
    const sig = verifyCheckpointSignature(cp, keys);
    if (sig !== 'valid') {
      find('checkpoint_signature', c.chain, cp.seq, sig === 'unknown_key' ? `the covering checkpoint is signed by key ${cp.key_id}, not by a given --public-key` : 'the covering checkpoint\'s signature does not verify');
    }
  }
  return report;
}

/** The lines of a gzip file; rejects when the stream does not decompress (damaged, truncated). */
async function* gunzipLines(path: string): AsyncGenerator<string> {
  const gunzip = createGunzip();
  const src = createReadStream(path);
  src.on('error', (err) => gunzip.destroy(err));
  src.pipe(gunzip);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of gunzip) {
      const parts = (rest + decoder.write(chunk as Buffer)).split('\n');
      rest = parts.pop() ?? '';
      yield* parts;
    }
    rest += decoder.end();
    if (rest.length > 0) yield rest;
  } finally {
    src.destroy();
    gunzip.destroy();
  }
}

function checkRow(st: ChainState, row: ArchiveRow, lineNo: number, find: (k: ArchiveFindingKind, c: string | null, s: number | null, d: string) => void): boolean {
  const chain = row.chain;
  let ok = true;
  if (row.seq !== st.expectSeq) {
    ok = false;
    find(row.seq > st.expectSeq ? 'seq_gap' : 'seq_order', chain, row.seq, row.seq > st.expectSeq ? `seq ${st.expectSeq}..${row.seq - 1} missing` : `seq ${row.seq} after ${st.expectSeq - 1}`);
  }
  const prevHash = Buffer.from(row.prev_hash, 'hex');
  const hash = Buffer.from(row.hash, 'hex');
  if (!prevHash.equals(st.prev)) {
    ok = false;
    find('broken_link', chain, row.seq, 'prev_hash is not the previous row\'s hash');
  }
  try {
    if (row.received_at !== isoMicros(row.received_at_us)) throw new MalformedDataError(`received_at ${row.received_at} is not received_at_us ${row.received_at_us}`);
    const stored = toStoredRow(row, JSON.stringify(row.syslog), JSON.stringify(row.event));
    let { hashOk, badColumns: bad } = rowFindings(prevHash, stored);
    // A v3 row: the event shown must be the one its hashed columns give.
    if (hashOk && stored.v3?.conn && canonicalJson(v3EventOf(stored.v3.values, stored.v3.conn)) !== canonicalJson(row.event)) hashOk = false;
    if (!hashOk) {
      ok = false;
      find('hash_mismatch', chain, row.seq, `line ${lineNo}: row content does not match its hash`);
    }
    if (bad.length) {
      ok = false;
      find('column_mismatch', chain, row.seq, `columns disagree with event: ${bad.join(', ')}`);
    }
  } catch (err) {
    ok = false;
    find('malformed_row', chain, row.seq, `line ${lineNo}: ${(err as Error).message}`);
  }
  if (st.rows === 0 && row.hash !== st.range.first_hash) find('manifest_mismatch', chain, row.seq, 'first_hash is not the first row\'s hash');
  st.acc.append(hash);
  st.rows += 1;
  st.prev = hash;
  st.last = hash;
  st.expectSeq = row.seq + 1;
  return ok;
}

function finishChain(st: ChainState, find: (k: ArchiveFindingKind, c: string | null, s: number | null, d: string) => void): void {
  const r = st.range;
  if (st.expectSeq - 1 !== r.last_seq || st.rows !== r.rows) {
    find('row_count', r.chain, st.expectSeq, `chain "${r.chain}" ends at seq ${st.expectSeq - 1} after ${st.rows} rows; the manifest says seq ${r.first_seq}..${r.last_seq}, ${r.rows} rows`);
    return;
  }
  if (st.last?.toString('hex') !== r.last_hash) find('manifest_mismatch', r.chain, r.last_seq, 'last_hash is not the last row\'s hash');
  const after = st.acc.snapshot();
  if (after.size !== r.frontier_after.size || after.frontier.map((h) => h.toString('hex')).join() !== r.frontier_after.hashes.join()) {
    find('manifest_mismatch', r.chain, r.last_seq, 'frontier_after is not the Merkle frontier of the rows');
  }
  if (st.acc.root().toString('hex') !== r.merkle_root) find('manifest_mismatch', r.chain, r.last_seq, `merkle_root is not the root of rows 1..${r.last_seq}`);
  // On to the covering checkpoint.
  const cp = r.checkpoint;
  if (!cp || cp.seq !== r.last_seq + r.checkpoint_tail.length) {
    find('checkpoint_mismatch', r.chain, cp?.seq ?? null, `the covering checkpoint (seq ${cp?.seq}) is not at last_seq + ${r.checkpoint_tail.length} tail hashes`);
    return;
  }
  let head = st.last as Buffer;
  for (const h of r.checkpoint_tail) {
    head = Buffer.from(h, 'hex');
    st.acc.append(head);
  }
  if (head.toString('hex') !== cp.head_hash) find('checkpoint_mismatch', r.chain, cp.seq, `row ${cp.seq} has hash ${head.toString('hex')}, the signed checkpoint says ${cp.head_hash}`);
  const root = st.acc.root().toString('hex');
  if (root !== cp.merkle_root) find('checkpoint_mismatch', r.chain, cp.seq, `Merkle root of rows 1..${cp.seq} is ${root}, the signed checkpoint says ${cp.merkle_root}`);
}
