/**
 * Ingest cost of detections and redaction (issue 11): toRecord throughput on one core over the load
 * test's frame mix, with both off and with both on. "On" is what serve does per frame with
 * `--detections` and the default redaction rules: toRecord with the redactor (every frame through the
 * sieves) plus Detector.observe of the committed event (what the writer's onCommitted hook runs per
 * row), with every rule active (a change window and service-account patterns configured).
 * Budget: "on" within 15% of "off". A third figure shows the mix with 2% of frames carrying a secret.
 *
 * Runs are interleaved (off, on, off, on, ...) and each figure is the median of its runs, so a
 * neighbour's load on a shared machine hits both alike.
 *
 *   node dist/bench/ingest.js         (or benchIngest() from bench/run.ts)
 *   BENCH_INGEST_N (20000 frames), BENCH_INGEST_RUNS (5)
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseDetectionConfig } from '../src/detect/config.js';
import { Detector } from '../src/detect/detector.js';
import type { Frame } from '../src/framing/framer.js';
import { toRecord } from '../src/main.js';
import { Metrics } from '../src/metrics/registry.js';
import { defaultRedactionConfig } from '../src/redact/config.js';
import { redactionKeyFrom } from '../src/redact/key.js';
import { Redactor } from '../src/redact/redactor.js';
import { keep, measure, type OpsResult } from './lib/measure.js';
import { BENCH_PEER, mixFrames } from './stages.js';

const RECEIVED_US = Date.UTC(2026, 10, 28, 12, 0, 1) * 1000 + 123;
const CFG = { format: 'auto', timeZone: 'UTC' } as const;
/** The budget the issue sets: detections and redaction may cost at most this share of toRecord throughput. */
export const INGEST_BUDGET = 0.15;

export interface IngestReport {
  readonly off: OpsResult;
  readonly on: OpsResult;
  readonly onWithSecrets: OpsResult;
  /** 1 - on/off: the share of throughput detections and redaction cost. */
  readonly overhead: number;
  readonly withinBudget: boolean;
  readonly findings: number;
  readonly redacted: number;
}

/** Lines with secrets of each rule, for the 2% variant. */
const SECRET_LINES = [
  '<134>Nov 28 12:00:01 app-1 billing[311]: retry charge user=bob password=hunter2 card=4111 1111 1111 1111',
  '<134>Nov 28 12:00:01 app-2 api[12]: upstream call Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl failed',
  '<134>Nov 28 12:00:01 app-3 worker[7]: connecting postgres://app:s3cr3t@db.internal:5432/ledger with AKIAIOSFODNN7EXAMPLE',
];

function withSecrets(frames: readonly Frame[]): Frame[] {
  return frames.map((f, i) => {
    if (i % 50 !== 0) return f;
    const raw = Buffer.from(SECRET_LINES[(i / 50) % SECRET_LINES.length]!);
    return { ...f, raw, body: raw, truncated: false };
  });
}

export function benchIngest(n = Number(process.env.BENCH_INGEST_N ?? 20000), runs = Number(process.env.BENCH_INGEST_RUNS ?? 5)): IngestReport {
  const frames = mixFrames(n);
  const secretFrames = withSecrets(frames);
  const metrics = new Metrics({ defaultMetrics: false });
  const redactor = new Redactor(defaultRedactionConfig(), redactionKeyFrom(Buffer.alloc(32, 1)), metrics);
  let findings = 0;
  const detector = new Detector({
    config: parseDetectionConfig({
      warmup: 0,
      // The same frames pass many times: rules use the receive time, which moves on by an hour per
      // pass (windows and cool-downs expire as they would over hours of traffic).
      max_clock_skew: 0,
      change_window: { windows: [{ cron: '* 9-17 * * mon-fri', time_zone: 'Europe/Berlin' }] },
      service_accounts: { patterns: ['svc-*', 'backup'] },
    }),
    metrics,
    enqueue: () => void findings++,
  });
  const onCfg = { ...CFG, redactor };
  let seq = 0;
  let pass = 0;

  const off = (): unknown => {
    let last: unknown;
    for (let i = 0; i < frames.length; i++) last = toRecord(frames[i]!, BENCH_PEER, RECEIVED_US + i * 20, CFG, metrics);
    return last;
  };
  const on = (input: readonly Frame[]) => (): unknown => {
    let last: unknown;
    pass++;
    for (let i = 0; i < input.length; i++) {
      const t = RECEIVED_US + pass * 3_600_000_000 + i * 20;
      const r = toRecord(input[i]!, BENCH_PEER, t, onCfg, metrics);
      detector.observe(r.event, r.columns, 'bench', ++seq, t);
      last = r;
    }
    return last;
  };

  const offRuns: OpsResult[] = [];
  const onRuns: OpsResult[] = [];
  const secretRuns: OpsResult[] = [];
  const opts = { rounds: 1, roundMs: Number(process.env.BENCH_ROUND_MS ?? 400), warmupMs: 200 };
  for (let r = 0; r < runs; r++) {
    offRuns.push(measure('toRecord, detections and redaction off', frames.length, off, opts));
    onRuns.push(measure('toRecord, detections and redaction on', frames.length, on(frames), opts));
    secretRuns.push(measure('  on, 2% of frames with a secret', frames.length, on(secretFrames), opts));
  }
  const median = (xs: OpsResult[]): OpsResult => {
    const sorted = [...xs].sort((a, b) => a.opsPerSec - b.opsPerSec);
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    return { ...mid, rounds: xs.map((x) => x.opsPerSec) };
  };
  const o = median(offRuns);
  const m = median(onRuns);
  const overhead = 1 - m.opsPerSec / o.opsPerSec;
  keep(detector.stats);
  let redacted = 0;
  for (const f of secretFrames.slice(0, 150)) if (toRecord(f, BENCH_PEER, RECEIVED_US, onCfg, metrics).event.redactions !== undefined) redacted++;
  return { off: o, on: m, onWithSecrets: median(secretRuns), overhead, withinBudget: overhead <= INGEST_BUDGET, findings, redacted };
}

export function printIngest(r: IngestReport): void {
  const row = (x: OpsResult): string => `  ${x.name.padEnd(44)} ${Math.round(x.opsPerSec).toLocaleString('en-US').padStart(10)} events/s`;
  console.log('ingest (toRecord + detections + redaction, one core):');
  console.log(row(r.off));
  console.log(row(r.on));
  console.log(row(r.onWithSecrets));
  console.log(`  overhead ${(r.overhead * 100).toFixed(1)}% (budget ${INGEST_BUDGET * 100}%): ${r.withinBudget ? 'within budget' : 'OVER BUDGET'}; ${r.findings} findings, ${r.redacted}/3 secret frames of 150 redacted`);
}

function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(argv1)).href;
  } catch {
    return false;
  }
}

if (isEntry()) printIngest(benchIngest());
