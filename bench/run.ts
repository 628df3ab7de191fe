/**
 * `npm run bench` (node dist/bench/run.js): the whole benchmark, end to end, in ~5-9 minutes
 * (more when other processes keep the machine busy: contended runs are repeated).
 *
 *   1. micro-benchmarks per stage on one core (bench/stages.ts, and bench/parsers.ts / normalize.ts if present)
 *   2. throughput: the real server (fresh database each), 1 connection then 8, N frames of the mix,
 *      from the first byte sent to the last row committed (seen in the database), with RSS and CPU
 *   3. the ceiling in the same database: COPY of identical, already-hashed rows (bench/ceiling.ts)
 *   4. receive-to-commit latency at half the best rate, measured from the ledger itself
 *   5. 1,000 concurrent connections held, and a reconnect storm of 500 clients (bench/conns.ts)
 *   6. `verify` of a 1,000,000-event ledger, and proof sizes (bench/verify.ts; it runs after the stages)
 *   7. hostile frames: the worst time per redaction rule over adversarial 64 KiB frames (bench/redact.ts)
 *   8. RELP (`serve --relp-listen`): 1 connection, window 1024, each frame acked after its COMMIT (bench/relp.ts)
 *   9. 1, 2 and 3 servers behind HAProxy (send-proxy-v2), one database: events/s and CPU per event (bench/scale.ts)
 * Prints a table and writes bench/results/<date>.json.
 *
 * Environment: BENCH_N (200000 frames per throughput run), BENCH_RUNS (1; the median is reported),
 * BENCH_FRAMING (mixed | octet | lf), BENCH_LAT_SECONDS (15), BENCH_LAT_RATE (default: half the best rate),
 * BENCH_CONNS (1000), BENCH_STORM (500), BENCH_CEILING_BATCHES (5000; comma list), BENCH_CEILING_VARIANTS
 * (ledger; comma list of ledger, slim, pk-only: see bench/ceiling.ts), BENCH_SERVER_ARGS
 * (extra serve flags), BENCH_SERVER_NODE_ARGS (extra node flags for the server), BENCH_PROFILE (1: also run 8 connections under node --cpu-prof and summarize),
 * BENCH_RELP_N (100000 frames), BENCH_RELP_WINDOW (1024), BENCH_SCALE_N (60000 frames), BENCH_SCALE_SERVERS (1,2,3),
 * BENCH_SCALE_CONNS (6 connections through the balancer),
 * BENCH_ONLY (comma list of: stages,redact,throughput,ceiling,latency,conns,verify,relp,scale), BENCH_INCUMBENT (auto | 1 | 0:
 * rsyslog + ompgsql run after each pair of throughput runs, bench/lib/incumbent.ts; auto: when installed), BENCH_ANCHOR_A1
 * (when the incumbent is not run here: its events/s measured elsewhere beside this run; default the RESULTS.md figure),
 * DATABASE_URL (admin URL).
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createDevPki, type DevPkiFiles } from '../src/pki/devpki.js';
import { CEILING_VARIANTS as VARIANTS, copyCeiling, type CeilingResult, type CeilingVariant } from './ceiling.js';
import { holdConnections, reconnectStorm, type HoldResult, type StormResult } from './conns.js';
import { checkpoint, createBenchDatabase, HeadPoller, serverVersion, withClient, adminUrl, type BenchDatabase } from './lib/db.js';
import { FRAMINGS, type Framing } from './lib/frames.js';
import { quantile, type OpsResult } from './lib/measure.js';
import { machine, mainThreadSeconds, mark, memory, RssSampler, since, waitQuiet } from './lib/proc.js';
import { incumbentWanted, runIncumbent, type IncumbentRun } from './lib/incumbent.js';
import { histogramQuantileUpper, metricSum, metricValue, startBenchServer, type BenchServer } from './lib/server.js';
import { prepareLoad, runLoad, type LoadTarget } from './load.js';
import { relpLoad, type RelpLoadResult } from './relp.js';
import { benchScale, scaleTable, type ScaleRow } from './scale.js';
import { printProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { benchStages, type StageReport } from './stages.js';
import { benchRedaction, redactionTable, type RedactReport } from './redact.js';
import type { VerifyBenchResult } from './verify.js';
import { STORAGE_KINDS, storageRun, storageTable, type StorageResult } from './storage.js';

const ROOT = resolve(import.meta.dirname, '../..');
const env = (k: string, d: string): string => process.env[k] ?? d;
const N = Number(env('BENCH_N', '200000'));
/**
 * Frames sent and committed before each timed run (same connections, the frames before the timed
 * ones): the server is measured warm, its JIT compiled, as a server runs; 0 measures a cold start.
 */
const WARMUP = Number(env('BENCH_WARMUP', '20000'));
const RUNS = Number(env('BENCH_RUNS', '1'));
const FRAMING = env('BENCH_FRAMING', 'mixed') as Framing;
const LAT_SECONDS = Number(env('BENCH_LAT_SECONDS', '15'));
const CONNS = Number(env('BENCH_CONNS', '1000'));
const STORM = Number(env('BENCH_STORM', '500'));
const CEILING_BATCHES = env('BENCH_CEILING_BATCHES', '5000').split(',').map(Number);
const CEILING_VARIANTS = env('BENCH_CEILING_VARIANTS', 'ledger').split(',') as CeilingVariant[];
const SERVER_ARGS = (process.env.BENCH_SERVER_ARGS ?? '').split(/\s+/).filter(Boolean);
/** Extra node flags for the server process (e.g. --max-semi-space-size=64). */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const ONLY = new Set(env('BENCH_ONLY', 'stages,redact,throughput,storage,ceiling,latency,conns,verify,relp,scale').split(','));
/** Events per kind in the storage section (bench/storage.ts). */
const STORAGE_N = Number(env('BENCH_STORAGE_N', '100000'));
const SCALE_N = Number(env('BENCH_SCALE_N', '60000'));
const SCALE_SERVERS = env('BENCH_SCALE_SERVERS', '1,2,3').split(',').map(Number);
const SCALE_CONNS = Number(env('BENCH_SCALE_CONNS', '6'));
const RELP_N = Number(env('BENCH_RELP_N', '100000'));
const RELP_WINDOW = Number(env('BENCH_RELP_WINDOW', '1024'));
const PROFILE = process.env.BENCH_PROFILE === '1';
/** Before each timed run, wait up to QUIET_MAX s for the machine to be under QUIET_PCT % busy. */
const QUIET_MAX = Number(env('BENCH_QUIET_MAX', '60'));
const QUIET_PCT = Number(env('BENCH_QUIET_PCT', '25'));
/** A throughput run during which other processes used more than this many cores is repeated (at most BENCH_RETRIES times). */
const FOREIGN_MAX = Number(env('BENCH_FOREIGN_MAX', '0.25'));
const RETRIES = Number(env('BENCH_RETRIES', '2'));

