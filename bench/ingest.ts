/**
 * Ingest cost of detections and redaction (issue 11): toRecord throughput on one core over the load
 * test's frame mix, with both off and with both on. "On" is what serve does per frame with
 * `--detections` and the default redaction rules: toRecord with the redactor (every frame through the
 * gate) plus Detector.observe of the event (what the writer's onCommitted hook runs per committed
 * row), with every rule active (a change window and service-account patterns configured).
 * Budget: "on" within 15% of "off".
 *
 * Also reported: the per-event work of the whole pipeline on one core (toRecord, then the writer's
 * chaining: canonical JSON, SHA-256 chain hash, COPY line; then, with them on, the detector on the
 * chained rows as its commit hook sees them), which is what ingest throughput is made of short of
 * TLS and PostgreSQL; redaction alone and detection alone; the mix with 2% of frames carrying a secret;
 * and the mix with its source addresses drawn from a pool of 256 (the load test gives every line a
 * new random address, which makes every failed login a new key for the per-source rules; real
 * traffic repeats its sources).
 *
 * Runs are interleaved (off, on, ... per round) and each figure is the median of its rounds, so a
 * neighbour's load on a shared machine hits all alike.
 *
 *   node dist/bench/ingest.js         (or benchIngest() from bench/run.ts)
 *   BENCH_INGEST_N (20000 frames), BENCH_INGEST_RUNS (5), BENCH_ROUND_MS (400)
 */
import { parseDetectionConfig } from '../src/detect/config.js';
import { Detector } from '../src/detect/detector.js';
import type { Frame } from '../src/framing/framer.js';
import { toRecord } from '../src/stages.js';
import { Metrics } from '../src/metrics/registry.js';
import { defaultRedactionConfig } from '../src/redact/config.js';
import { redactionKeyFrom } from '../src/redact/key.js';
import { Redactor } from '../src/redact/redactor.js';
import { keep, measure, type OpsResult } from './lib/measure.js';
import { BENCH_PEER, chainRecords, mixFrames } from './stages.js';
import type { LedgerRecord } from '../src/ledger/types.js';
import { isEntry } from './lib/entry.js';

const RECEIVED_US = Date.UTC(2026, 10, 28, 12, 0, 1) * 1000 + 123;
const CFG = { format: 'auto', timeZone: 'UTC' } as const;
/** The budget the issue sets: detections and redaction may cost at most this share of toRecord throughput. */
export const INGEST_BUDGET = 0.15;

export interface IngestReport {
  readonly off: OpsResult;
  readonly on: OpsResult;
  readonly redactionOnly: OpsResult;
  readonly detectionOnly: OpsResult;
  readonly onWithSecrets: OpsResult;
  readonly pipelineOff: OpsResult;
  readonly pipelineOn: OpsResult;
  readonly overheadPipeline: number;
  /** The pipeline figure within the budget. */
  readonly pipelineWithinBudget: boolean;
  readonly offPooled: OpsResult;
  readonly onPooled: OpsResult;
  /** 1 - on/off: the share of throughput detections and redaction cost (the budget's measure). */
  readonly overhead: number;
  readonly overheadRedaction: number;
  readonly overheadDetection: number;
  readonly overheadPooled: number;
  readonly withinBudget: boolean;
  readonly findings: number;
  readonly redacted: number;
}

/** Lines with secrets of each kind, for the 2% variant. */
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

/** The frames with every IPv4 address replaced by one of 256 (same address, same replacement). */
function pooled(frames: readonly Frame[]): Frame[] {
  return frames.map((f) => {
    const body = f.body.toString('latin1').replace(/\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g, (_m, a: string, b: string, c: string, d: string) => {
      const h = (+a * 31 + +b * 17 + +c * 7 + +d) & 255;
      return `198.51.${h >> 4}.${h & 15}`;
    });
    const nb = Buffer.from(body, 'latin1');
    return { ...f, body: nb, raw: Buffer.concat([nb, f.raw.subarray(f.body.length)]) };
  });
}

