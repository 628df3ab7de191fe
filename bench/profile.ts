/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): time per pipeline stage, the top functions by self
 * time, and inclusive time of the stage entry points.
 *
 * Stage attribution: each sample goes to the deepest frame on its stack that is our code (dist/src/...),
 * so Buffer writes, hashing and JSON.stringify called by the canonical encoder count as the ledger
 * stage; samples with none of our code on the stack go to the deepest frame with a known place
 * (TLS/net, the pg driver, streams, GC...). `layers` gives the other view: deepest known place first
 * (how much is Node's Buffer code, crypto, the pg driver...), whoever called it.
 *
 *   node dist/bench/profile.js FILE.cpuprofile [--top 25] [--events N]
 */
import { readFileSync } from 'node:fs';
import { isEntry } from './lib/entry.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a script belongs; null: a built-in with no script of its own (charged to its caller). */
export function categoryOf(cf: CallFrame): string | null {
  const u = cf.url;
  const f = cf.functionName;
  if (!u) {
    if (f === '(garbage collector)') return 'gc';
    if (f === '(idle)') return 'idle';
    if (f === '(program)') return 'program (native, unattributed)';
    if (f === '(root)') return 'root';
    return null;
  }
  const stage = /\/src\/(framing|parsing|normalize|listener|metrics|cli|db)\//.exec(u);
  if (stage) return stage[1] === 'metrics' ? 'metrics (ours)' : stage[1]!;
  if (/\/src\/ledger\/canonical/.test(u)) return 'ledger: canonical+sha256';
  if (/\/src\/ledger\/copy/.test(u)) return 'ledger: copy encoding';
  if (/\/src\/ledger\//.test(u)) return 'ledger: writer';
  if (/\/src\/main\./.test(u)) return 'main (toRecord glue)';
  if (/node_modules\/(pg|pg-protocol|pg-copy-streams|pg-types|pg-pool|pgpass|postgres-)/.test(u)) return 'pg driver';
  if (/node_modules\/prom-client/.test(u)) return 'metrics (prom-client)';
  if (/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format)/.test(u)) return 'logging';
  if (/^node:(_tls|tls|internal\/tls|net|internal\/net|internal\/stream_base|_stream_wrap|internal\/js_stream)/.test(u)) return 'tls/net';
  if (/^node:internal\/crypto|^node:crypto/.test(u)) return 'crypto (hash)';
  if (/^node:internal\/(streams|webstreams)|^node:stream/.test(u)) return 'streams';
  if (/^node:(buffer|internal\/buffer)/.test(u)) return 'buffer';
  if (/^node:internal\/(timers|process\/task_queues|async_hooks)|^node:timers/.test(u)) return 'event loop';
  if (u.startsWith('node:')) return 'node (other)';
  return 'other js';
}

export interface ProfileSummary {
  readonly file: string;
  readonly durationMs: number;
  readonly sampledMs: number;
  readonly stages: Array<{ stage: string; ms: number; pct: number; usPerEvent?: number }>;
  readonly layers: Array<{ layer: string; ms: number; pct: number }>;
  readonly topSelf: Array<{ fn: string; where: string; ms: number; pct: number; stage: string }>;
  readonly inclusive: Array<{ fn: string; ms: number; pct: number }>;
}

/** Entry points whose inclusive time tells the cost of a whole stage. */
const ENTRY_POINTS = ['toRecord', 'parseFrame', 'normalize', 'liftColumns', 'push', 'chainHash', 'canonicalJson', 'copyLine', 'chainBatch', 'commitBatch', 'onFrames', 'ondata', 'TLSWrap.onStreamRead', 'onStreamRead', 'emit', 'processTicksAndRejections'];

const isOurs = (cf: CallFrame): boolean => /\/src\//.test(cf.url) && !cf.url.includes('node_modules');

/** `events`: how many events the profiled run carried, to express stages in µs per event. */
export function summarizeProfile(file: string, top = 25, events?: number): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0; // the time until the next sample belongs to this one
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + dt);
  }
  let totalUs = 0;
  for (const v of selfUs.values()) totalUs += v;
  const busyUs = totalUs - [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);

  const stageUs = new Map<string, number>();
  const layerUs = new Map<string, number>();
  const fnUs = new Map<string, { ms: number; byStage: Map<string, number>; where: string; fn: string }>();
  const inclUs = new Map<string, number>();
  const shortUrl = (u: string): string => u.replace(/^file:\/\/.*?\/(dist\/|node_modules\/)/, '$1');
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    let cat: string | null = null;
    let ours: string | null = null;
    let viaWritable = false;
    for (let cur: number | undefined = id; cur !== undefined && ours === null; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (cat === null) cat = categoryOf(cf);
      if (isOurs(cf)) ours = categoryOf(cf);
      if (cf.url.includes('internal/streams/writable')) viaWritable = true;
    }
    // The writer streams its COPY text as strings; Writable turns each into bytes (UTF-8) on write.
    if (ours === null && cat === 'buffer' && viaWritable) ours = 'ledger: COPY stream (string -> UTF-8 bytes)';
    const stage = ours ?? cat ?? 'unattributed';
    stageUs.set(stage, (stageUs.get(stage) ?? 0) + us);
    const layer = cat ?? 'unattributed';
    layerUs.set(layer, (layerUs.get(layer) ?? 0) + us);
    const cf = node.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url}:${cf.lineNumber + 1}`;
    const e = fnUs.get(key) ?? { ms: 0, byStage: new Map<string, number>(), where: cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '(native)', fn: cf.functionName || '(anonymous)' };
    e.ms += us / 1000;
    e.byStage.set(stage, (e.byStage.get(stage) ?? 0) + us);
    fnUs.set(key, e);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = byId.get(cur)!.callFrame.functionName;
      if (ENTRY_POINTS.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclUs.set(name, (inclUs.get(name) ?? 0) + us);
      }
    }
  }
  const pct = (us: number): number => Math.round((1000 * us) / busyUs) / 10;
  return {
    file,
    durationMs: (p.endTime - p.startTime) / 1000,
    sampledMs: busyUs / 1000,
    stages: [...stageUs]
      .filter(([s]) => s !== 'idle' && s !== 'root')
      .sort((a, b) => b[1] - a[1])
      .map(([stage, us]) => ({ stage, ms: Math.round(us / 1000), pct: pct(us), ...(events ? { usPerEvent: Math.round((10 * us) / events) / 10 } : {}) })),
    layers: [...layerUs]
      .filter(([l]) => l !== 'idle' && l !== 'root')
      .sort((a, b) => b[1] - a[1])
      .map(([layer, us]) => ({ layer, ms: Math.round(us / 1000), pct: pct(us) })),
    topSelf: [...fnUs.values()]
      .filter((e) => e.fn !== '(idle)')
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, ms: Math.round(e.ms), pct: pct(e.ms * 1000), stage: [...e.byStage].sort((a, b) => b[1] - a[1])[0]![0] })),
    inclusive: [...inclUs].sort((a, b) => b[1] - a[1]).map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), pct: pct(us) })),
  };
}

export function printProfile(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(`profile ${s.file}: ${Math.round(s.durationMs)} ms wall, ${Math.round(s.sampledMs)} ms busy (non-idle); % of busy time`);
  lines.push('', '| stage (deepest frame of our code) | ms | % | µs/event |', '|---|---:|---:|---:|');
  for (const x of s.stages) lines.push(`| ${x.stage} | ${x.ms} | ${x.pct} | ${x.usPerEvent ?? ''} |`);
  lines.push('', '| layer (deepest known frame) | ms | % |', '|---|---:|---:|');
  for (const x of s.layers) lines.push(`| ${x.layer} | ${x.ms} | ${x.pct} |`);
  lines.push('', '| top self time | where | mostly for stage | ms | % |', '|---|---|---|---:|---:|');
  for (const x of s.topSelf) lines.push(`| ${x.fn} | ${x.where} | ${x.stage} | ${x.ms} | ${x.pct} |`);
  lines.push('', '| entry point (inclusive) | ms | % |', '|---|---:|---:|');
  for (const x of s.inclusive) lines.push(`| ${x.fn} | ${x.ms} | ${x.pct} |`);
  return lines.join('\n');
}

if (isEntry(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/profile.js FILE.cpuprofile [--top N]');
    process.exitCode = 2;
  } else {
    const i = process.argv.indexOf('--top');
    const e = process.argv.indexOf('--events');
    console.log(printProfile(summarizeProfile(file, i > 0 ? Number(process.argv[i + 1]) : 25, e > 0 ? Number(process.argv[e + 1]) : undefined)));
  }
}