const log = (msg: string): void => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const round = (x: number, d = 0): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** pg_database_size after a CHECKPOINT (what the database takes on disk, WAL aside). */
async function databaseSize(url: string): Promise<number> {
  await checkpoint(url);
  return withClient(url, async (c) => Number((await c.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n));
}

interface ThroughputResult {
  /** Database growth over the run per event, the raw frame's average size, and the ratio. */
  readonly bytesPerEvent: number;
  readonly rawBytesPerEvent: number;
  readonly multipleOfRaw: number;
  readonly connections: number;
  readonly frames: number;
  readonly framing: Framing;
  readonly seconds: number;
  readonly eventsPerSec: number;
  /** When the sender had written its last byte, s after its first (the server reads ahead of its commits). */
  readonly sendSeconds: number;
  readonly committed: number;
  readonly parseFailures: number;
  readonly batches: number;
  readonly meanBatch: number;
  readonly rssPeakMb: number;
  readonly vmHwmMb: number;
  /** Peaks seen on /metrics every 500 ms: V8 heap used, external (Buffers), writer queue depth. */
  readonly heapPeakMb: number;
  readonly externalPeakMb: number;
  readonly queuePeakEvents: number;
  readonly cpuPer100k: { server: number; server_main_thread: number; pg_backends: number; pg_shared: number; loadgen: number };
  readonly coresUsed: { server: number; pg: number; loadgen: number; foreign: number };
  /** Machine busy % just before the run (after waiting for quiet), and how many contended attempts were discarded. */
  readonly busyBeforePct: number;
}

interface LatencyResult {
  readonly ratePerSec: number;
  readonly connections: number;
  readonly frames: number;
  readonly seconds: number;
  readonly achievedPerSec: number;
  /** From the ledger: received_at vs the first head sample that saw the row committed (an upper bound). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Same, lower bound (the sample before), to show the resolution. */
  readonly p50LowerMs: number;
  readonly p99LowerMs: number;
  readonly sampleIntervalMs: number;
  /** From the server's histogram: upper bound of the bucket holding the quantile. */
  readonly histogramP50LeMs: number | null;
  readonly histogramP99LeMs: number | null;
  readonly rssPeakMb: number;
  readonly cpuPer100k: { server: number; pg_backends: number; pg_shared: number };
  readonly busyBeforePct: number;
  readonly foreignCores: number;
}

function versions(url: string): Promise<Record<string, string>> {
  const pkgVersion = (name: string): string => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a checkout
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  return serverVersion(url).then((pgv) => ({
    package: `${pkg.name}@${pkg.version}`,
    git: commit,
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    postgresql: pgv,
    pg: pkgVersion('pg'),
    'pg-copy-streams': pkgVersion('pg-copy-streams'),
  }));
}

async function withServer<T>(db: BenchDatabase, pki: DevPkiFiles, chain: string, fn: (s: BenchServer) => Promise<T>, nodeArgs: string[] = []): Promise<T> {
  const server = await startBenchServer({ databaseUrl: db.url, pki, chain, args: SERVER_ARGS, nodeArgs: [...SERVER_NODE_ARGS, ...nodeArgs] });
  try {
    return await fn(server);
  } finally {
    const code = await server.stop();
    if (code !== 0) log(`server for ${chain} exited with ${code}`);
  }
}

function target(server: BenchServer, pki: DevPkiFiles): LoadTarget {
  return { host: '127.0.0.1', port: server.port, ca: readFileSync(pki.ca), cert: readFileSync(pki.client), key: readFileSync(pki.clientKey) };
}

/** One throughput run: N frames over `connections`, as fast as the server commits them. */
async function throughput(db: BenchDatabase, pki: DevPkiFiles, connections: number, chain: string, nodeArgs: string[] = []): Promise<ThroughputResult> {
  const prepared = prepareLoad({ port: 0, ca: Buffer.alloc(0), cert: Buffer.alloc(0), key: Buffer.alloc(0), connections, count: N, framing: FRAMING, first: WARMUP });
  return withServer(
    db,
    pki,
    chain,
    async (server) => {
      const poller = new HeadPoller(db.url, chain, 20);
      await poller.start();
      const from = await warmUp(server, pki, poller, connections);
      await checkpoint(db.url);
      const busyBeforePct = await waitQuiet(QUIET_MAX, QUIET_PCT);
      const sizeBefore = await databaseSize(db.url);
      const rss = new RssSampler(server.pid);
      const peaks = new MetricsPeaks(server);
      try {
        const s0 = mark(server.pid, db.name);
        const load = await runLoad({ ...prepared, options: { ...prepared.options, ...target(server, pki) } });
        const done = await poller.reach(from + N, 300_000);
        const s1 = mark(server.pid, db.name);
        // Bytes on disk: the database's growth over the run (tables, indexes, TOAST, checkpoints, Merkle nodes).
        const grown = (await databaseSize(db.url)) - sizeBefore;
        const rawBytes = await withClient(db.url, async (c) => Number((await c.query<{ n: string }>('SELECT sum(length(raw)) AS n FROM ledger WHERE chain = $1 AND seq > $2', [chain, from])).rows[0]!.n));
        await peaks.stop();
        const seconds = (done.atUs / 1000 - load.t0Ms) / 1000;
        const cpu = since(s0, s1);
        const text = await server.metrics();
        const batches = metricValue(text, 'syslog_ledger_batches_committed_total') ?? 0;
        const per = (x: number): number => round((x * 100_000) / N, 2);
        const wall = (s1Wall: number): number => round(s1Wall / seconds, 2);
        return {
          connections,
          frames: N,
          framing: FRAMING,
          seconds: round(seconds, 3),
          eventsPerSec: round(N / seconds),
          sendSeconds: round((load.tEndMs - load.t0Ms) / 1000, 3),
          committed: done.seq - from,
          parseFailures: metricSum(text, 'syslog_ledger_parse_failures_total'),
          batches,
          meanBatch: round(N / Math.max(1, batches)),
          rssPeakMb: round(rss.stop() / 2 ** 20, 1),
          vmHwmMb: round(memory(server.pid).hwm / 2 ** 20, 1),
          heapPeakMb: round(peaks.heap / 2 ** 20, 1),
          externalPeakMb: round(peaks.external / 2 ** 20, 1),
          queuePeakEvents: peaks.queue,
          cpuPer100k: { server: per(cpu.server), server_main_thread: per(mainThreadSeconds(s0, s1)), pg_backends: per(cpu.pg_backends), pg_shared: per(cpu.pg_shared), loadgen: per(cpu.loadgen) },
          coresUsed: { server: wall(cpu.server), pg: wall(cpu.pg_backends + cpu.pg_shared), loadgen: wall(cpu.loadgen), foreign: wall(cpu.foreign) },
          busyBeforePct,
          bytesPerEvent: round(grown / N, 1),
          rawBytesPerEvent: round(rawBytes / N, 1),
          multipleOfRaw: round(grown / rawBytes, 2),
        };
      } finally {
        rss.stop();
        await peaks.stop();
        await poller.stop();
      }
    },
    nodeArgs,
  );
}

/** Sends WARMUP frames as fast as the server takes them and waits for their commit; returns the chain's head then. */
async function warmUp(server: BenchServer, pki: DevPkiFiles, poller: HeadPoller, connections: number): Promise<number> {
  if (WARMUP <= 0) return 0;
  const w = prepareLoad({ port: 0, ca: Buffer.alloc(0), cert: Buffer.alloc(0), key: Buffer.alloc(0), connections, count: WARMUP, framing: FRAMING });
  await runLoad({ ...w, options: { ...w.options, ...target(server, pki) } });
  return (await poller.reach(WARMUP, 120_000)).seq;
}

/** Fixed rate over 8 connections; latency per row from the ledger (received_at) and the head samples. */
async function latency(db: BenchDatabase, pki: DevPkiFiles, rate: number, chain: string): Promise<LatencyResult> {
  const connections = 8;
  const count = Math.max(connections, Math.round(rate * LAT_SECONDS));
  const prepared = prepareLoad({ port: 0, ca: Buffer.alloc(0), cert: Buffer.alloc(0), key: Buffer.alloc(0), connections, count, rate, framing: FRAMING, first: WARMUP });
  return withServer(db, pki, chain, async (server) => {
    const poller = new HeadPoller(db.url, chain, 5);
    await poller.start();
    const from = await warmUp(server, pki, poller, connections);
    await checkpoint(db.url);
    const busyBeforePct = await waitQuiet(QUIET_MAX, QUIET_PCT);
    const rss = new RssSampler(server.pid);
    try {
      const textBefore = await server.metrics();
      const s0 = mark(server.pid, db.name);
      const load = await runLoad({ ...prepared, options: { ...prepared.options, ...target(server, pki) } });
      const done = await poller.reach(from + count, 300_000);
      const cpu = since(s0, mark(server.pid, db.name));
      const text = await server.metrics();
      const rows = await withClient(db.url, async (c) =>
        (
          await c.query<{ seq: string; us: string }>({
            text: 'SELECT seq, (extract(epoch FROM received_at) * 1000000)::bigint AS us FROM ledger WHERE chain = $1 AND seq > $2 ORDER BY seq',
            values: [chain, from],
            rowMode: 'array',
          } as never)
        ).rows as unknown as Array<[string, string]>,
      );
      const samples = poller.samples;
      const upper = new Float64Array(rows.length);
      const lower = new Float64Array(rows.length);
      let k = 0;
      for (let i = 0; i < rows.length; i++) {
        const seq = Number(rows[i]![0]);
        const us = Number(rows[i]![1]);
        while (k < samples.length && samples[k]!.seq < seq) k++;
        const hit = samples[Math.min(k, samples.length - 1)]!;
        const before = samples[Math.max(0, k - 1)]!;
        upper[i] = (hit.atUs - us) / 1000;
        lower[i] = Math.max(0, (before.atUs - us) / 1000);
      }
      upper.sort();
      lower.sort();
      const intervals = samples.slice(1).map((s, i) => (s.atUs - samples[i]!.atUs) / 1000).sort((a, b) => a - b);
      const per = (x: number): number => round((x * 100_000) / count, 2);
      const hq = (q: number): number | null => {
        const v = histogramQuantileUpper(text, 'syslog_ledger_commit_latency_seconds', q, textBefore);
        return v === undefined ? null : round(v * 1000, 1);
      };
      return {
        ratePerSec: round(rate),
        connections,
        frames: count,
        seconds: round((done.atUs / 1000 - load.t0Ms) / 1000, 2),
        achievedPerSec: round(load.sendRate),
        p50Ms: round(quantile(upper, 0.5), 1),
        p99Ms: round(quantile(upper, 0.99), 1),
        maxMs: round(upper[upper.length - 1] ?? Number.NaN, 1),
        p50LowerMs: round(quantile(lower, 0.5), 1),
        p99LowerMs: round(quantile(lower, 0.99), 1),
        sampleIntervalMs: round(quantile(intervals, 0.5), 1),
        histogramP50LeMs: hq(0.5),
        histogramP99LeMs: hq(0.99),
        rssPeakMb: round(rss.stop() / 2 ** 20, 1),
        cpuPer100k: { server: per(cpu.server), pg_backends: per(cpu.pg_backends), pg_shared: per(cpu.pg_shared) },
        busyBeforePct,
        foreignCores: round(cpu.foreign / ((done.atUs / 1000 - load.t0Ms) / 1000), 2),
      };
    } finally {
      rss.stop();
      await poller.stop();
    }
  });
}

/** Polls the server's /metrics for memory and queue peaks (a scrape costs the server ~1 ms). */
class MetricsPeaks {
  heap = 0;
  external = 0;
  queue = 0;
  #running = true;
  readonly #loop: Promise<void>;
  constructor(server: BenchServer, intervalMs = 500) {
    this.#loop = (async () => {
      while (this.#running) {
        try {
          const t = await server.metrics();
          this.heap = Math.max(this.heap, metricValue(t, 'nodejs_heap_size_used_bytes') ?? 0);
          this.external = Math.max(this.external, metricValue(t, 'nodejs_external_memory_bytes') ?? 0);
          this.queue = Math.max(this.queue, metricValue(t, 'syslog_ledger_writer_queue_events') ?? 0);
        } catch {
          // server stopping
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/** Runs `attempt` again (up to RETRIES times) while other tenants used more than FOREIGN_MAX cores; keeps the least contended. */
async function uncontended<T>(attempt: () => Promise<T>, foreign: (r: T) => number, describe: (r: T) => string): Promise<T & { discardedAttempts: number }> {
  const tries: T[] = [];
  for (let i = 0; i <= RETRIES; i++) {
    const r = await attempt();
    tries.push(r);
    log(`  ${describe(r)} (other tenants: ${foreign(r)} cores)`);
    if (foreign(r) <= FOREIGN_MAX) break;
    if (i < RETRIES) log(`  contended (> ${FOREIGN_MAX} cores used by other processes): repeating`);
  }
  const best = tries.reduce((a, b) => (foreign(b) < foreign(a) ? b : a));
  return { ...best, discardedAttempts: tries.length - 1 };
}

const tpForeign = (r: ThroughputResult): number => r.coresUsed.foreign;
const tpDescribe = (r: ThroughputResult): string => `${fmt(r.eventsPerSec)} events/s (machine ${r.busyBeforePct}% busy before)`;

function median<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)]!;
}

async function optionalBench(modPath: string, fn: string): Promise<OpsResult[] | { error: string } | null> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modPath)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') return null;
    return { error: String((err as Error).message ?? err).slice(0, 300) };
  }
  const f = mod[fn];
  if (typeof f !== 'function') return null;
  try {
    const res = (await (f as () => Promise<Array<{ name: string; opsPerSec: number }>>)()) ?? [];
    return res.map((r) => ({ name: r.name, opsPerSec: r.opsPerSec, rounds: [] }));
  } catch (err) {
    return { error: String((err as Error).message ?? err).slice(0, 300) };
  }
}

