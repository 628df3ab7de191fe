/**
 * The coverage report (`syslog-ledger coverage`, docs/metrics.md "Coverage"): for a period, each
 * source's first and last event, its event count, every silent window and its sequence findings.
 * PCI DSS 10.7.2 asks that failures of logging be detected and their start and end known.
 *
 * Silent windows come from two places, merged:
 * - the events themselves: two consecutive events of a source further apart than the silence
 *   threshold (by ledger receive time) bound a silent window. This works for any period the ledger
 *   covers, including when the server was down (the ledger cannot tell a silent sender from a
 *   stopped server: both leave the same hole);
 * - the server's silence findings (`source_silent` / `source_resumed`): they add the windows the
 *   running server saw that the events alone do not show, such as a configured source that never
 *   sent. Their start and end are the same ledger receive times, so where both see a window, they
 *   agree exactly.
 */
import { isoMicros } from '../ledger/copy.js';
import type { Queryable } from '../checkpoints/merkle-store.js';
import { firstEventOfPair, lastEventOfPairBefore, silenceFindings, sourcePairs, sourcesOfPair, type SourcePair } from './source-history.js';

/**
 * Where a window comes from: `events` (a gap between two events), `findings` (the server's
 * silence findings), `no_events` (a configured source with nothing in the ledger in reach).
 */
export const WINDOW_BASES = ['events', 'findings', 'no_events'] as const;
export type WindowBasis = (typeof WINDOW_BASES)[number];

/** One silent window. Times are ledger receive times, µs since the epoch. */
export interface SilentWindow {
  /** The last event before the silence; null when none is known (a source never seen). */
  readonly startUs: number | null;
  /** The first event after it; null while it lasts (at the report's end or now). */
  readonly endUs: number | null;
  /** From start (or the period's start) to end (or the period's end, or now when earlier). */
  readonly durationSec: number;
  readonly basis: readonly WindowBasis[];
}

/** A sequence finding about the source (gap, duplicate, broken chain; restarts are left out). */
export interface SequenceGapEntry {
  readonly atUs: number;
  /** `finding_info.types[0]`: `sequence_gap`, `audit_chain_break`, ... */
  readonly type: string;
  readonly stream: string | null;
  readonly missing: number | null;
  readonly message: string;
}

export interface SourceCoverage {
  readonly source: string;
  /** Named with `--expect-source` / `--expect-sources-file` on the command line. */
  readonly configured: boolean;
  readonly events: number;
  readonly firstEventUs: number | null;
  readonly lastEventUs: number | null;
  readonly silentWindows: readonly SilentWindow[];
  readonly sequenceGaps: readonly SequenceGapEntry[];
}

export interface CoverageReport {
  readonly fromUs: number;
  readonly toUs: number;
  readonly thresholdSec: number;
  readonly lookbackSec: number;
  readonly sources: readonly SourceCoverage[];
  /** More (peer, HOSTNAME) pairs than one query walks: sources that only sent before the period may be missing. */
  readonly truncated: boolean;
}

export interface CoverageOptions {
  readonly fromUs: number;
  readonly toUs: number;
  /** A gap between two events longer than this is a silent window. */
  readonly thresholdSec: number;
  /** Sources that sent this long before the period are listed too (silent through it). */
  readonly lookbackSec: number;
  /** Sources that must be listed even with nothing in the ledger. */
  readonly expectSources?: readonly string[];
  /** Now, µs (tests pin it): an open window's duration ends here when the period ends later. */
  readonly nowUs?: number;
}

/** Count, first, last and the gaps longer than the threshold, per source, over the period's events. */
const PERIOD_SQL = `
WITH ev AS (
  SELECT s.src, l.received_at
    FROM ledger_rows l
    CROSS JOIN LATERAL (SELECT coalesce(nullif(l.peer_cn, ''), nullif(substring(l.peer_sans[1] FROM position(':' IN l.peer_sans[1]) + 1), '')) AS peer) p
    CROSS JOIN LATERAL (VALUES (p.peer), (CASE WHEN l.hostname IS DISTINCT FROM p.peer THEN l.hostname END)) s(src)
   WHERE l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
     AND l.format <> 'internal' AND s.src IS NOT NULL
), lagged AS (
  SELECT src, received_at, lag(received_at) OVER (PARTITION BY src ORDER BY received_at) AS prev FROM ev
)
SELECT src,
       count(*)::text AS events,
       (extract(epoch FROM min(received_at)) * 1000000)::bigint::text AS first_us,
       (extract(epoch FROM max(received_at)) * 1000000)::bigint::text AS last_us,
       coalesce(json_agg(json_build_array((extract(epoch FROM prev) * 1000000)::bigint::text, (extract(epoch FROM received_at) * 1000000)::bigint::text)
                         ORDER BY received_at) FILTER (WHERE received_at - prev > $3::interval), '[]') AS gaps
  FROM lagged
 GROUP BY src`;

