import { rename, writeFile } from 'node:fs/promises';
import { Gauge, Registry } from 'prom-client';

/**
 * Results of `syslog-ledger verify --metrics-file PATH`, written in the Prometheus text format for
 * node_exporter's textfile collector (docs/metrics.md, "Verify").
 *
 * A registry of its own, not the server's: verify is a separate, short-lived process, and a
 * server exporting `syslog_ledger_verify_exit_code 0` before any verify ran would claim an intact
 * ledger nobody checked.
 */
export const VERIFY_EXIT_CODES = { intact: 0, tampered: 1, unchecked: 2 } as const;
export type VerifyExitCode = (typeof VERIFY_EXIT_CODES)[keyof typeof VERIFY_EXIT_CODES];

export interface VerifyResult {
  readonly exitCode: VerifyExitCode;
  readonly rowsChecked: number;
  readonly chainsChecked: number;
  readonly durationSec: number;
  /** Problems found, by kind (e.g. `hash_mismatch`, `seq_gap`, `checkpoint_mismatch`). */
  readonly problems?: Readonly<Record<string, number>>;
  /** When the run finished, ms since the epoch; default now. */
  readonly finishedAtMs?: number;
}

export class VerifyMetrics {
  readonly registry = new Registry();

  readonly lastRun = new Gauge({
    name: 'syslog_ledger_verify_last_run_timestamp_seconds',
    help: 'Unix time at which the last `syslog-ledger verify` finished.',
    registers: [this.registry],
  });
  readonly exitCode = new Gauge({
    name: 'syslog_ledger_verify_exit_code',
    help: 'Exit code of the last verify: 0 intact, 1 tampered, 2 could not check.',
    registers: [this.registry],
  });
  readonly rowsChecked = new Gauge({
    name: 'syslog_ledger_verify_rows_checked',
    help: 'Ledger rows recomputed by the last verify.',
    registers: [this.registry],
  });
  readonly chainsChecked = new Gauge({
    name: 'syslog_ledger_verify_chains_checked',
    help: 'Hash chains checked by the last verify.',
    registers: [this.registry],
  });
  readonly duration = new Gauge({
    name: 'syslog_ledger_verify_duration_seconds',
    help: 'Wall time of the last verify.',
    registers: [this.registry],
  });
  readonly problems = new Gauge({
    name: 'syslog_ledger_verify_problems',
    help: 'Problems found by the last verify, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  record(result: VerifyResult): void {
    this.lastRun.set((result.finishedAtMs ?? Date.now()) / 1000);
    this.exitCode.set(result.exitCode);
    this.rowsChecked.set(result.rowsChecked);
    this.chainsChecked.set(result.chainsChecked);
    this.duration.set(result.durationSec);
    this.problems.reset();
    for (const [kind, n] of Object.entries(result.problems ?? {})) this.problems.set({ kind }, n);
  }
}

/**
 * Writes the verify result to `path` atomically (temporary file, then rename), so the textfile
 * collector never reads half a file. Name the file `*.prom` inside the collector's directory.
 */
export async function writeVerifyMetricsFile(path: string, result: VerifyResult): Promise<void> {
  const metrics = new VerifyMetrics();
  metrics.record(result);
  const tmp = `${path}.tmp.${process.pid}`;
  await writeFile(tmp, await metrics.registry.metrics(), { mode: 0o644 });
  await rename(tmp, path);
}
