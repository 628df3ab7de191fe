/** `syslog-ledger verify`: recompute and check the ledger. Exit 0 intact, 1 tampered, 2 could not check. */
import { resolve } from 'node:path';
import { bool, helpText, int, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { describeError } from '../errors.js';
import { verifyLedger, type VerifyReport } from '../verify/verify.js';
import { DB_OPTIONS } from './migrate.js';
import { READ_DB_OPTIONS, waitForReplay } from '../db/replica.js';
import pg from 'pg';
import { existsSync } from 'node:fs';
import { VerifyError } from '../errors.js';
import { loadFrontier } from '../checkpoints/merkle-store.js';
import { loadPublicKey } from '../checkpoints/signing.js';
import { verifyChainSets } from '../checkpoints/chain-set.js';
import { CheckpointVerifier, DEFAULT_CHECKPOINT_FILE, DEFAULT_PUBLIC_KEY_FILE, toVerifyKind } from '../verify/checkpoints.js';
import { list } from '../config.js';
import { retentionBoundaries } from '../retention/boundaries.js';
import { verifyArchiveCommand } from '../retention/cli.js';

export const VERIFY_OPTIONS = {
  ...DB_OPTIONS,
  ...READ_DB_OPTIONS,
  chain: { type: 'string', arg: 'NAME', help: 'verify this chain only (default: every chain)' },
  from: { type: 'string', arg: 'SEQ', help: 'start at this seq (trusting its prev_hash)' },
  json: { type: 'boolean', help: 'print a one-line JSON summary' },
  checkpoints: { type: 'string', multiple: true, default: DEFAULT_CHECKPOINT_FILE, arg: 'FILE', help: 'signed checkpoint file(s) (serve --checkpoint-file); detects truncation and re-chaining' },
  'public-key': { type: 'string', multiple: true, default: DEFAULT_PUBLIC_KEY_FILE, arg: 'FILE', help: 'checkpoint signing public key(s)' },
  'no-checkpoints': { type: 'boolean', help: 'check the hash chains only (cannot detect a removed tail or a re-chained ledger)' },
  'max-findings': { type: 'string', default: '1000', arg: 'N', help: 'list at most N findings (all are counted)' },
  archive: { type: 'string', arg: 'FILE', help: 'verify an archive (.jsonl.gz or .manifest.json) offline with --public-key only, instead of the database' },
  workers: { type: 'string', arg: 'N', help: 'worker threads (default: one per core, at least 2, for ledgers of 100,000 rows or more; 0: none)' },
  'range-size': { type: 'string', default: '65536', arg: 'SEQS', help: 'seqs per range verified in parallel (ranges are stitched back in order)' },
} as const satisfies OptionSpecs;

export async function verifyCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, VERIFY_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger verify [options]', 'Recompute every hash chain and report each finding. Exit 0 intact, 1 tampered, 2 could not check.', VERIFY_OPTIONS));
    return 0;
  }
  const json = bool(values, 'json');
  const archive = str(values, 'archive');
  if (archive !== undefined) return verifyArchiveCommand(archive, list(values, 'public-key'), json);
  const fromRaw = str(values, 'from');
  let report: VerifyReport;
  let checkpointSummary: unknown;
  let chainSetSummary: unknown;
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const progress = process.stderr.isTTY && !json ? new ProgressBar(process.stderr) : undefined;
    const chain = str(values, 'chain');
    const from = fromRaw ? int(values, 'from', 1) : undefined;
    const workers = str(values, 'workers') !== undefined ? int(values, 'workers', 0, 64) : undefined;
    // A replica (--read-database-url): the checkpoint files are read first, then the replica is
    // waited for until it has replayed what the primary had then: what they vouch for is there.
    const readUrl = str(values, 'read-database-url') ?? db.url;
    const cv = bool(values, 'no-checkpoints') ? undefined : await loadCheckpoints(readUrl, values, chain, from);
    if (readUrl !== db.url) await waitForReplay(db.url, readUrl);
    report = await verifyLedger(readUrl, {
      ...(cv ? { onRow: (c: string, s: number, h: Buffer) => cv.feed(c, s, h) } : {}),
      ...(chain ? { chain } : {}),
      ...(from ? { fromSeq: from } : {}),
      ...(workers !== undefined ? { workers } : {}),
      rangeSeqs: int(values, 'range-size', 1),
      maxFindings: int(values, 'max-findings', 1),
      ...(cv ? { retention: { keys: await Promise.all(list(values, 'public-key').map((f) => loadPublicKey(f))) } } : {}),
      ...(progress ? { onProgress: (rows: number, expected: number) => progress.update(rows, expected) } : {}),
    });
    progress?.done();
    if (cv) {
      for (const f of cv.finish()) {
        report.findingCount++;
        report.findings.push({ chain: f.chain, seq: f.seq ?? 0, kind: toVerifyKind(f.kind), detail: `${f.kind}: ${f.detail}` });
      }
      checkpointSummary = cv.summary();
      // Several servers: no chain dropped from the ledger, none gone backwards (src/checkpoints/chain-set.ts).
      if (!chain) chainSetSummary = await checkChainSets(readUrl, list(values, 'public-key'), report);
    }
  } catch (err) {
    const msg = `verify could not check the ledger: ${describeError(err)}`;
    if (json) console.log(JSON.stringify({ status: 'error', error: msg }));
    else console.error(msg);
    return 2;
  } finally {
    await db.release();
  }
  const status = report.findingCount === 0 ? 'intact' : 'tampered';
  if (json) {
    console.log(JSON.stringify({ status, chains: report.chains, rows: report.rows, findings: report.findingCount, first: report.findings.slice(0, 20), heads: report.heads, checkpoints: checkpointSummary ?? null, chain_sets: chainSetSummary ?? null, elapsed_ms: report.elapsedMs, workers: report.workers, rechecked_rows: report.rechecked }));
  } else {
    for (const f of report.findings) console.log(`TAMPERED chain=${f.chain} seq=${f.seq} ${f.kind}: ${f.detail}`);
    const rate = Math.round(report.rows / Math.max(report.elapsedMs / 1000, 0.001));
    console.log(`${status}: ${report.rows} rows in ${report.chains} chain(s) checked in ${(report.elapsedMs / 1000).toFixed(2)} s (${rate} rows/s), ${report.findingCount} finding(s)`);
  }
  return report.findingCount === 0 ? 0 : 1;
}