function fmt(x: number | null | undefined, d = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
}

interface Results {
  date: string;
  command: string;
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
  versions: Record<string, string>;
  stages?: StageReport;
  redact?: RedactReport;
  ingest?: unknown;
  verify?: Omit<VerifyBenchResult, 'profile'>;
  parsers?: OpsResult[] | { error: string } | null;
  normalize?: OpsResult[] | { error: string } | null;
  throughput: { conn1?: ThroughputResult; conn8?: ThroughputResult; runs: ThroughputResult[] };
  /** rsyslog + ompgsql measured beside, one run after each pair of throughput runs (bench/lib/incumbent.ts). */
  incumbent: IncumbentRun[];
  storage: StorageResult[];
  relp?: RelpLoadResult & { readonly cpuPer100kServer: number };
  scale?: ScaleRow[];
  /** Throughput, ceiling and latency runs during which other processes used more than FOREIGN_MAX cores are repeated; see discardedAttempts. */
  ceiling: CeilingResult[];
  ratioToCeiling?: { conn1?: number; conn8?: number };
  latency?: LatencyResult;
  connections?: { hold?: HoldResult; storm?: StormResult };
  profile?: ProfileSummary;
  anchors: Record<string, number>;
  loadavg_at_end: number[];
}

/** The ceiling the headline ratio uses: the ledger-shaped table, batch 5,000 if measured. */
function headlineCeiling(cs: readonly CeilingResult[]): CeilingResult | undefined {
  const ledger = cs.filter((c) => c.variant === 'ledger');
  return ledger.find((c) => c.batch === 5000) ?? ledger[0];
}

