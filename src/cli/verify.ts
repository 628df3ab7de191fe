/** `syslog-ledger verify`: recompute and check the ledger. Exit 0 intact, 1 tampered, 2 could not check. */
import { resolve } from 'node:path';
import { bool, helpText, int, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { describeError } from '../errors.js';
import { verifyLedger, type VerifyReport } from '../ledger/verify.js';
import { DB_OPTIONS } from './migrate.js';

export const VERIFY_OPTIONS = {
  ...DB_OPTIONS,
  chain: { type: 'string', arg: 'NAME', help: 'verify this chain only (default: every chain)' },
  from: { type: 'string', arg: 'SEQ', help: 'start at this seq (trusting its prev_hash)' },
  json: { type: 'boolean', help: 'print a one-line JSON summary' },
  'max-findings': { type: 'string', default: '1000', arg: 'N', help: 'list at most N findings (all are counted)' },
} as const satisfies OptionSpecs;

export async function verifyCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, VERIFY_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger verify [options]', 'Recompute every hash chain and report each finding. Exit 0 intact, 1 tampered, 2 could not check.', VERIFY_OPTIONS));
    return 0;
  }
  const json = bool(values, 'json');
  const fromRaw = str(values, 'from');
  let report: VerifyReport;
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const tty = process.stderr.isTTY && !json;
    const started = Date.now();
    const chain = str(values, 'chain');
    report = await verifyLedger(db.url, {
      ...(chain ? { chain } : {}),
      ...(fromRaw ? { fromSeq: int(values, 'from', 1) } : {}),
      maxFindings: int(values, 'max-findings', 1),
      ...(tty
        ? {
            onProgress: (rows: number) => {
              const s = (Date.now() - started) / 1000;
              process.stderr.write(`\rverified ${rows} rows, ${Math.round(rows / Math.max(s, 0.001))} rows/s   `);
            },
          }
        : {}),
    });
    if (tty) process.stderr.write('\n');
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
    console.log(JSON.stringify({ status, chains: report.chains, rows: report.rows, findings: report.findingCount, first: report.findings.slice(0, 20), heads: report.heads, elapsed_ms: report.elapsedMs }));
  } else {
    for (const f of report.findings) console.log(`TAMPERED chain=${f.chain} seq=${f.seq} ${f.kind}: ${f.detail}`);
    const rate = Math.round(report.rows / Math.max(report.elapsedMs / 1000, 0.001));
    console.log(`${status}: ${report.rows} rows in ${report.chains} chain(s) checked in ${(report.elapsedMs / 1000).toFixed(2)} s (${rate} rows/s), ${report.findingCount} finding(s)`);
  }
  return report.findingCount === 0 ? 0 : 1;
}
