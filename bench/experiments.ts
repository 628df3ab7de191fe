/**
 * What-if micro-benchmarks for docs/performance.md: faster versions of the hottest per-event functions
 * the CPU profile shows, each checked to give byte-identical output to the server's current one on the
 * whole frame mix before it is timed. Nothing here is used by the server; these are proposals with numbers.
 *
 *   node dist/bench/experiments.js        (BENCH_STAGE_N frames, default 20,000)
 *
 *   canonicalJson   the server's (src/ledger/canonical.ts, imported: key orders and quoted keys cached)
 *                   against: a copy with sorted keys, then one native JSON.stringify (falls back to
 *                   canonicalJson for integer-like keys, which JS objects cannot keep in sorted order);
 *                   and objects built in sorted key order, JSON.stringify alone
 *   slim event      the event jsonb without what other columns already hold: raw_data (= raw),
 *                   unmapped.syslog (= syslog), metadata.peer (= peer_cn/peer_sans/peer_addr + certificate)
 */
import { canonicalJson } from '../src/ledger/canonical.js';
import { mixRecords } from './stages.js';
import { compare, keep, type OpsResult } from './lib/measure.js';
import { isEntry } from './lib/entry.js';

const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/** Deep copy with keys inserted in sorted order; null if an object has an integer-like key. */
function sortedCopy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = sortedCopy(v[i]);
      if (x === FAIL) return FAIL;
      out[i] = x;
    }
    return out;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (INDEX_KEY.test(k)) return FAIL;
    const x = sortedCopy(o[k]);
    if (x === FAIL) return FAIL;
    out[k] = x;
  }
  return out;
}
const FAIL = Symbol('fail');

/** Same bytes as canonicalJson for every value it accepts. */
export function canonicalJsonSortedCopy(value: unknown): string {
  const s = sortedCopy(value);
  return s === FAIL ? canonicalJson(value) : JSON.stringify(s);
}

/** The event without the parts other columns already store. */
export function slimEvent(event: Record<string, unknown>): Record<string, unknown> {
  const { raw_data: _raw, unmapped, metadata, ...rest } = event as { raw_data?: unknown; unmapped?: Record<string, unknown>; metadata?: Record<string, unknown> };
  const out: Record<string, unknown> = { ...rest };
  if (metadata) {
    const { peer: _peer, ...m } = metadata;
    out.metadata = m;
  }
  if (unmapped) {
    const { syslog: _syslog, ...u } = unmapped;
    if (Object.keys(u).length) out.unmapped = u;
  }
  return out;
}

export interface ExperimentReport {
  readonly results: Array<{ what: string; current: OpsResult; proposal: OpsResult; speedup: number; identical: boolean }>;
  readonly eventBytes: { current: number; slim: number };
}

export function runExperiments(n = Number(process.env.BENCH_STAGE_N ?? 20000)): ExperimentReport {
  const records = mixRecords(n);
  const results: ExperimentReport['results'] = [];

  const identicalJson = records.every((r) => canonicalJsonSortedCopy(r.event) === canonicalJson(r.event) && canonicalJsonSortedCopy(r.syslog) === canonicalJson(r.syslog));
  const [cur2, copyFirst] = compare(
    ['canonicalJson x2 (current)', () => records.map((r) => canonicalJson(r.syslog).length + canonicalJson(r.event).length)],
    ['canonicalJson x2 (sorted copy + JSON.stringify)', () => records.map((r) => canonicalJsonSortedCopy(r.syslog).length + canonicalJsonSortedCopy(r.event).length)],
    n,
  );
  results.push({ what: 'canonicalJson (syslog + event): sorted copy + native JSON.stringify', current: cur2, proposal: copyFirst, speedup: copyFirst.opsPerSec / cur2.opsPerSec, identical: identicalJson });
  // If normalize built its objects with keys already in sorted order, JSON.stringify alone would be canonical.
  const presorted = records.map((r) => [sortedCopy(r.syslog), sortedCopy(r.event)] as const);
  const identicalSorted = records.every((r, i) => presorted[i]![1] === FAIL || JSON.stringify(presorted[i]![1]) === canonicalJson(r.event));
  const [cur3, native] = compare(
    ['canonicalJson x2 (current)', () => records.map((r) => canonicalJson(r.syslog).length + canonicalJson(r.event).length)],
    ['JSON.stringify x2 of objects built in sorted key order', () => presorted.map((p) => JSON.stringify(p[0]).length + JSON.stringify(p[1]).length)],
    n,
  );
  results.push({ what: 'canonicalJson (syslog + event): objects built sorted, JSON.stringify only', current: cur3, proposal: native, speedup: native.opsPerSec / cur3.opsPerSec, identical: identicalSorted });

  const slim = records.map((r) => slimEvent(r.event as Record<string, unknown>));
  const [s1, s2] = compare(
    ['canonicalJson(event) (current event)', () => records.map((r) => canonicalJson(r.event).length)],
    ['canonicalJson(event) (slim event)', () => slim.map((e) => canonicalJson(e).length)],
    n,
  );
  results.push({ what: 'event canonical JSON, slim event', current: s1, proposal: s2, speedup: s2.opsPerSec / s1.opsPerSec, identical: false });
  keep(slim);
  const avg = (xs: string[]): number => Math.round(xs.reduce((a, s) => a + Buffer.byteLength(s), 0) / xs.length);
  return { results, eventBytes: { current: avg(records.map((r) => canonicalJson(r.event))), slim: avg(slim.map((e) => canonicalJson(e))) } };
}

export function printExperiments(x: ExperimentReport): string {
  const L = ['| experiment | current /s | proposal /s | speed-up | output identical |', '|---|---:|---:|---:|---|'];
  for (const r of x.results) L.push(`| ${r.what} | ${Math.round(r.current.opsPerSec).toLocaleString('en-US')} | ${Math.round(r.proposal.opsPerSec).toLocaleString('en-US')} | ${r.speedup.toFixed(2)}x | ${r.what.includes('slim') ? 'n/a (different event)' : r.identical ? 'yes' : 'NO'} |`);
  L.push('', `event canonical JSON: ${x.eventBytes.current} B per event now, ${x.eventBytes.slim} B slim`);
  return L.join('\n');
}

if (isEntry(import.meta.url)) console.log(printExperiments(runExperiments()));