export function benchIngest(n = Number(process.env.BENCH_INGEST_N ?? 20000), runs = Number(process.env.BENCH_INGEST_RUNS ?? 5)): IngestReport {
  const frames = mixFrames(n);
  const secretFrames = withSecrets(frames);
  const poolFrames = pooled(frames);
  const metrics = new Metrics({ defaultMetrics: false });
  const redactor = new Redactor(defaultRedactionConfig(), redactionKeyFrom(Buffer.alloc(32, 1)), metrics);
  let findings = 0;
  const detector = (): Detector =>
    new Detector({
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

  const loop = (input: readonly Frame[], cfg: typeof CFG | typeof onCfg, d: Detector | null) => (): unknown => {
    let last: unknown;
    pass++;
    for (let i = 0; i < input.length; i++) {
      const t = RECEIVED_US + pass * 3_600_000_000 + i * 20;
      const r = toRecord(input[i]!, BENCH_PEER, t, cfg, metrics);
      if (d !== null) d.observe(r.event, r.columns, 'bench', ++seq, t);
      last = r;
    }
    return last;
  };
  // The chaining costs ~10x toRecord: a fifth of the frames keeps a round short.
  const pipeFrames = frames.slice(0, Math.max(1, Math.floor(frames.length / 5)));
  const pipeline = (cfg: typeof CFG | typeof onCfg, d: Detector | null) => (): unknown => {
    pass++;
    const records: LedgerRecord[] = new Array(pipeFrames.length);
    for (let i = 0; i < pipeFrames.length; i++) records[i] = toRecord(pipeFrames[i]!, BENCH_PEER, RECEIVED_US + pass * 3_600_000_000 + i * 20, cfg, metrics);
    const { rows, copy } = chainRecords('bench', records, { seq: seq, hash: Buffer.alloc(32) });
    seq += rows.length;
    if (d !== null) d.onCommitted(rows);
    return copy;
  };
  const variants: Record<string, [string, () => unknown]> = {
    pipelineOff: ['pipeline (toRecord + chaining), off', pipeline(CFG, null)],
    pipelineOn: ['pipeline (toRecord + chaining + detect), on', pipeline(onCfg, detector())],
    off: ['toRecord, detections and redaction off', loop(frames, CFG, null)],
    on: ['toRecord, detections and redaction on', loop(frames, onCfg, detector())],
    redactionOnly: ['  redaction only', loop(frames, onCfg, null)],
    detectionOnly: ['  detections only', loop(frames, CFG, detector())],
    onWithSecrets: ['  on, 2% of frames with a secret', loop(secretFrames, onCfg, detector())],
    offPooled: ['off, sources from a pool of 256', loop(poolFrames, CFG, null)],
    onPooled: ['on, sources from a pool of 256', loop(poolFrames, onCfg, detector())],
  };
  const results: Record<string, OpsResult[]> = {};
  const opts = { rounds: 1, roundMs: Number(process.env.BENCH_ROUND_MS ?? 400), warmupMs: 200 };
  for (let r = 0; r < runs; r++) {
    for (const [k, [name, fn]] of Object.entries(variants)) (results[k] ??= []).push(measure(name, k.startsWith('pipeline') ? pipeFrames.length : frames.length, fn, opts));
  }
  const median = (k: string): OpsResult => {
    const xs = results[k]!;
    const sorted = [...xs].sort((a, b) => a.opsPerSec - b.opsPerSec);
    return { ...sorted[Math.floor(sorted.length / 2)]!, rounds: xs.map((x) => x.opsPerSec) };
  };
  const o = median('off');
  const cost = (x: OpsResult, base = o): number => 1 - x.opsPerSec / base.opsPerSec;
  const on = median('on');
  let redacted = 0;
  for (const f of secretFrames.slice(0, 150)) if (toRecord(f, BENCH_PEER, RECEIVED_US, onCfg, metrics).event.redactions !== undefined) redacted++;
  keep(seq);
  return {
    off: o,
    on,
    redactionOnly: median('redactionOnly'),
    detectionOnly: median('detectionOnly'),
    onWithSecrets: median('onWithSecrets'),
    pipelineOff: median('pipelineOff'),
    pipelineOn: median('pipelineOn'),
    overheadPipeline: cost(median('pipelineOn'), median('pipelineOff')),
    pipelineWithinBudget: cost(median('pipelineOn'), median('pipelineOff')) <= INGEST_BUDGET,
    offPooled: median('offPooled'),
    onPooled: median('onPooled'),
    overhead: cost(on),
    overheadRedaction: cost(median('redactionOnly')),
    overheadDetection: cost(median('detectionOnly')),
    overheadPooled: cost(median('onPooled'), median('offPooled')),
    withinBudget: cost(on) <= INGEST_BUDGET,
    findings,
    redacted,
  };
}

export function printIngest(r: IngestReport): void {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const row = (x: OpsResult, extra = ''): string => `  ${x.name.padEnd(44)} ${Math.round(x.opsPerSec).toLocaleString('en-US').padStart(10)} events/s${extra}`;
  console.log('ingest (toRecord + detections + redaction, one core):');
  console.log(row(r.off));
  console.log(row(r.on, `   cost ${pct(r.overhead)} (budget ${pct(INGEST_BUDGET)}: ${r.withinBudget ? 'within' : 'OVER'})`));
  console.log(row(r.redactionOnly, `   cost ${pct(r.overheadRedaction)}`));
  console.log(row(r.detectionOnly, `   cost ${pct(r.overheadDetection)}`));
  console.log(row(r.onWithSecrets));
  console.log(row(r.pipelineOff));
  console.log(row(r.pipelineOn, `   cost ${pct(r.overheadPipeline)} (budget ${pct(INGEST_BUDGET)}: ${r.pipelineWithinBudget ? 'within' : 'OVER'})`));
  console.log(row(r.offPooled));
  console.log(row(r.onPooled, `   cost ${pct(r.overheadPooled)}`));
  console.log(`  ${r.findings} findings written over all runs; ${r.redacted}/3 secret frames of 150 redacted`);
}

if (isEntry(import.meta.url)) printIngest(benchIngest());
