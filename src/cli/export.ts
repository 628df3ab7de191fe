/**
 * `syslog-ledger export --out DIR [filters]`: an evidence package for a query (docs/evidence.md).
 * Exit 0 written (and its access recorded in the ledger), 2 not written (nothing left behind).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { helpText, oneOf, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { ConfigError } from '../errors.js';
import { resolveDatabase } from '../db/resolve.js';
import { recordAccess, exportAccessEvent } from '../evidence/access.js';
import { runExport, type ExportSummary } from '../evidence/export.js';
import { TIME_BASES, absoluteTime, statusId, type EvidenceQuery } from '../evidence/query.js';
import { loadOrCreateSigningKey } from '../checkpoints/signing.js';
import { DEFAULT_CHECKPOINT_FILE } from '../verify/checkpoints.js';
import { DB_OPTIONS } from './migrate.js';
import { READ_DB_OPTIONS, waitForReplay } from '../db/replica.js';

export const EXPORT_OPTIONS = {
  ...DB_OPTIONS,
  ...READ_DB_OPTIONS,
  out: { type: 'string', arg: 'DIR', help: 'the package folder to create (must not exist)' },
  from: { type: 'string', arg: 'TIME', help: 'from this time, inclusive: RFC 3339, or ago (24h, 7d); unset: the beginning' },
  to: { type: 'string', arg: 'TIME', help: 'up to this time, exclusive (default: now)' },
  by: { type: 'string', default: 'event', arg: 'event|received', help: "which time --from/--to apply to: the event's own time, or the receive time" },
  host: { type: 'string', arg: 'NAME', help: 'only events of this host name (filtered export)' },
  user: { type: 'string', arg: 'NAME', help: 'only events whose user or acting user is this (filtered export)' },
  class: { type: 'string', arg: 'UID', help: 'only events of this OCSF class_uid (filtered export)' },
  status: { type: 'string', arg: 'STATUS', help: 'only events with this status: success, failure, or an OCSF status_id (filtered export)' },
  chain: { type: 'string', arg: 'NAME', help: 'only this chain (still a complete export)' },
  reason: { type: 'string', arg: 'TEXT', help: 'why: stated in the signed manifest and in the access record' },
  'signing-key': { type: 'string', default: './certs/ledger-signing.key', arg: 'FILE', help: "the ledger's Ed25519 key (serve --signing-key): signs the manifest and the access record's checkpoint" },
  'checkpoint-file': { type: 'string', default: DEFAULT_CHECKPOINT_FILE, arg: 'FILE', help: 'signed chain heads file (serve --checkpoint-file): the access record\'s checkpoint is appended' },
} as const satisfies OptionSpecs;

export interface ExportDeps {
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  readonly isTTY?: boolean;
}

export async function exportCommand(argv: string[], deps: ExportDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const { values } = parseOptions(argv, EXPORT_OPTIONS);
  if (values.help) {
    out(`${helpText('syslog-ledger export --out DIR [filters] [options]', 'Write a signed evidence package for a query: events (JSON lines and CSV), range proofs against signed checkpoints, a signed manifest. Check it offline with `syslog-ledger verify-evidence`.', EXPORT_OPTIONS)}\n`);
    return 0;
  }
  const now = Date.now();
  const fromText = str(values, 'from') ?? null;
  const toText = str(values, 'to') ?? null;
  const classText = str(values, 'class');
  if (classText !== undefined && !/^\d+$/.test(classText)) throw new ConfigError('--class', `expects an OCSF class_uid (a number), got "${classText}"`);
  const statusText = str(values, 'status');
  const query: EvidenceQuery = {
    by: oneOf(values, 'by', TIME_BASES),
    from: fromText === null ? null : absoluteTime('--from', fromText, now),
    to: absoluteTime('--to', toText ?? 'now', now),
    given: { from: fromText, to: toText },
    host: str(values, 'host') ?? null,
    user: str(values, 'user') ?? null,
    class_uid: classText === undefined ? null : Number(classText),
    status_id: statusText === undefined ? null : statusId(statusText),
    chain: str(values, 'chain') ?? null,
  };
  if (query.from !== null && query.from >= query.to) throw new ConfigError('--from', `${query.from} is not before --to ${query.to}`);
  const dir = requireStr(values, 'out');
  const keyPath = resolve(requireStr(values, 'signing-key'));
  if (!existsSync(keyPath)) throw new ConfigError('--signing-key', `${keyPath} not found: export signs its manifest with the key serve signs checkpoints with`);
  const key = await loadOrCreateSigningKey(keyPath);
  const checkpointFile = resolve(requireStr(values, 'checkpoint-file'));

  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = deps.isTTY ?? process.stderr.isTTY === true;
  const started = Date.now();
  let summary: ExportSummary;
  try {
    // Reads on a replica when given (--read-database-url); the access record goes to the primary.
    const readUrl = str(values, 'read-database-url') ?? db.url;
    if (readUrl !== db.url) await waitForReplay(db.url, readUrl);
    summary = await runExport({
      databaseUrl: readUrl,
      out: dir,
      query,
      reason: str(values, 'reason') ?? null,
      key,
      signal: abort.signal,
      onProgress: tty ? (n, total) => err(`\r${progressLine(n, total, Date.now() - started)}`) : undefined,
      beforePublish: async (s) => void (await recordAccess(db.url, { key, checkpointFile, event: exportAccessEvent(s) })),
    });
  } catch (e) {
    if (tty) err('\n');
    err(`syslog-ledger export: FAILED, no package written: ${(e as Error).message}\n`);
    return 2;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await db.release();
  }
  if (tty) err('\n');
  out(
    `${summary.dir}: ${summary.mode} export, ${summary.matching} matching rows (${summary.lines} lines, ${summary.runs} run(s)), ` +
      `${summary.bytes} bytes, manifest sha256 ${summary.manifestSha256}; recorded in the ledger\n`,
  );
  return 0;
}

function progressLine(n: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (n * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? Math.max(0, Math.round((total - n) / rate)) : 0;
  const pct = total > 0 ? ((100 * n) / total).toFixed(1) : '100.0';
  return `  ${n.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} events (${pct} %)  ${Math.round(rate).toLocaleString('en-US')}/s  ETA ${eta}s   `;
}