/**
 * The anchors' numbers (../shared/anchors/RESULTS.md, measured 2026-11-28), for the comparison column.
 * Machines of this kind differ by up to ~2.5x (rsyslog + ompgsql ran 45,788/s on 2026-11-29 on the
 * machine of that day): BENCH_ANCHOR_A1 gives the figure of `bench-rsyslog.sh pg octet node` run beside.
 */
const A1_BESIDE = process.env.BENCH_ANCHOR_A1 === undefined ? undefined : Number(process.env.BENCH_ANCHOR_A1);
if (A1_BESIDE !== undefined && !(A1_BESIDE > 0)) throw new Error('BENCH_ANCHOR_A1 must be a positive number (events/s)');
const ANCHORS = {
  rsyslog_ompgsql_octet_1conn: A1_BESIDE ?? 18396, rsyslog_ompgsql_tuned: 20046, copy_1000_per_txn: 65808, copy_1_txn: 93132, sha256_chain: 276340, node_tls_sink: 1298701,
};
const A1_LABEL = A1_BESIDE === undefined ? 'anchor A1 of RESULTS.md' : 'A1 measured beside, BENCH_ANCHOR_A1';

export function table(r: Results): string {
  const L: string[] = [];
  const m = r.machine;
  L.push(`syslog-ledger bench, ${r.date}: ${String(m.cpu)} x${String(m.cores)}, ${String(m.memory_gib)} GiB; load avg at start ${(m.loadavg_at_start as number[]).join(' ')}`);
  L.push(`${r.versions.package} (${r.versions.git}), node ${r.versions.node}, ${r.versions.postgresql?.split(' on ')[0] ?? ''}; N=${N}, framing=${FRAMING}`);
  L.push('');
  const t1 = r.throughput.conn1;
  const t8 = r.throughput.conn8;
  const ceil = headlineCeiling(r.ceiling);
  L.push('| end to end (first byte sent -> last row committed) | 1 conn | 8 conns |');
  L.push('|---|---:|---:|');
  if (t1 || t8) {
    L.push(`| events committed /s | ${fmt(t1?.eventsPerSec)} | ${fmt(t8?.eventsPerSec)} |`);
    if (ceil) L.push(`| fraction of COPY ceiling (${fmt(ceil.rowsPerSec)} rows/s, batch ${ceil.batch}) | ${fmt(r.ratioToCeiling?.conn1, 2)} | ${fmt(r.ratioToCeiling?.conn8, 2)} |`);
    const inc = r.incumbent.length > 0 ? median(r.incumbent, (x) => x.eventsPerSec) : undefined;
    if (inc !== undefined) {
      const n = r.incumbent.length;
      L.push(`| x rsyslog+ompgsql measured beside (${n === 1 ? 'one run' : `median of ${n} runs`}: ${fmt(inc.eventsPerSec)}/s; its runs ${r.incumbent.map((x) => fmt(x.eventsPerSec)).join(', ')}) | ${fmt((t1?.eventsPerSec ?? NaN) / inc.eventsPerSec, 2)} | ${fmt((t8?.eventsPerSec ?? NaN) / inc.eventsPerSec, 2)} |`);
      const pairs = (conns: number): string => r.incumbent.map((x, i) => fmt((r.throughput.runs.filter((t) => t.connections === conns)[i]?.eventsPerSec ?? NaN) / x.eventsPerSec, 2)).join(', ');
      L.push(`| x rsyslog+ompgsql, each run against the incumbent's run right after it | ${pairs(1)} | ${pairs(8)} |`);
      L.push(`| CPU s / 100k events: rsyslogd (beside; median run) | ${fmt(inc.cpuPer100kRsyslogd, 2)} | |`);
    } else L.push(`| x rsyslog+ompgsql (${A1_LABEL}: ${fmt(ANCHORS.rsyslog_ompgsql_octet_1conn)}/s) | ${fmt((t1?.eventsPerSec ?? NaN) / ANCHORS.rsyslog_ompgsql_octet_1conn, 2)} | ${fmt((t8?.eventsPerSec ?? NaN) / ANCHORS.rsyslog_ompgsql_octet_1conn, 2)} |`);
    L.push(`| seconds to commit all / sender done writing after | ${fmt(t1?.seconds, 2)} / ${fmt(t1?.sendSeconds, 2)} | ${fmt(t8?.seconds, 2)} / ${fmt(t8?.sendSeconds, 2)} |`);
    L.push(`| server RSS peak, MB | ${fmt(t1?.rssPeakMb, 1)} | ${fmt(t8?.rssPeakMb, 1)} |`);
    L.push(`| server V8 heap used / external peak, MB; writer queue peak, events | ${fmt(t1?.heapPeakMb)} / ${fmt(t1?.externalPeakMb)}; ${fmt(t1?.queuePeakEvents)} | ${fmt(t8?.heapPeakMb)} / ${fmt(t8?.externalPeakMb)}; ${fmt(t8?.queuePeakEvents)} |`);
    L.push(`| CPU s / 100k events: server | ${fmt(t1?.cpuPer100k.server, 2)} | ${fmt(t8?.cpuPer100k.server, 2)} |`);
    L.push(`| CPU s / 100k events: server's main thread | ${fmt(t1?.cpuPer100k.server_main_thread, 2)} | ${fmt(t8?.cpuPer100k.server_main_thread, 2)} |`);
    L.push(`| CPU s / 100k events: PostgreSQL backends (+ shared) | ${fmt(t1?.cpuPer100k.pg_backends, 2)} (+${fmt(t1?.cpuPer100k.pg_shared, 2)}) | ${fmt(t8?.cpuPer100k.pg_backends, 2)} (+${fmt(t8?.cpuPer100k.pg_shared, 2)}) |`);
    L.push(`| CPU s / 100k events: load generator | ${fmt(t1?.cpuPer100k.loadgen, 2)} | ${fmt(t8?.cpuPer100k.loadgen, 2)} |`);
    L.push(`| cores busy: server / PG / loadgen / other tenants | ${t1 ? `${t1.coresUsed.server} / ${t1.coresUsed.pg} / ${t1.coresUsed.loadgen} / ${t1.coresUsed.foreign}` : '-'} | ${t8 ? `${t8.coresUsed.server} / ${t8.coresUsed.pg} / ${t8.coresUsed.loadgen} / ${t8.coresUsed.foreign}` : '-'} |`);
    L.push(`| batches (mean events per commit) | ${fmt(t1?.batches)} (${fmt(t1?.meanBatch)}) | ${fmt(t8?.batches)} (${fmt(t8?.meanBatch)}) |`);
    L.push(`| parse failures | ${fmt(t1?.parseFailures)} | ${fmt(t8?.parseFailures)} |`);
    L.push(`| bytes on disk per event (database growth) / raw frame, B | ${fmt(t1?.bytesPerEvent, 1)} / ${fmt(t1?.rawBytesPerEvent, 1)} | ${fmt(t8?.bytesPerEvent, 1)} / ${fmt(t8?.rawBytesPerEvent, 1)} |`);
    L.push(`| bytes on disk as a multiple of the raw frame | ${fmt(t1?.multipleOfRaw, 2)} | ${fmt(t8?.multipleOfRaw, 2)} |`);
  }
  if (r.storage.length) {
    L.push('');
    for (const line of storageTable(r.storage)) L.push(line);
    L.push('');
  }
  if (r.relp) {
    const x = r.relp;
    L.push(`| RELP, window ${x.window}, ${fmt(x.frames)} frames: events acknowledged (each after its COMMIT) /s, first byte -> last ack | ${fmt(x.eventsPerSec)} | |`);
    L.push(`| RELP: x the TCP figure beside it; unacknowledged at most; CPU s / 100k events server | ${fmt(x.eventsPerSec / (t1?.eventsPerSec ?? NaN), 2)}; ${fmt(x.maxOutstanding)}; ${fmt(x.cpuPer100kServer, 2)} | |`);
  }
  L.push('');
  if (r.ceiling.length) {
    L.push('| ceiling: COPY of identical pre-hashed rows, 1 connection | rows/s | s | CPU s/100k PG (+shared) | table MB |');
    L.push('|---|---:|---:|---:|---:|');
    for (const c of r.ceiling) L.push(`| ${c.variant} (${c.indexes} indexes), ${c.batch} rows per transaction, ${fmt(c.avgLineBytes)} B per binary COPY row; other tenants ${c.foreignCores} cores | ${fmt(c.rowsPerSec)} | ${fmt(c.seconds, 2)} | ${fmt(c.cpuPer100k.pg_backends, 2)} (+${fmt(c.cpuPer100k.pg_shared, 2)}) | ${fmt(c.tableMb)} |`);
    L.push('');
  }
  if (r.latency) {
    const l = r.latency;
    L.push(`| receive -> commit latency at ${fmt(l.ratePerSec)}/s (8 conns, ${fmt(l.frames)} frames) | p50 | p99 | max |`);
    L.push('|---|---:|---:|---:|');
    L.push(`| from the ledger (upper bound; sampled every ${fmt(l.sampleIntervalMs, 1)} ms), ms | ${fmt(l.p50Ms, 1)} | ${fmt(l.p99Ms, 1)} | ${fmt(l.maxMs, 1)} |`);
    L.push(`| lower bound, ms | ${fmt(l.p50LowerMs, 1)} | ${fmt(l.p99LowerMs, 1)} | |`);
    L.push(`| server histogram bucket (le), ms | ${fmt(l.histogramP50LeMs, 1)} | ${fmt(l.histogramP99LeMs, 1)} | |`);
    L.push(`| (RSS peak ${fmt(l.rssPeakMb, 1)} MB; CPU s/100k server ${fmt(l.cpuPer100k.server, 2)}, PG ${fmt(l.cpuPer100k.pg_backends, 2)}; other tenants ${l.foreignCores} cores) | | | |`);
    L.push('');
  }
  if (r.verify) {
    const v = r.verify;
    const cpu = (w: string, k: 'verify' | 'pg_backends'): string => {
      const xs = v.runs.filter((x) => x.workers === w).map((x) => x.cpu[k]);
      return xs.length ? `${fmt(Math.min(...xs), 2)}-${fmt(Math.max(...xs), 2)}` : '-';
    };
    L.push(`| verify, ${fmt(v.rows)} events (form v${v.form}, ${fmt(v.chains)} chain(s), ${fmt(v.tableMb)} MB), spawn to exit | best /s | median /s | CPU s verify / PG |`);
    L.push('|---|---:|---:|---:|');
    for (const s of v.summary) L.push(`| --workers ${s.workers} (${v.runs.filter((x) => x.workers === s.workers).length} runs) | ${fmt(s.best)} | ${fmt(s.median)} | ${cpu(s.workers, 'verify')} / ${cpu(s.workers, 'pg_backends')} |`);
    for (const p of v.proofs) L.push(`| ${p.kind} proof ${p.args} (tree size ${fmt(p.treeSize)}): hashes, bytes, verify-proof | ${p.hashes} | ${fmt(p.documentBytes)} | ${p.verifies ? 'ok' : 'FAILED'} |`);
    L.push('');
    if (v.export) {
      const e = v.export;
      L.push(`| evidence package of ${fmt(e.rows)} events (complete export, bench/export.ts) | seconds | events/s | peak RSS MB |`);
      L.push('|---|---:|---:|---:|');
      L.push(`| \`export\` (package ${fmt(e.packageMb, 1)} MB, ${fmt(e.bytesPerEvent)} B/event) | ${fmt(e.export.seconds, 1)} | ${fmt(e.export.eventsPerSec)} | ${fmt(e.export.peakRssMb, 1)} |`);
      L.push(`| \`verify-evidence\` | ${fmt(e.verifyEvidence.seconds, 1)} | ${fmt(e.verifyEvidence.eventsPerSec)} | ${fmt(e.verifyEvidence.peakRssMb, 1)} |`);
      L.push('');
    }
  }
  if (r.connections?.hold || r.connections?.storm) {
    const h = r.connections.hold;
    const s = r.connections.storm;
    L.push('| connections | |');
    L.push('|---|---:|');
    if (h) {
      L.push(`| ${fmt(h.connections)} mTLS connections held: server RSS, MB (before: ${fmt(h.rssBeforeMb, 1)}) | ${fmt(h.rssWithMb, 1)} |`);
      L.push(`| per connection, KB | ${fmt(h.perConnectionKb, 1)} |`);
    }
    if (s) {
      L.push(`| reconnect storm, ${fmt(s.clients)} clients at once: handshakes/s (server-side, all accepted in ${fmt(s.seconds, 2)} s) | ${fmt(s.handshakesPerSec)} |`);
      L.push(`| CPU per handshake, ms: server (client side: ${fmt(s.clientCpuMsPerHandshake, 2)}; failed: ${s.failed}) | ${fmt(s.serverCpuMsPerHandshake, 2)} |`);
    }
    L.push('');
  }
  if (r.stages) {
    L.push(`| stage micro-benchmark, one core (mix: ${fmt(r.stages.avgFrameBytes)} B per frame) | events/s |`);
    L.push('|---|---:|');
    for (const s of r.stages.stages) L.push(`| ${s.name} | ${fmt(s.opsPerSec)} |`);
    L.push(`| = framing + toRecord + ledger prep on one core | ${fmt(r.stages.pipelineOneCore)} |`);
    for (const [label, list] of [['parsers', r.parsers], ['normalize', r.normalize]] as const) {
      if (Array.isArray(list)) for (const s of list) L.push(`| ${label}: ${s.name} | ${fmt(s.opsPerSec)} |`);
      else if (list && 'error' in list) L.push(`| ${label}: failed: ${list.error} | |`);
    }
    L.push('');
  }
  if (r.redact) L.push(...redactionTable(r.redact), '');
  if (r.profile) L.push(printProfile(r.profile), '');
  return L.join('\n');
}

