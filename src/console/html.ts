/**
 * HTML for the console: every value passes `esc` (or `attr`) on its way into a page. Pages are
 * plain server-rendered HTML5 (landmarks, captions, labelled fields); no script is sent, and the
 * Content-Security-Policy forbids any.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A piece of HTML that is already safe (built from escaped parts). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Escapes text for an element's content or a quoted attribute value. */
export function esc(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Tagged template: interpolated values are escaped, Html values and arrays of them are kept. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += Array.isArray(v) ? v.map((x) => esc(x)).join('') : esc(v);
    out += strings[i + 1]!;
  }
  return new Html(out);
}

/** A query string from parameters (empty values left out). */
export function qs(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

/** Microseconds since the epoch as UTC text, or an em dash. */
export function utc(us: number | null | undefined): string {
  if (us === null || us === undefined) return '—';
  return `${new Date(Math.floor(us / 1000)).toISOString().replace('T', ' ').replace('Z', '')} UTC`;
}

/** A duration in seconds, short. */
export function ago(sec: number | null): string {
  if (sec === null) return '—';
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172_800) return `${Math.round(sec / 3600)} h`;
  return `${Math.round(sec / 86_400)} d`;
}

export const NAV = [
  ['/', 'Integrity'],
  ['/sources', 'Sources'],
  ['/search', 'Search'],
] as const;

/** The page around a body. `current` marks the navigation entry of this page. */
export function page(title: string, body: Html, o: { current?: string; user?: string; csrf?: string } = {}): string {
  const nav = NAV.map(([href, label]) => html`<li><a href="${href}"${new Html(o.current === href ? ' aria-current="page"' : '')}>${label}</a></li>`);
  const logout = o.user !== undefined && o.csrf !== undefined
    ? html`<form method="post" action="/logout" class="logout"><span>${o.user}</span> <input type="hidden" name="csrf" value="${o.csrf}"><button type="submit">Log out</button></form>`
    : html``;
  return `<!doctype html>
${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · syslog-ledger</title><link rel="stylesheet" href="/console.css"></head>
<body><header><p class="brand">syslog-ledger console <span class="ro">read-only</span></p>
${o.user !== undefined ? html`<nav aria-label="Main"><ul>${nav}</ul></nav>` : html``}${logout}</header>
<main id="main"><h1>${title}</h1>
${body}</main></body></html>`.text}
`;
}

/** The stylesheet: served as /console.css (the CSP allows styles from 'self' only). */
export const CSS = `
:root { color-scheme: light; font-family: system-ui, sans-serif; font-size: 15px; }
body { margin: 0; color: #1b1b1b; background: #fff; }
header { display: flex; gap: 2rem; align-items: center; padding: .5rem 1.5rem; background: #20303f; color: #fff; }
header a { color: #fff; } header .brand { font-weight: 600; margin: 0; }
header ul { list-style: none; display: flex; gap: 1.25rem; margin: 0; padding: 0; }
header a[aria-current=page] { font-weight: 700; text-decoration-thickness: 3px; }
.ro { font-size: .75rem; border: 1px solid #fff; border-radius: 3px; padding: 0 .3rem; margin-left: .3rem; }
.logout { margin-left: auto; } .logout button { margin-left: .5rem; }
main { padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border: 1px solid #c8ced3; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #0b6b2b; font-weight: 600; }
.bad { color: #b00020; font-weight: 700; }
tr.bad td { background: #fde8ea; }
.warn { color: #8a5300; font-weight: 600; }
pre { background: #f4f6f8; border: 1px solid #d9dee3; padding: .6rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; max-width: 100%; }
form.search { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .6rem 1rem; align-items: end; margin-bottom: 1rem; }
label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
input, select, button { font: inherit; padding: .25rem .4rem; }
.notice { border-left: 4px solid #b00020; background: #fde8ea; padding: .5rem .8rem; }
.info { border-left: 4px solid #20303f; background: #eef1f4; padding: .5rem .8rem; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dl.kv dt { font-weight: 600; } dl.kv dd { margin: 0; font-family: monospace; word-break: break-all; }
nav.pages { display: flex; gap: 1rem; }
`;