/** Chain-set checkpoints (serve --chain-set-interval): their findings join the report. */
async function checkChainSets(url: string, keyFiles: readonly string[], report: VerifyReport): Promise<{ checkpoints: number; chains: number }> {
  const keys = await Promise.all(keyFiles.map((f) => loadPublicKey(f)));
  const client = new pg.Client({ connectionString: url, application_name: 'syslog-ledger verify' });
  await client.connect();
  try {
    const r = await verifyChainSets(client, keys);
    for (const f of r.findings) {
      report.findingCount++;
      const kind = f.kind === 'chain_dropped' ? 'checkpoint_truncation' : f.kind === 'chain_set_bad_signature' || f.kind === 'chain_set_unknown_key' ? 'checkpoint_signature' : f.kind === 'chain_set_backwards' || f.kind === 'chain_set_order' ? 'checkpoint_file' : 'checkpoint_mismatch';
      report.findings.push({ chain: f.chain, seq: f.seq, kind, detail: `${f.kind}: ${f.detail}` });
    }
    return { checkpoints: r.checkpoints, chains: r.chains };
  } finally {
    await client.end();
  }
}

/** Loads and validates the checkpoint files; a missing file or key means verify cannot check (exit 2). */
async function loadCheckpoints(url: string, values: Parameters<typeof list>[0], chain: string | undefined, from: number | undefined): Promise<CheckpointVerifier> {
  const files = list(values, 'checkpoints');
  const keyFiles = list(values, 'public-key');
  for (const f of [...files, ...keyFiles]) {
    if (!existsSync(f)) throw new VerifyError(`${f} not found: pass --checkpoints/--public-key (serve writes them), or --no-checkpoints to check the hash chains only`);
  }
  const keys = await Promise.all(keyFiles.map((f) => loadPublicKey(f)));
  const client = new pg.Client({ connectionString: url, application_name: 'syslog-ledger verify' });
  await client.connect();
  try {
    const meta = await client.query<{ ledger_id: string }>('SELECT ledger_id::text AS ledger_id FROM ledger_meta');
    const ledgerId = meta.rows[0]?.ledger_id;
    if (!ledgerId) throw new VerifyError('ledger_meta has no ledger id: is this a syslog-ledger database?');
    const cv = await CheckpointVerifier.load({ ledgerId, keys, files, ...(chain ? { chain } : {}), ...(from ? { fromSeq: from } : {}) });
    if (chain && from && from > 1) cv.startChain(chain, from, await loadFrontier(client, chain, from - 1));
    // Chains whose oldest rows were archived: their Merkle trees resume from the retention record's frontier.
    if (!from) for (const [c, b] of await retentionBoundaries(client, { keys })) if (!chain || c === chain) cv.startChain(c, b.firstSeq, b.frontier);
    return cv;
  } finally {
    await client.end();
  }
}

/**
 * `[########------------]  41%  410,000/1,000,000 events  152,000 events/s  ETA 0:04` on stderr, on a
 * terminal only, redrawn at most 5 times a second; the rate is over the last ~2 s, so the ETA follows
 * the current speed rather than the start-up.
 */
class ProgressBar {
  readonly #out: NodeJS.WriteStream;
  readonly #samples: Array<[number, number]> = [];
  #drawn = 0;
  #shown = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    // The first draw waits half a second, so that the rate is over some rows, not the first batch.
    this.#drawn = Date.now() + 300;
    this.#samples.push([Date.now(), 0]);
  }

  update(rows: number, expected: number): void {
    const now = Date.now();
    if (now - this.#drawn < 200) return;
    this.#drawn = now;
    this.#samples.push([now, rows]);
    while (this.#samples.length > 2 && now - this.#samples[0]![0] > 2000) this.#samples.shift();
    const [t0, r0] = this.#samples[0]!;
    const rate = (rows - r0) / Math.max((now - t0) / 1000, 0.001);
    const total = Math.max(expected, rows);
    const frac = total > 0 ? rows / total : 1;
    const width = 24;
    const full = Math.min(width, Math.round(frac * width));
    const eta = rate > 0 ? Math.max(0, Math.round((total - rows) / rate)) : undefined;
    const n = (x: number): string => Math.round(x).toLocaleString('en-US');
    const line =
      `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${n(rows)}/${n(total)} events  ` +
      `${n(rate)} events/s  ETA ${eta === undefined ? '?' : `${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, '0')}`}`;
    this.#out.write(`\r\x1b[K${line.slice(0, Math.max(20, (this.#out.columns || 120) - 1))}`);
    this.#shown = true;
  }

  done(): void {
    if (this.#shown) this.#out.write('\r\x1b[K');
  }
}
