/**
 * RFC 5424 §6.2.1 facility and severity numbers, and the names rsyslog and syslog-ng print
 * for them (`syslogfacility-text`, `syslogseverity-text`), plus common aliases.
 */

const SEVERITIES: Readonly<Record<string, number>> = {
  emerg: 0,
  emergency: 0,
  panic: 0,
  alert: 1,
  crit: 2,
  critical: 2,
  err: 3,
  error: 3,
  warning: 4,
  warn: 4,
  notice: 5,
  info: 6,
  informational: 6,
  debug: 7,
};

const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  kernel: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  security: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  console: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

function lookup(table: Readonly<Record<string, number>>, value: unknown, max: number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= max ? value : null;
  if (typeof value !== 'string') return null;
  const s = value.trim().toLowerCase();
  if (/^\d{1,2}$/.test(s)) {
    const n = Number(s);
    return n <= max ? n : null;
  }
  return Object.hasOwn(table, s) ? table[s]! : null;
}

/** Severity 0-7 from a number, a numeric string or a name (`info`, `err`, ...); null when unknown. */
export function severityFrom(value: unknown): number | null {
  return lookup(SEVERITIES, value, 7);
}

/** Facility 0-23 from a number, a numeric string or a name (`local0`, `authpriv`, ...); null when unknown. */
export function facilityFrom(value: unknown): number | null {
  return lookup(FACILITIES, value, 23);
}
