/**
 * `syslog-ledger coverage --from T --to T`: each source's first and last event, event count, silent
 * windows and sequence gaps over a period (src/monitoring/coverage.ts; docs/metrics.md "Coverage").
 * Reads only. A table on a terminal, JSON otherwise, or as `--format` says.
 */
import { resolve } from 'node:path';
import pg from 'pg';
import { durationMs, helpText, list, oneOf, parseOptions, readNameList, requireStr, str, type OptionSpecs, type OptionValues } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { ConfigError } from '../errors.js';
import { isoMicros } from '../ledger/copy.js';
import { rfc3339Micros } from '../ledger/time.js';
import { coverageReport, type CoverageReport, type SilentWindow } from '../monitoring/coverage.js';
import { DB_OPTIONS } from './migrate.js';

export const COVERAGE_FORMATS = ['auto', 'table', 'json', 'csv'] as const;
export type CoverageFormat = (typeof COVERAGE_FORMATS)[number];

export const COVERAGE_OPTIONS = {
  ...DB_OPTIONS,
  from: { type: 'string', arg: 'TIME', help: 'start of the period: RFC 3339, a date (UTC midnight), or -DURATION before now (written --from=-24h)' },
  to: { type: 'string', default: 'now', arg: 'TIME', help: 'end of the period (excluded), same forms' },
  format: { type: 'string', default: 'auto', arg: COVERAGE_FORMATS.join('|'), help: 'auto: a table on a terminal, JSON otherwise' },
  'silence-threshold': { type: 'string', default: '300s', arg: 'DURATION', help: 'two events of a source further apart than this bound a silent window' },
  'learn-sources': { type: 'string', default: '7d', arg: 'DURATION', help: 'sources that sent this long before --from are listed too' },
  'expect-source': { type: 'string', multiple: true, arg: 'NAME', help: 'a source to list even with nothing in the ledger' },
  'expect-sources-file': { type: 'string', arg: 'FILE', help: 'more of them, one a line (# comments)' },
} as const satisfies OptionSpecs;

export async function coverageCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, COVERAGE_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger coverage --from TIME [--to TIME] [options]', 'Per source over a period: first and last event, count, silent windows, sequence gaps.', COVERAGE_OPTIONS));
    return 0;
  }
  const nowUs = Date.now() * 1000;
  const fromUs = timeOption(values, 'from', nowUs);
  const toUs = timeOption(values, 'to', nowUs);
  if (toUs <= fromUs) throw new ConfigError('--to', `must be after --from (${isoMicros(fromUs)})`);
  const format = oneOf(values, 'format', COVERAGE_FORMATS);
  const file = str(values, 'expect-sources-file');
  const expectSources = [...new Set([...list(values, 'expect-source'), ...(file ? readNameList('--expect-sources-file', file) : [])])];
  const thresholdSec = durationMs(values, 'silence-threshold', 1000) / 1000;
  const lookbackSec = durationMs(values, 'learn-sources') / 1000;

  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const client = new pg.Client({ connectionString: db.url, application_name: 'syslog-ledger coverage' });
    await client.connect();
    let report: CoverageReport;
    try {
      report = await coverageReport(client, { fromUs, toUs, thresholdSec, lookbackSec, expectSources, nowUs });
    } finally {
      await client.end();
    }
    const out = format === 'json' || (format === 'auto' && !process.stdout.isTTY) ? formatJson(report) : format === 'csv' ? formatCsv(report) : formatTable(report);
    process.stdout.write(out);
    return 0;
  } finally {
    await db.release();
  }
}

/** `2026-12-01T00:00:00Z`, `2026-12-01` (UTC midnight), `now`, `-24h`. */
function timeOption(values: OptionValues, name: string, nowUs: number): number {
  const raw = requireStr(values, name).trim();
  if (raw === 'now') return nowUs;
  if (raw.startsWith('-')) return nowUs - durationMs({ [name]: raw.slice(1) }, name) * 1000;
  const us = rfc3339Micros(/^\d{4}-\d{2}-\d{2}$/.test(raw) ? `${raw}T00:00:00Z` : raw);
  if (us === undefined) throw new ConfigError(`--${name}`, `expects an RFC 3339 time, a date or -DURATION, got "${raw}"`);
  return us;
}