const SEQUENCE_SQL = `
SELECT (extract(epoch FROM l.received_at) * 1000000)::bigint::text AS at_us,
       l.event #>> '{finding_info,types,0}' AS type,
       l.event #>> '{unmapped,syslog_ledger_finding,source}' AS source,
       l.event #>> '{unmapped,syslog_ledger_finding,stream}' AS stream,
       l.event #>> '{unmapped,syslog_ledger_finding,missing}' AS missing,
       l.event ->> 'message' AS message
  FROM ledger_rows l
 WHERE l.class_uid = 2004 AND l.format = 'internal'
   AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
   AND l.event #>> '{finding_info,types,0}' <> 'sequence_summary'
   AND (l.event #>> '{finding_info,types,0}' LIKE 'sequence\\_%' OR l.event #>> '{finding_info,types,0}' LIKE 'audit\\_chain\\_%')
   AND l.event #>> '{finding_info,types,0}' NOT LIKE '%\\_reset'
 ORDER BY l.received_at, l.chain, l.seq`;

interface Acc {
  events: number;
  firstUs: number | null;
  lastUs: number | null;
  gaps: Array<[number, number]>;
  /** Last event before the period, first after it. */
  beforeUs: number | null;
  afterUs: number | null;
  findingWindows: Array<{ startUs: number | null; endUs: number | null }>;
  sequenceGaps: SequenceGapEntry[];
}

export async function coverageReport(db: Queryable, o: CoverageOptions): Promise<CoverageReport> {
  if (!(o.toUs > o.fromUs)) throw new RangeError('the period must end after it starts');
  const nowUs = o.nowUs ?? Date.now() * 1000;
  const thresholdUs = o.thresholdSec * 1e6;
  const acc = new Map<string, Acc>();
  const of = (source: string): Acc => {
    let a = acc.get(source);
    if (!a) acc.set(source, (a = { events: 0, firstUs: null, lastUs: null, gaps: [], beforeUs: null, afterUs: null, findingWindows: [], sequenceGaps: [] }));
    return a;
  };

  // 1. The period's events: counts, first and last, and the gaps inside it.
  const period = await db.query<{ src: string; events: string; first_us: string; last_us: string; gaps: Array<[string, string]> }>(PERIOD_SQL, [
    isoMicros(o.fromUs),
    isoMicros(o.toUs),
    `${o.thresholdSec} seconds`,
  ]);
  for (const row of period.rows) {
    const a = of(row.src);
    a.events = Number(row.events);
    a.firstUs = Number(row.first_us);
    a.lastUs = Number(row.last_us);
    a.gaps = row.gaps.map(([p, n]) => [Number(p), Number(n)]);
  }

  // 2. Every pair that sent in the look-back or the period: its last event before the period and
  //    its first after it (index probes), for the windows that cross the period's edges.
  const { pairs, truncated } = await sourcePairs(db, o.fromUs - o.lookbackSec * 1e6, o.toUs);
  for (const pair of pairs) await probeEdges(db, pair, o, of);

  // 3. The silence findings: windows as the running server saw them.
  const open = new Map<string, { startUs: number | null; endUs: number | null }>();
  for (const f of await silenceFindings(db, o.fromUs - o.lookbackSec * 1e6, o.toUs + o.lookbackSec * 1e6)) {
    const a = of(f.source);
    if (f.kind === 'silent') {
      if (f.atUs >= o.toUs) continue; // noticed after the period: not a silence within it (yet)
      const w = { startUs: f.silentSinceUs, endUs: null };
      a.findingWindows.push(w);
      open.set(f.source, w);
    } else if (f.kind === 'resumed') {
      const w = open.get(f.source);
      if (w) w.endUs = f.resumedAtUs;
      else a.findingWindows.push({ startUs: f.silentSinceUs, endUs: f.resumedAtUs });
      open.delete(f.source);
    } else {
      open.delete(f.source); // forgotten: the end, if any, is the next event
    }
  }

  // 4. Sequence findings in the period.
  const seq = await db.query<{ at_us: string; type: string; source: string | null; stream: string | null; missing: string | null; message: string | null }>(SEQUENCE_SQL, [
    isoMicros(o.fromUs),
    isoMicros(o.toUs),
  ]);
  for (const row of seq.rows) {
    const entry = { atUs: Number(row.at_us), type: row.type, stream: row.stream, missing: row.missing === null ? null : Number(row.missing), message: row.message ?? '' };
    const names = new Set([row.source, row.stream].filter((n): n is string => n !== null));
    for (const n of names) of(n).sequenceGaps.push(entry);
  }

  const configured = new Set(o.expectSources ?? []);
  for (const s of configured) of(s);
  const endOfView = Math.min(o.toUs, nowUs);
  const sources: SourceCoverage[] = [...acc.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([source, a]) => ({
      source,
      configured: configured.has(source),
      events: a.events,
      firstEventUs: a.firstUs,
      lastEventUs: a.lastUs,
      silentWindows: silentWindowsOf(a, thresholdUs, o.fromUs, o.toUs, endOfView, configured.has(source)),
      sequenceGaps: a.sequenceGaps,
    }));
  return { fromUs: o.fromUs, toUs: o.toUs, thresholdSec: o.thresholdSec, lookbackSec: o.lookbackSec, sources, truncated };
}

