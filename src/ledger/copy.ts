/**
 * Encodes chained records as PostgreSQL COPY text format rows (one line per row,
 * tab-separated, `\N` for NULL), in the column order of COPY_COLUMNS.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
 */
import { civilFromDays } from '../parsing/timestamp.js';
import type { ChainedRecord } from './types.js';

export const COPY_COLUMNS = [
  'chain', 'seq', 'received_at', 'peer_cn', 'peer_sans', 'peer_addr', 'format', 'raw', 'truncated',
  'parse_error', 'syslog', 'event', 'event_time', 'hostname', 'app_name', 'class_uid', 'activity_id',
  'status_id', 'severity_id', 'user_name', 'actor_user', 'src_ip', 'prev_hash', 'hash',
] as const;

export const COPY_SQL = `COPY ledger (${COPY_COLUMNS.join(', ')}) FROM STDIN`;

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPES = /[\\\n\r\t]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Escapes a value for a COPY text field (the common case, nothing to escape, costs one regex test). */
export function copyText(s: string | null): string {
  if (s === null) return '\\N';
  return NEEDS_ESCAPE.test(s) ? s.replace(ESCAPES, (c) => ESCAPED[c]!) : s;
}

/**
 * A canonical JSON text for a COPY field: JSON escapes every control character, so it holds no raw
 * LF, CR or TAB and only its backslashes need doubling (a search, not copyText's regex, over ~1.5 KB).
 */
export function copyJson(s: string): string {
  return s.includes('\\') ? s.replaceAll('\\', '\\\\') : s;
}

/** bytea in hex form; the backslash is doubled for COPY. */
export function copyBytea(b: Buffer): string {
  return `\\\\x${b.toString('hex')}`;
}

/** A text[] array literal, each element quoted, then escaped for COPY. */
export function copyTextArray(values: readonly string[]): string {
  if (values.length === 0) return '{}';
  const inner = values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',');
  return copyText(`{${inner}}`);
}

const US_PER_DAY = 86_400_000_000;
const P2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

/**
 * Microseconds since the epoch as an RFC 3339 UTC timestamp with 6 fractional digits. Every row's
 * received_at and event_time go through it: the calendar is computed (civilFromDays) instead
 * of through a Date and toISOString, 3-5 times faster. A safe integer
 * of microseconds is within the years 1684-2255, so the year always has four digits.
 */
export function isoMicros(us: number): string {
  // A row asks for the same time more than once (time_dt, original_time, the COPY of v2 rows).
  if (us === lastUs) return lastIso;
  lastUs = us;
  lastIso = isoMicrosOf(us);
  return lastIso;
}

let lastUs = Number.NaN;
let lastIso = '';

function isoMicrosOf(us: number): string {
  const days = Math.floor(us / US_PER_DAY);
  const inDay = us - days * US_PER_DAY;
  const secs = Math.floor(inDay / 1_000_000);
  const micro = inDay - secs * 1_000_000;
  const { year, month, day } = civilFromDays(days);
  const h = Math.floor(secs / 3600);
  const mi = Math.floor(secs / 60) % 60;
  return (
    `${P2[Math.floor(year / 100)]}${P2[year % 100]}-${P2[month]}-${P2[day]}T${P2[h]}:${P2[mi]}:${P2[secs % 60]}.` +
    `${P2[Math.floor(micro / 10_000)]}${P2[Math.floor(micro / 100) % 100]}${P2[micro % 100]}Z`
  );
}

/** One COPY line for a record, given its canonical JSON texts (computed once for the hash too). */
export function copyLine(r: ChainedRecord, syslogJson: string, eventJson: string): string {
  const c = r.columns;
  return (
    `${copyText(r.chain)}\t${r.seq}\t${isoMicros(r.receivedAtUs)}\t${copyText(r.peer.cn)}\t${copyTextArray(r.peer.sans)}\t` +
    `${copyText(r.peer.address)}\t${r.format}\t${copyBytea(r.raw)}\t${r.truncated ? 't' : 'f'}\t${copyText(r.parseError)}\t` +
    `${copyJson(syslogJson)}\t${copyJson(eventJson)}\t${copyText(c.event_time)}\t${copyText(c.hostname)}\t${copyText(c.app_name)}\t` +
    `${c.class_uid}\t${c.activity_id}\t${c.status_id}\t${c.severity_id}\t${copyText(c.user_name)}\t${copyText(c.actor_user)}\t` +
    `${copyText(c.src_ip)}\t${copyBytea(r.prevHash)}\t${copyBytea(r.hash)}\n`
  );
}

/** Bytes per chunk of copyChunks(). */
const COPY_CHUNK = 128 * 1024;

/**
 * COPY lines as the bytes sent: UTF-8, in chunks of ~128 KiB, each line encoded straight into its
 * chunk, because joining the lines into one string first makes V8 flatten that rope before
 * encoding it, a copy of every row (bench/stages.ts, "COPY bytes").
 */
export function copyChunks(lines: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  let buf = Buffer.allocUnsafe(COPY_CHUNK);
  let o = 0;
  for (const line of lines) {
    const max = line.length * 3; // UTF-8 bytes per UTF-16 code unit: at most 3
    if (o + max > buf.length) {
      if (o > 0) out.push(buf.subarray(0, o));
      buf = Buffer.allocUnsafe(Math.max(COPY_CHUNK, max));
      o = 0;
    }
    o += buf.write(line, o, 'utf8');
  }
  if (o > 0) out.push(buf.subarray(0, o));
  return out;
}
