/**
 * `syslog-ledger export` of a 1,000,000-event ledger (the ledger bench/verify.ts builds: the load mix,
 * canonical form v2, one signed checkpoint per 1,000 rows), then `verify-evidence` of the package:
 * wall time, peak RSS (sampled every 50 ms: the target is under 200 MB) and the package's size.
 * Runs inside the verify phase of `npm run bench` (on its ledger); alone: `node dist/bench/export.js`
 * (BENCH_VERIFY_ROWS, BENCH_VERIFY_KEEP as for verify).
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RssSampler } from './lib/proc.js';
import { buildLedger, fillProofTables, type BenchLedger } from './verify.js';

const MAIN = resolve(import.meta.dirname, '../src/main.js');

export interface ExportBenchResult {
  readonly rows: number;
  readonly export: { seconds: number; eventsPerSec: number; peakRssMb: number; exitCode: number | null };
  readonly verifyEvidence: { seconds: number; eventsPerSec: number; peakRssMb: number; exitCode: number | null };
  /** Package size in MB (10^6 bytes), and per file. */
  readonly packageMb: number;
  readonly files: Record<string, number>;
  readonly bytesPerEvent: number;
}

const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

const PROF = process.env.BENCH_EXPORT_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_EXPORT_PROFILE] : [];

async function timed(args: string[]): Promise<{ seconds: number; peakRssMb: number; exitCode: number | null; out: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...PROF, MAIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rss = new RssSampler(child.pid!);
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exitCode = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const peak = rss.stop();
  return { seconds: (performance.now() - t0) / 1000, peakRssMb: round(peak / 1e6), exitCode, out };
}

/** Exports the whole ledger (an unfiltered, complete export by receive time) and checks the package. */
export async function benchExport(l: BenchLedger): Promise<ExportBenchResult> {
  await fillProofTables(l);
  const out = join(l.dir, `evidence-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  try {
    const e = await timed([
      'export', '--database-url', l.url, '--out', out, '--by', 'received', '--reason', 'npm run bench',
      '--signing-key', l.signingKeyFile, '--checkpoint-file', join(l.dir, 'access-checkpoints.jsonl'),
    ]);
    if (e.exitCode !== 0) throw new Error(`export exited ${e.exitCode}: ${e.out.slice(0, 2000)}`);
    const files: Record<string, number> = {};
    for (const f of readdirSync(out)) files[f] = statSync(join(out, f)).size;
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    const v = await timed(['verify-evidence', out, '--public-key', l.publicKeyFile]);
    if (v.exitCode !== 0) throw new Error(`verify-evidence exited ${v.exitCode}: ${v.out.slice(0, 2000)}`);
    return {
      rows: l.rows,
      export: { seconds: round(e.seconds, 2), eventsPerSec: Math.round(l.rows / e.seconds), peakRssMb: e.peakRssMb, exitCode: e.exitCode },
      verifyEvidence: { seconds: round(v.seconds, 2), eventsPerSec: Math.round(l.rows / v.seconds), peakRssMb: v.peakRssMb, exitCode: v.exitCode },
      packageMb: round(total / 1e6),
      files,
      bytesPerEvent: Math.round(total / l.rows),
    };
  } finally {
    if (process.env.BENCH_EXPORT_KEEP_PACKAGE !== '1') rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const rows = Number(process.env.BENCH_VERIFY_ROWS ?? '1000000');
  const l = await buildLedger(rows, 1, Number(process.env.BENCH_VERIFY_TEMPLATES ?? '20000'), process.env.BENCH_VERIFY_KEEP === '1');
  try {
    console.log(JSON.stringify(await benchExport(l), null, 2));
  } finally {
    await l.drop();
  }
}