async function probeEdges(db: Queryable, pair: SourcePair, o: CoverageOptions, of: (s: string) => Acc): Promise<void> {
  const before = await lastEventOfPairBefore(db, pair, o.fromUs);
  const after = await firstEventOfPair(db, pair, o.toUs - 1);
  for (const { source } of sourcesOfPair(pair)) {
    const a = of(source);
    if (before !== null && (a.beforeUs === null || before > a.beforeUs)) a.beforeUs = before;
    if (after !== null && (a.afterUs === null || after < a.afterUs)) a.afterUs = after;
  }
}

type Interval = { startUs: number | null; endUs: number | null; basis: Set<WindowBasis> };

/**
 * The windows of one source that overlap the period, merged. `endOfView`: the period's end, or now
 * when that is earlier; a source quiet from its last event to there for longer than the threshold
 * is in an open window.
 */
export function silentWindowsOf(
  a: Pick<Acc, 'firstUs' | 'lastUs' | 'gaps' | 'beforeUs' | 'afterUs' | 'findingWindows'>,
  thresholdUs: number,
  fromUs: number,
  toUs: number,
  endOfView: number,
  configured = false,
): SilentWindow[] {
  const windows: Interval[] = [];
  const events = (startUs: number | null, endUs: number | null, basis: WindowBasis = 'events'): void => void windows.push({ startUs, endUs, basis: new Set([basis]) });
  // The points the ledger has: the last before, the events inside (first, gaps, last), the first after.
  if (a.firstUs === null || a.lastUs === null) {
    const b = a.beforeUs;
    if (b !== null) {
      if (a.afterUs !== null) {
        if (a.afterUs - b > thresholdUs) events(b, a.afterUs);
      } else if (endOfView - b > thresholdUs) events(b, null);
    } else if (configured && a.findingWindows.length === 0) {
      events(null, a.afterUs, 'no_events'); // expected, and nothing at all in the ledger in reach
    }
  } else {
    if (a.beforeUs !== null && a.firstUs - a.beforeUs > thresholdUs) events(a.beforeUs, a.firstUs);
    for (const [p, n] of a.gaps) events(p, n);
    if (a.afterUs !== null) {
      if (a.afterUs - a.lastUs > thresholdUs) events(a.lastUs, a.afterUs);
    } else if (endOfView - a.lastUs > thresholdUs) events(a.lastUs, null);
  }
  // Finding windows: their end, when no `resumed` gave one, is the first event after their start.
  const knownPoints = [a.beforeUs, a.firstUs, ...a.gaps.flat(), a.lastUs, a.afterUs].filter((x): x is number => x !== null).sort((x, y) => x - y);
  for (const f of a.findingWindows) {
    const endUs = f.endUs ?? knownPoints.find((p) => p > (f.startUs ?? -Infinity)) ?? null;
    windows.push({ startUs: f.startUs, endUs, basis: new Set(['findings']) });
  }
  const lo = (w: Interval): number => w.startUs ?? -Infinity;
  const hi = (w: Interval): number => w.endUs ?? Infinity;
  windows.sort((x, y) => lo(x) - lo(y));
  const merged: Interval[] = [];
  for (const w of windows) {
    const last = merged[merged.length - 1];
    if (last && lo(w) <= hi(last)) {
      if (hi(w) > hi(last)) last.endUs = w.endUs;
      for (const b of w.basis) last.basis.add(b);
    } else merged.push({ ...w, basis: new Set(w.basis) });
  }
  return merged
    .filter((w) => hi(w) > fromUs && lo(w) < toUs)
    .map((w) => ({
      startUs: w.startUs,
      endUs: w.endUs,
      durationSec: Math.max(0, ((w.endUs ?? endOfView) - (w.startUs ?? fromUs)) / 1e6),
      basis: WINDOW_BASES.filter((b) => w.basis.has(b)),
    }));
}
