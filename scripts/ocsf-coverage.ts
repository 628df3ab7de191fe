/**
 * OCSF coverage report over real log files (default: ../shared/corpus/real/*.log, relative to the
 * working directory; pass files or folders to override):
 *
 *   node dist/scripts/ocsf-coverage.js [--json] [--strict] [--show N] [path ...]
 *
 * Each line is framed as the network would carry it (`<86>` authpriv.info + the file line), parsed by
 * parseFrame and normalized. Per file and program it counts lines mapped by a specific rule, by a
 * family's catch-all rule (`<family>.other`: a specific class, activity 99) and lines left as Base
 * Events (class 0), and flags lines whose text names a user that the event lost (the name appears in
 * no mapped attribute). `--strict` exits 1 when a line of a target program (sshd, sudo, su, pam_unix,
 * shadow-utils, auditd) is a Base Event or loses a user name.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseFrame } from '../src/parsing/index.js';
import type { ParseContext } from '../src/parsing/index.js';
import { normalize } from '../src/normalize/index.js';
import type { OcsfEvent } from '../src/normalize/index.js';
import type { PeerIdentity } from '../src/listener/identity.js';

const SHADOW = new Set([
  'useradd', 'userdel', 'usermod', 'groupadd', 'groupdel', 'groupmod', 'passwd', 'chpasswd', 'gpasswd', 'chage',
  'chfn', 'chsh', 'newusers', 'adduser', 'deluser', 'addgroup', 'delgroup',
]);
const TARGETS = new Set(['sshd', 'sudo', 'su', 'pam_unix', 'shadow-utils', 'auditd']);

const PEER: PeerIdentity = { cn: 'coverage', sans: [], subject: 'CN=coverage', fingerprint: '', address: '127.0.0.1:0' };

export interface Counts {
  lines: number;
  specific: number;
  catchAll: number;
  base: number;
  lostUser: number;
}

export interface FileReport {
  file: string;
  programs: Record<string, Counts>;
  total: Counts;
  lost: Array<{ line: number; text: string; missing: string[] }>;
  baseTargets: Array<{ line: number; text: string }>;
}

/** User names a human reader would see in the line (conservative patterns, see --show output). */
const USER_PATTERNS: readonly RegExp[] = [
  /\bfor (?:invalid user |illegal user )?(\S+) from \S+ port\b/,
  /\b(?:Invalid|Illegal) user (\S+) from\b/,
  /\b(?:invalid|illegal) user (\S+) \[preauth\]/,
  /\b(?:ruser|user)=([^\s"']+)/,
  /session (?:opened|closed) for user ([^\s(]+)/,
  / by ([A-Za-z_][\w.-]*)\(uid=/,
  /\bsudo(?:\[\d+\])?:\s+(\S+) : /,
  /\bUSER=(\S+) ;/,
  /\bacct="([^"?]+)"/,
  /\bnew (?:user|group): name=([^,\s]+)/,
  /\b(?:user|group) [`']([^']+)'/,
  /[`']([^']+)' (?:to|from) (?:shadow )?group [`']([^']+)'/,
  /\bsu for (\S+) by (\S+)/,
  /\(to (\S+)\) (\S+) on /,
  /\bFOR '?([^',\s]+)'?,/,
  /password changed for (\S+)/,
  /New session \S+ of user ([^\s.]+)/,
  /\buser (\S+) (?:added|removed) by (\S+)/,
  /Authentication failed for (\S+)/,
];

function namesIn(text: string): string[] {
  const out: string[] = [];
  for (const re of USER_PATTERNS) {
    const m = re.exec(text);
    if (m === null) continue;
    for (let i = 1; i < m.length; i++) {
      const v = m[i];
      if (v && v !== '?' && v !== '(unknown)' && v !== 'LOGIN' && !out.includes(v)) out.push(v);
    }
  }
  return out;
}

const SKIP = new Set(['raw_data', 'message', 'unmapped', 'metadata', 'status_detail', 'activity_name', 'class_name', 'category_name', 'status', 'severity']);

function mappedStrings(v: unknown, out: Set<string>, top = true): void {
  if (typeof v === 'string') out.add(v);
  else if (Array.isArray(v)) for (const x of v) mappedStrings(x, out, false);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (!(top && SKIP.has(k))) mappedStrings(x, out, false);
  }
}