const iso = (us: number | null): string | null => (us === null ? null : isoMicros(us));

function windowJson(w: SilentWindow) {
  return { start: iso(w.startUs), end: iso(w.endUs), duration_sec: w.durationSec, start_us: w.startUs, end_us: w.endUs, basis: w.basis };
}

export function formatJson(r: CoverageReport): string {
  return (
    JSON.stringify({
      from: iso(r.fromUs),
      to: iso(r.toUs),
      silence_threshold_sec: r.thresholdSec,
      learn_sources_sec: r.lookbackSec,
      truncated: r.truncated,
      sources: r.sources.map((s) => ({
        source: s.source,
        configured: s.configured,
        events: s.events,
        first_event: iso(s.firstEventUs),
        last_event: iso(s.lastEventUs),
        silent_windows: s.silentWindows.map(windowJson),
        sequence_gaps: s.sequenceGaps.map((g) => ({ at: iso(g.atUs), type: g.type, stream: g.stream, missing: g.missing, message: g.message })),
      })),
    }, null, 2) + '\n'
  );
}

/** One line per fact: `source` (count, first, last), `silent` (a window), `sequence_gap` (a finding). */
export function formatCsv(r: CoverageReport): string {
  const lines = ['source,record,start,end,duration_sec,events,detail'];
  const row = (...cells: Array<string | number | null>): void => void lines.push(cells.map(csvCell).join(','));
  for (const s of r.sources) {
    row(s.source, 'source', iso(s.firstEventUs), iso(s.lastEventUs), null, s.events, s.configured ? 'configured' : '');
    for (const w of s.silentWindows) row(s.source, 'silent', iso(w.startUs), iso(w.endUs), w.durationSec, null, w.basis.join('+'));
    for (const g of s.sequenceGaps) row(s.source, 'sequence_gap', iso(g.atUs), null, null, g.missing, `${g.type}${g.stream && g.stream !== s.source ? ` ${g.stream}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function formatTable(r: CoverageReport): string {
  const out = [`Coverage ${iso(r.fromUs)} .. ${iso(r.toUs)}, silence threshold ${r.thresholdSec} s${r.truncated ? ' (too many senders: some sources that only sent before the period are missing)' : ''}`, ''];
  const rows: string[][] = [['SOURCE', 'EVENTS', 'FIRST EVENT', 'LAST EVENT', 'SILENT', 'SEQUENCE GAPS']];
  for (const s of r.sources) {
    const silentSec = s.silentWindows.reduce((t, w) => t + w.durationSec, 0);
    rows.push([
      s.source + (s.configured ? ' *' : ''),
      String(s.events),
      iso(s.firstEventUs) ?? '-',
      iso(s.lastEventUs) ?? '-',
      s.silentWindows.length ? `${s.silentWindows.length} (${human(silentSec)})` : '0',
      String(s.sequenceGaps.length),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) out.push(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const details = r.sources.filter((s) => s.silentWindows.length || s.sequenceGaps.length);
  if (details.length) out.push('');
  for (const s of details) {
    out.push(`${s.source}:`);
    for (const w of s.silentWindows) {
      out.push(`  silent  ${iso(w.startUs) ?? 'unknown'} -> ${iso(w.endUs) ?? 'still silent'}  ${human(w.durationSec)}  (${w.basis.join(', ')})`);
    }
    for (const g of s.sequenceGaps) out.push(`  ${g.type}  ${iso(g.atUs)}  ${g.message}`);
  }
  if (r.sources.some((s) => s.configured)) out.push('', '* configured (--expect-source, --expect-sources-file)');
  return out.join('\n') + '\n';
}

function human(sec: number): string {
  if (sec < 120) return `${sec.toFixed(1)} s`;
  if (sec < 7200) return `${(sec / 60).toFixed(1)} min`;
  if (sec < 172_800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86_400).toFixed(1)} d`;
}