async function main(): Promise<number> {
  if (!FRAMINGS.includes(FRAMING)) throw new Error(`BENCH_FRAMING must be one of ${FRAMINGS.join(', ')}`);
  const date = new Date().toISOString();
  const startLoad = loadavg();
  const results: Results = {
    date,
    command: `npm run bench (node dist/bench/run.js)`,
    settings: { N, RUNS, FRAMING, LAT_SECONDS, CONNS, STORM, CEILING_BATCHES, CEILING_VARIANTS, SERVER_ARGS, SERVER_NODE_ARGS, ONLY: [...ONLY], PROFILE, QUIET_MAX, QUIET_PCT, FOREIGN_MAX, RETRIES, database: adminUrl().replace(/\/\/[^@]*@/, '//…@') },
    machine: machine(),
    versions: await versions(adminUrl()),
    throughput: { runs: [] },
    incumbent: [],
    storage: [],
    ceiling: [],
    anchors: ANCHORS,
    loadavg_at_end: [],
  };
  log(`load average at start: ${startLoad.map((x) => x.toFixed(2)).join(' ')}`);
  const pkiDir = mkdtempSync(join(tmpdir(), 'syslog-ledger-bench-pki-'));
  const databases: BenchDatabase[] = [];
  const newDb = async (): Promise<BenchDatabase> => {
    const db = await createBenchDatabase();
    databases.push(db);
    return db;
  };
  try {
    // One client identity per simulated host for the connection tests (the server caps connections per identity).
    const hosts = ONLY.has('conns') ? Math.max(CONNS, STORM) : 1;
    if (hosts > 1) log(`dev PKI with ${hosts} client certificates`);
    const pki = await createDevPki({
      dir: pkiDir,
      clients: [{ cn: 'client1.example.com' }, ...Array.from({ length: hosts - 1 }, (_, i) => ({ cn: `host-${String(i + 1).padStart(4, '0')}.bench.example.com` }))],
    });

    if (ONLY.has('stages')) {
      log('stage micro-benchmarks');
      results.stages = benchStages();
      results.parsers = await optionalBench('./parsers.js', 'benchParsers');
      results.normalize = await optionalBench('./normalize.js', 'benchNormalize');
      log('ingest with and without detections and redaction');
      const ingest = await import('./ingest.js');
      results.ingest = ingest.benchIngest();
      ingest.printIngest(results.ingest as ReturnType<typeof ingest.benchIngest>);
    }

    if (ONLY.has('redact')) {
      log('hostile frames: adversarial 64 KiB frames through toRecord + redaction (bench/redact.ts)');
      results.redact = benchRedaction();
      for (const x of results.redact.perRule) log(`redaction ${x.rule}: worst ${x.worstMs.toFixed(2)} ms on one core, ${x.worstWallMs.toFixed(2)} ms wall (${x.wrapper} ${x.shape}), median ${x.medianMs.toFixed(2)} ms`);
    }

    if (ONLY.has('verify')) {
      log('verify on a ledger of 1,000,000 events (bench/verify.ts; BENCH_VERIFY_ROWS to change)');
      const { benchVerify } = await import('./verify.js');
      const v = await benchVerify();
      const { profile: _profile, ...rest } = v;
      results.verify = rest;
      for (const x of v.summary) log(`verify ${v.rows} events, --workers ${x.workers}: best ${x.best} events/s, median ${x.median}`);
      for (const p of v.proofs) log(`${p.kind} proof ${p.args}: ${p.hashes} hashes, ${p.documentBytes} B, verify-proof ${p.verifies ? 'ok' : 'FAILED'}`);
    }

    const kept: { db8?: BenchDatabase } = {};
    if (ONLY.has('throughput')) {
      const r1: ThroughputResult[] = [];
      const r8: ThroughputResult[] = [];
      const incumbent = incumbentWanted(ROOT);
      if (incumbent === null) log('throughput: rsyslog + ompgsql not measured beside (BENCH_INCUMBENT; bench/lib/incumbent.ts)');
      for (let run = 0; run < RUNS; run++) {
        log(`throughput: 1 connection, ${N} frames (run ${run + 1}/${RUNS})`);
        r1.push(await uncontended(async () => {
          const db = await newDb();
          try {
            return await throughput(db, pki, 1, `bench-1conn-${run}`);
          } finally {
            await db.drop();
          }
        }, tpForeign, tpDescribe));
        log(`throughput: 8 connections, ${N} frames (run ${run + 1}/${RUNS})`);
        r8.push(await uncontended(async () => {
          if (kept.db8) await kept.db8.drop();
          const db = await newDb();
          kept.db8 = db;
          return throughput(db, pki, 8, `bench-8conn-${run}`);
        }, tpForeign, tpDescribe));
        if (incumbent !== null) {
          // Interleaved: each pair of our runs is followed by one of the incumbent's, on the same PostgreSQL.
          log(`incumbent: rsyslog imtcp+gtls -> ompgsql, 1 connection, ${N} frames (run ${run + 1}/${RUNS})`);
          const inc = await runIncumbent(incumbent, N, ROOT);
          results.incumbent.push(inc);
          log(`  ${fmt(inc.eventsPerSec)} events/s; ours / its: ${fmt(r1[run]!.eventsPerSec / inc.eventsPerSec, 2)} (1 conn), ${fmt(r8[run]!.eventsPerSec / inc.eventsPerSec, 2)} (8 conns)`);
        }
      }
      results.throughput = { conn1: median(r1, (x) => x.eventsPerSec), conn8: median(r8, (x) => x.eventsPerSec), runs: [...r1, ...r8] };
    }

    if (ONLY.has('relp')) {
      log(`relp: 1 connection, window ${RELP_WINDOW}, ${RELP_N} frames`);
      const db = await newDb();
      try {
        await checkpoint(db.url);
        await waitQuiet(QUIET_MAX, QUIET_PCT);
        const server = await startBenchServer({ databaseUrl: db.url, pki, chain: 'bench-relp', args: [...SERVER_ARGS, '--relp-listen', '127.0.0.1:0'], nodeArgs: SERVER_NODE_ARGS });
        try {
          const s0 = mark(server.pid, db.name);
          const r = await relpLoad({ ...target(server, pki), port: server.relpPort! }, RELP_N, RELP_WINDOW);
          const cpu = since(s0, mark(server.pid, db.name));
          results.relp = { ...r, cpuPer100kServer: round((cpu.server * 100_000) / RELP_N, 2) };
          log(`relp: ${r.eventsPerSec} events/s acknowledged after commit (${r.seconds} s, at most ${r.maxOutstanding} unacknowledged)`);
        } finally {
          await server.stop();
        }
      } finally {
        await db.drop();
      }
    }

    if (ONLY.has('storage')) {
      for (const kind of STORAGE_KINDS) {
        log(`storage: ${STORAGE_N} ${kind} events through the writer, database growth, beside rsyslog+ompgsql's table`);
        results.storage.push(await storageRun(kind, STORAGE_N));
      }
    }

    if (ONLY.has('scale')) {
      log(`scale: ${SCALE_SERVERS.join(', ')} server(s) behind HAProxy, ${SCALE_CONNS} connections, ${SCALE_N} frames`);
      await waitQuiet(QUIET_MAX, QUIET_PCT);
      const rows = await benchScale(SCALE_SERVERS, SCALE_N, SCALE_CONNS);
      if (rows) {
        results.scale = rows;
        console.log(scaleTable(rows));
      } else log('scale: haproxy not installed; skipped');
    }

    if (ONLY.has('ceiling')) {
      const db = kept.db8 ?? (await newDb());
      if (!kept.db8) await withServer(db, pki, 'bench-migrate', async () => undefined); // the server migrates: creates `ledger`
      for (const variant of CEILING_VARIANTS) {
        if (!VARIANTS.includes(variant)) throw new Error(`BENCH_CEILING_VARIANTS: unknown ${variant} (${VARIANTS.join(', ')})`);
        for (const batch of CEILING_BATCHES) {
          log(`ceiling (${variant}): COPY ${N} pre-hashed ledger rows, ${batch} per transaction (building rows first)`);
          results.ceiling.push(
            await uncontended(
              async () => {
                await waitQuiet(QUIET_MAX, QUIET_PCT);
                return copyCeiling(db.url, db.name, N, batch, variant);
              },
              (c) => c.foreignCores,
              (c) => `${fmt(c.rowsPerSec)} rows/s`,
            ),
          );
        }
      }
      const ceil = headlineCeiling(results.ceiling);
      if (ceil) {
        results.ratioToCeiling = {
          ...(results.throughput.conn1 ? { conn1: round(results.throughput.conn1.eventsPerSec / ceil.rowsPerSec, 3) } : {}),
          ...(results.throughput.conn8 ? { conn8: round(results.throughput.conn8.eventsPerSec / ceil.rowsPerSec, 3) } : {}),
        };
      }
    }

    if (ONLY.has('latency')) {
      const best = Math.max(results.throughput.conn1?.eventsPerSec ?? 0, results.throughput.conn8?.eventsPerSec ?? 0);
      const rate = Number(process.env.BENCH_LAT_RATE ?? (best > 0 ? best / 2 : 10000));
      const db = await newDb();
      log(`latency: ${fmt(rate)}/s for ${LAT_SECONDS} s over 8 connections`);
      let attempt = 0;
      results.latency = await uncontended(
        () => latency(db, pki, rate, `bench-latency-${attempt++}`),
        (l) => l.foreignCores,
        (l) => `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms`,
      );
    }

    if (ONLY.has('conns')) {
      const db = await newDb();
      results.connections = {};
      await withServer(db, pki, 'bench-conns', async (server) => {
        const t = target(server, pki);
        const ids = pki.clients.map((c) => ({ cert: readFileSync(c.cert), key: readFileSync(c.key) }));
        log(`holding ${CONNS} connections (${ids.length} client certificates)`);
        results.connections!.hold = await holdConnections(server, t, ids, CONNS);
        log(`  RSS ${fmt(results.connections!.hold.rssWithMb, 1)} MB`);
        log(`reconnect storm: ${STORM} clients`);
        results.connections!.storm = await reconnectStorm(server, t, ids, STORM);
        log(`  ${fmt(results.connections!.storm.handshakesPerSec)} handshakes/s`);
      });
    }

    if (PROFILE) {
      const db = await newDb();
      const dir = join(tmpdir(), 'syslog-ledger-bench-profiles', date.replace(/[:.]/g, '-'));
      mkdirSync(dir, { recursive: true });
      log(`profile: 8 connections under node --cpu-prof (${dir})`);
      const r = await throughput(db, pki, 8, 'bench-profile', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      log(`  ${fmt(r.eventsPerSec)} events/s under the profiler`);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (file) results.profile = summarizeProfile(join(dir, file), 25, N);
    }
  } finally {
    for (const db of databases) await db.drop().catch((err: unknown) => log(`could not drop ${db.name}: ${String(err)}`));
    rmSync(pkiDir, { recursive: true, force: true });
  }
  results.loadavg_at_end = loadavg().map((x) => round(x, 2));

  const out = table(results);
  console.log(out);
  const dir = resolve(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${file}`);
  return 0;
}

// Run only as the program (importing table() must not start a bench).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main().catch((err: unknown) => {
    console.error(err);
    return 1;
  });
}