function programOf(ev: OcsfEvent, appName: string | null): string {
  const rule = String((ev.metadata.mapping as { rule?: unknown } | undefined)?.rule ?? '');
  if (rule.startsWith('auditd.')) return 'auditd';
  if (!appName) return '(none)';
  let p = appName.replace(/:$/, '').replace(/\[.*$/, '');
  const paren = p.indexOf('(');
  if (paren > 0) p = p.slice(0, paren);
  return p;
}

function emptyCounts(): Counts {
  return { lines: 0, specific: 0, catchAll: 0, base: 0, lostUser: 0 };
}

function add(c: Counts, kind: 'specific' | 'catchAll' | 'base', lost: boolean): void {
  c.lines++;
  c[kind]++;
  if (lost) c.lostUser++;
}

export function coverFile(path: string, receivedAtMs = Date.UTC(2024, 0, 1)): FileReport {
  const ctx: ParseContext = { receivedAtMs, timeZone: 'UTC', format: 'auto' };
  const report: FileReport = { file: basename(path), programs: {}, total: emptyCounts(), lost: [], baseTargets: [] };
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  lines.forEach((line, idx) => {
    if (line.trim() === '') return;
    const raw = `<86>${line}`;
    const parsed = parseFrame(Buffer.from(raw, 'utf8'), ctx);
    const ev = normalize(parsed, { peer: PEER, receivedAtMs, rawText: raw });
    const program = programOf(ev, parsed.syslog.app_name);
    const rule = String((ev.metadata.mapping as { rule?: unknown }).rule);
    const kind = ev.class_uid === 0 ? 'base' : rule.endsWith('.other') ? 'catchAll' : 'specific';
    const mapped = new Set<string>();
    mappedStrings(ev, mapped);
    const missing = namesIn(line).filter((n) => !mapped.has(n));
    const lost = missing.length > 0;
    const groups = [program];
    if (SHADOW.has(program)) groups.push('shadow-utils');
    if (/pam_unix/.test(line)) groups.push('pam_unix');
    for (const g of groups) add((report.programs[g] ??= emptyCounts()), kind, lost);
    add(report.total, kind, lost);
    if (lost) report.lost.push({ line: idx + 1, text: line, missing });
    if (kind === 'base' && groups.some((g) => TARGETS.has(g))) report.baseTargets.push({ line: idx + 1, text: line });
  });
  return report;
}

function listLogs(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (statSync(abs).isDirectory()) {
      for (const f of readdirSync(abs).sort()) if (f.endsWith('.log')) out.push(join(abs, f));
    } else out.push(abs);
  }
  return out;
}

function pct(n: number, d: number): string {
  return d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`;
}

function printReport(r: FileReport, show: number): void {
  console.log(`\n== ${r.file}: ${r.total.lines} lines, ${r.total.specific} specific, ${r.total.catchAll} family catch-all, ${r.total.base} Base Event (${pct(r.total.specific + r.total.catchAll, r.total.lines)} mapped), ${r.total.lostUser} lost a user name`);
  console.log(`${'program'.padEnd(18)} ${'lines'.padStart(6)} ${'specific'.padStart(9)} ${'catch-all'.padStart(9)} ${'base'.padStart(6)} ${'lost-user'.padStart(9)}`);
  const rows = Object.entries(r.programs).sort((a, b) => b[1].lines - a[1].lines);
  for (const [p, c] of rows) {
    const mark = TARGETS.has(p) ? '*' : ' ';
    console.log(`${(mark + p).padEnd(18)} ${String(c.lines).padStart(6)} ${String(c.specific).padStart(9)} ${String(c.catchAll).padStart(9)} ${String(c.base).padStart(6)} ${String(c.lostUser).padStart(9)}`);
  }
  for (const b of r.baseTargets.slice(0, show)) console.log(`  base (target program) line ${b.line}: ${b.text.slice(0, 160)}`);
  for (const l of r.lost.slice(0, show)) console.log(`  lost user [${l.missing.join(', ')}] line ${l.line}: ${l.text.slice(0, 160)}`);
}

function main(argv: string[]): number {
  let json = false;
  let strict = false;
  let show = 10;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--strict') strict = true;
    else if (a === '--show') show = Number(argv[++i] ?? '10');
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/scripts/ocsf-coverage.js [--json] [--strict] [--show N] [file-or-dir ...]  (default ../shared/corpus/real)');
      return 0;
    } else paths.push(a);
  }
  if (paths.length === 0) paths.push('../shared/corpus/real');
  const reports = listLogs(paths).map((f) => coverFile(f));
  if (json) console.log(JSON.stringify(reports, null, 2));
  else {
    console.log('* = target program: every line should map to a specific class and keep its user names');
    for (const r of reports) printReport(r, show);
  }
  const failing = reports.some((r) => r.baseTargets.length > 0 || Object.entries(r.programs).some(([p, c]) => TARGETS.has(p) && c.lostUser > 0));
  return strict && failing ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  process.exitCode = main(process.argv.slice(2));
}
