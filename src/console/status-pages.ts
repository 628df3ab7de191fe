/** The Integrity and Sources pages: what only a ledger can show, that the log is intact and complete. */
import type { CoverageReport, SourceCoverage } from '../monitoring/coverage.js';
import { ago, html, Html, qs, utc } from './html.js';
import type { ChainIntegrity } from './queries.js';

const ms = (d: Date | null): number | null => (d === null ? null : d.getTime() * 1000);
const age = (d: Date | null, nowMs: number): number | null => (d === null ? null : (nowMs - d.getTime()) / 1000);

/** Integrity: each chain's head, last signed checkpoint and its age, and the last verification. */
export function integrityBody(chains: readonly ChainIntegrity[], nowMs: number): Html {
  const failed = chains.filter((c) => c.verifyResult === 'failed');
  const summary =
    failed.length > 0
      ? html`<p class="notice" role="alert"><strong class="bad">Verification FAILED</strong> for ${failed.map((c) => c.chain).join(', ')}: the ledger was changed after it was written. Run <code>syslog-ledger verify</code>.</p>`
      : html`<p class="info">${chains.length} chain(s). Each is verified by serve every <code>--verify-interval</code>; a failure shows here in red with its first bad row.</p>`;
  const rows = chains.map((c) => {
    const bad = c.verifyResult === 'failed';
    const result = c.verifyResult === null ? html`<span class="warn">not verified by serve yet</span> (serve verifies its own chain; run <code>syslog-ledger verify</code>)` : bad ? html`<span class="bad">FAILED (${c.verifyReason})</span>` : html`<span class="ok">intact</span>`;
    const firstBad = bad ? /at seq (\d+)/.exec(c.verifyDetail ?? '') : null;
    const detail = firstBad
      ? html`${c.verifyDetail} <a href="/event${qs({ chain: c.chain, seq: firstBad[1] })}">first bad row: seq ${firstBad[1]}</a>`
      : html`${c.verifyDetail}`;
    return html`<tr${new Html(bad ? ' class="bad"' : '')}>
<th scope="row">${c.chain}</th><td class="num" data-head-seq="${c.headSeq}">${c.headSeq}</td>
<td class="num">${c.checkpointSeq ?? '—'}</td><td>${utc(ms(c.checkpointSignedAt))}</td><td class="num">${ago(age(c.checkpointSignedAt, nowMs))}</td><td class="num">${c.rowsAfterCheckpoint}</td>
<td>${utc(ms(c.verifiedAt))}</td><td>${result}</td><td class="num">${c.verifiedFromSeq ?? '—'}..${c.verifiedToSeq ?? '—'}</td><td>${detail}</td><td>${utc(ms(c.lastSuccessAt))}</td></tr>`;
  });
  return html`${summary}
<table><caption>Chains</caption><thead><tr><th scope="col">Chain</th><th scope="col">Head seq</th><th scope="col">Last signed checkpoint (seq)</th><th scope="col">Signed at</th><th scope="col">Checkpoint age</th><th scope="col">Rows after it</th><th scope="col">Last verification</th><th scope="col">Result</th><th scope="col">Rows verified</th><th scope="col">Detail</th><th scope="col">Last success</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

export interface SourcesView {
  readonly period: CoverageReport;
  readonly day: CoverageReport;
  readonly hour: CoverageReport;
  readonly given: { readonly from: string; readonly to: string };
  readonly error?: string;
}

function windows(s: SourceCoverage): Html {
  if (s.silentWindows.length === 0) return html`none`;
  return html`<ul>${s.silentWindows.map((w) => html`<li>${w.startUs === null ? 'never sent' : utc(w.startUs)} → ${w.endUs === null ? 'still silent' : utc(w.endUs)} (${ago(w.durationSec)}; ${w.basis.join(', ')})</li>`)}</ul>`;
}

function gaps(s: SourceCoverage): Html {
  if (s.sequenceGaps.length === 0) return html`none`;
  return html`<ul>${s.sequenceGaps.map((g) => html`<li>${utc(g.atUs)} ${g.type}${g.missing === null ? '' : ` (${g.missing} missing)`}${g.stream === null ? '' : ` stream ${g.stream}`}</li>`)}</ul>`;
}

/** Sources: each certificate name and HOSTNAME, its events, whether it is silent now, and its silences and sequence gaps in a period. */
export function sourcesBody(v: SourcesView): Html {
  const names = [...new Set([...v.day.sources, ...v.period.sources].map((s) => s.source))].sort();
  const byName = (r: CoverageReport): Map<string, SourceCoverage> => new Map(r.sources.map((s) => [s.source, s]));
  const day = byName(v.day);
  const hour = byName(v.hour);
  const period = byName(v.period);
  const silentNow = (n: string): boolean => (day.get(n)?.silentWindows ?? []).some((w) => w.endUs === null);
  const silentCount = names.filter(silentNow).length;
  const rows = names.map((n) => {
    const p = period.get(n);
    const d = day.get(n);
    const silent = silentNow(n);
    const configured = d?.configured ?? p?.configured ?? false;
    return html`<tr${new Html(silent ? ' class="bad"' : '')} data-source="${n}">
<th scope="row">${n}</th><td>${configured ? 'configured' : 'seen'}</td>
<td class="num">${hour.get(n)?.events ?? 0}</td><td class="num">${d?.events ?? 0}</td>
<td>${silent ? html`<strong class="bad">SILENT</strong>` : html`<span class="ok">sending</span>`}</td>
<td class="num">${p?.events ?? 0}</td><td>${utc(p?.firstEventUs)}</td><td>${utc(p?.lastEventUs ?? d?.lastEventUs)}</td>
<td>${p ? windows(p) : 'none'}</td><td>${p ? gaps(p) : 'none'}</td></tr>`;
  });
  return html`${v.error ? html`<p class="notice" role="alert">${v.error}</p>` : html``}
<p class="${silentCount > 0 ? 'notice' : 'info'}">${silentCount} of ${names.length} source(s) silent now (no event for more than ${v.day.thresholdSec} s). Silent windows and sequence gaps are those of the period below (PCI DSS 10.7.2: failures of logging, with start and end).</p>
<form method="get" action="/sources" class="search" aria-label="Period">
<label>From (UTC)<input name="from" value="${v.given.from}" placeholder="2026-12-01T00:00:00Z or 24h"></label>
<label>To (UTC)<input name="to" value="${v.given.to}" placeholder="now"></label>
<button type="submit">Show period</button></form>
<table><caption>Sources, period ${utc(v.period.fromUs)} to ${utc(v.period.toUs)}</caption><thead><tr>
<th scope="col">Source (certificate name or HOSTNAME)</th><th scope="col">Expected</th><th scope="col">Events, last hour</th><th scope="col">Events, last day</th><th scope="col">Now</th>
<th scope="col">Events in period</th><th scope="col">First event</th><th scope="col">Last event</th><th scope="col">Silent windows</th><th scope="col">Sequence gaps</th></tr></thead>
<tbody>${rows}</tbody></table>
${v.period.truncated ? html`<p class="warn">More sources than one query walks: sources that only sent before the period may be missing.</p>` : html``}`;
}

