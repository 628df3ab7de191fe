/** The Search and Event pages. */
import { FIELD_NAMES, PAGE_SIZES, type ParsedSearch, type SearchFields } from './search-form.js';
import { html, Html, qs, utc } from './html.js';
import type { LedgerEntry, SearchRow } from './queries.js';

const STATUS = ['', 'success', 'failure', 'unknown', 'other'] as const;

function form(f: SearchFields): Html {
  const input = (name: keyof SearchFields, label: string, hint: string): Html =>
    html`<label>${label}<input name="${name}" value="${f[name]}" placeholder="${hint}"></label>`;
  return html`<form method="get" action="/search" class="search" aria-label="Search the ledger">
${input('from', 'From (UTC, inclusive)', '24h, 2026-12-01, 2026-12-01T10:00:00Z')}
${input('to', 'To (UTC, exclusive)', 'now')}
${input('host', 'Host (HOSTNAME)', 'web1')}
${input('user', 'User (user or actor)', 'alice')}
${input('class', 'OCSF class_uid', '3002')}
<label>Status<select name="status">${STATUS.map((s) => html`<option value="${s}"${new Html(f.status === s ? ' selected' : '')}>${s === '' ? 'any' : s}</option>`)}${
    (STATUS as readonly string[]).includes(f.status) ? html`` : html`<option value="${f.status}" selected>${f.status}</option>`
  }</select></label>
${input('text', 'Message text (in the raw frame)', 'Failed password')}
<label>Rows per page<select name="n">${PAGE_SIZES.map((n) => html`<option${new Html(String(n) === (f.n || '50') ? ' selected' : '')}>${n}</option>`)}</select></label>
<button type="submit">Search</button></form>`;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** The frame's text for a cell: control characters shown as U+FFFD-free escapes. */
export function frameText(b: Buffer): string {
  return decoder.decode(b).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface SearchView {
  readonly parsed: ParsedSearch;
  readonly result?: { total: number; rows: readonly SearchRow[]; more: boolean };
  readonly csrf: string;
  readonly error?: string;
}

/** The search page: the form, the exact total, one page in ledger order, the next page, the export form. */
export function searchBody(v: SearchView): Html {
  const { parsed: p, result: r } = v;
  const errors = [...p.errors, ...(v.error ? [v.error] : [])];
  const params = Object.fromEntries(FIELD_NAMES.map((k) => [k, p.fields[k]]));
  let results = html``;
  if (r !== undefined) {
    const first = (p.page - 1) * p.limit + 1;
    const last = (p.page - 1) * p.limit + r.rows.length;
    const rows = r.rows.map(
      (e) => html`<tr><td><a href="/event${qs({ chain: e.chain, seq: e.seq })}">${e.chain} #${e.seq}</a></td><td>${utc(e.receivedAt.getTime() * 1000)}</td><td>${e.hostname ?? ''}</td><td>${e.userName ?? ''}</td><td class="num">${e.classUid}</td><td class="num">${e.statusId}</td><td><code>${frameText(e.rawHead)}</code></td></tr>`,
    );
    const next = r.more && r.rows.length > 0 ? r.rows[r.rows.length - 1]! : undefined;
    const hidden = FIELD_NAMES.filter((k) => k !== 'n' && k !== 'text').map((k) => html`<input type="hidden" name="${k}" value="${p.fields[k]}">`);
    results = html`<p class="info" role="status"><strong data-total="${r.total}">${r.total}</strong> matching event(s) (exact count), received ${utc(Date.parse(p.search!.query.from!) * 1000)} to ${utc(Date.parse(p.search!.query.to) * 1000)}, in ledger order (chain, seq).${r.rows.length > 0 ? ` Showing ${first}–${last}.` : ''}</p>
<table><caption>Results, page ${p.page}</caption><thead><tr><th scope="col">Event</th><th scope="col">Received</th><th scope="col">Host</th><th scope="col">User</th><th scope="col">Class</th><th scope="col">Status</th><th scope="col">Raw frame (start)</th></tr></thead>
<tbody>${rows}</tbody></table>
<nav class="pages" aria-label="Pages">${p.page > 1 ? html`<a href="/search${qs(params)}">First page</a>` : html``}${next ? html`<a rel="next" href="/search${qs({ ...params, after: `${next.chain}:${next.seq}`, page: p.page + 1 })}">Next page</a>` : html``}</nav>
<h2>Export as an evidence package</h2>
${p.search!.text !== null
      ? html`<p class="warn">An evidence package states its query by host, user, class, status and time: remove the message text to export these results.</p>`
      : html`<form method="post" action="/export" class="search" aria-label="Export">${hidden}<input type="hidden" name="csrf" value="${v.csrf}">
<label>Reason (recorded in the signed manifest and the access record)<input name="reason" required maxlength="500" placeholder="PCI 10.2 review, ticket SEC-42"></label>
<button type="submit">Export ${r.total} event(s)</button></form>`}`;
  }
  return html`${form(p.fields)}
${errors.length ? html`<div class="notice" role="alert"><p>The search was not run:</p><ul>${errors.map((e) => html`<li>${e}</li>`)}</ul></div>` : html``}
${results}`;
}

/** The event page: the full OCSF record, the raw frame, its place in the chain, and its proof. */
export function eventBody(e: LedgerEntry): Html {
  return html`<dl class="kv"><dt>Chain</dt><dd>${e.chain}</dd><dt>Seq</dt><dd>${e.seq}</dd><dt>Received</dt><dd>${utc(e.receivedAt.getTime() * 1000)}</dd>
<dt>Hash</dt><dd data-hash>${e.hash.toString('hex')}</dd><dt>Previous hash</dt><dd>${e.prevHash === null ? 'not in the database (the previous row was archived)' : e.prevHash.toString('hex')}</dd>
<dt>Peer</dt><dd>${e.peerCn ?? '—'} ${e.peerAddr ?? ''}</dd><dt>Format</dt><dd>${e.format}</dd></dl>
<p><a href="/proof${qs({ chain: e.chain, seq: e.seq })}" download>Download the inclusion proof</a> (JSON; check it offline with <code>syslog-ledger verify-proof FILE --public-key ledger-signing.key.pub</code>).</p>
<h2>Raw frame (${e.raw.length} bytes)</h2><pre id="raw">${frameText(e.raw)}</pre>
<h2>OCSF record</h2><pre id="ocsf">${JSON.stringify(e.ocsf, null, 2)}</pre>`;
}
