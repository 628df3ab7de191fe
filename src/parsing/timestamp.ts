/**
 * Timestamps without JS `Date` on the hot path.
 *
 * - `scanRfc3339`: RFC 3339 §5.6 as profiled by RFC 5424 §6.2.3 (strict: uppercase `T`/`Z`,
 *   1-6 fractional digits, mandatory offset, seconds 00-59, days checked against the month
 *   and leap years), plus a lenient mode for RFC 3164 and JSON senders.
 * - `Zone`: UTC offsets of an IANA zone from `Intl`, cached per minute of UTC time.
 * - `Zone#resolveBsd`: RFC 3164 §4.1.2 timestamps carry no year and no zone; the year is the
 *   one that puts the timestamp nearest the receive time, never more than a day in the
 *   future. Results are memoised per (wall-clock minute, receive minute), so a stream of
 *   frames pays for the computation once a minute (bench/parsers.ts, "rfc3164 sshd").
 */

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The civil date of a day number (inverse of `daysFromCivil`). */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month]!;
}

export function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

export function pad4(n: number): string {
  if (n >= 1000) return `${n}`;
  if (n >= 100) return `0${n}`;
  if (n >= 10) return `00${n}`;
  return `000${n}`;
}

/** `+hh:mm` / `-hh:mm` for an offset in minutes east of UTC. */
export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const m = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(m / 60))}:${pad2(m % 60)}`;
}

/** RFC 3339 text of an instant in ms since the epoch, in UTC (`Z`), with millisecond precision when not whole. */
export function formatEpochMs(ms: number): string | null {
  if (!Number.isFinite(ms)) return null;
  const whole = Math.floor(ms);
  const days = Math.floor(whole / MS_PER_DAY);
  const { year, month, day } = civilFromDays(days);
  if (year < 0 || year > 9999) return null;
  let rest = whole - days * MS_PER_DAY;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const mi = Math.floor(rest / MS_PER_MINUTE);
  rest -= mi * MS_PER_MINUTE;
  const s = Math.floor(rest / 1000);
  const msPart = rest - s * 1000;
  const frac = msPart === 0 ? '' : `.${String(msPart).padStart(3, '0')}`;
  return `${pad4(year)}-${pad2(month)}-${pad2(day)}T${pad2(h)}:${pad2(mi)}:${pad2(s)}${frac}Z`;
}


/** The fields of a date-time as both readers (`readRfc3339Text`, `scanRfc3339`) fill them. */
export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Where the fractional digits are: [fracStart, fracEnd) of the text or buffer (empty when none). */
  fracStart: number;
  fracEnd: number;
  /** Minutes east of UTC. */
  offsetMinutes: number;
}

/** A valid date-time read by `readRfc3339Text`. */
export interface Rfc3339TextFields extends DateTimeFields {
  /**
   * Seconds since 1970-01-01T00:00:00Z of the instant, fraction excluded (proleptic Gregorian;
   * a leap second 60 counts as second 0 of the next minute, as in PostgreSQL and Date.UTC).
   */
  epochSeconds: number;
}

export function newRfc3339TextFields(): Rfc3339TextFields {
  return { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, fracStart: 0, fracEnd: 0, offsetMinutes: 0, epochSeconds: 0 };
}

/** The decimal digit at t[k], or -100 (making any sum it enters negative). */
function textDigit(t: string, k: number): number {
  const c = t.charCodeAt(k) - 48;
  return c >= 0 && c <= 9 ? c : -100;
}

function textDigits2(t: string, k: number): number {
  return textDigit(t, k) * 10 + textDigit(t, k + 1);
}

/**
 * The one reading of an RFC 3339 date-time held as text, for all who turn such text into an instant
 * (src/normalize/time.ts `rfc3339ToMs`, src/ledger/time.ts `rfc3339Micros` and `rfc3339ToUtcMicros`),
 * so that they accept the same texts and give the same instant. True with `out` filled when `text`
 * is an RFC 3339 §5.6 date-time `YYYY-MM-DD[Tt ]HH:MM:SS[.f{1,9}](Z|z|±HH:MM)` (with §5.6's NOTE:
 * `t`, `z`, a space for `T`; the zone required) and in range; `out` is
 * not to be read after false. No RegExp, no allocation: the normalizer runs it per event, the
 * writer (ledgerColumns) and verify per row.
 *
 * The ranges, and why they are these:
 * - RFC 3339 §5.6-5.7: month 01-12, day 01 to the month's length (leap years by the Gregorian rule;
 *   2023-02-30 is refused, not rolled over into March as Date.UTC would), hour 00-23, minute 00-59,
 *   second 00-60 (§5.7 allows a leap second; it counts as second 0 of the next minute), offset
 *   hour 00-23 and minute 00-59.
 * - Year 0001-9999: the four digits, without year 0000, which PostgreSQL's timestamptz refuses.
 * - They are the rules the normalizer has lifted `event_time` with since its first version, and
 *   verify re-derives that column from stored events with them (normalize/columns.ts): they must not
 *   move, or stored rows would read as altered. PostgreSQL itself is narrower in two places (offsets
 *   beyond ±15:59, and second 60 with a fraction) but never reads this text: the writer stores the
 *   instant as UTC (ledger/canonical.ts ledgerColumns).
 */
export function readRfc3339Text(text: string, out: Rfc3339TextFields): boolean {
  const n = text.length;
  if (n < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return false;
  const sep = text.charCodeAt(10);
  if (sep !== 84 && sep !== 116 && sep !== 32) return false;
  const y1 = textDigits2(text, 0);
  const y2 = textDigits2(text, 2);
  const month = textDigits2(text, 5);
  const day = textDigits2(text, 8);
  const hour = textDigits2(text, 11);
  const minute = textDigits2(text, 14);
  const second = textDigits2(text, 17);
  // textDigits2 is negative for a non-digit, so these checks refuse those too.
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return false;
  const year = y1 * 100 + y2;
  if (year < 1 || day > daysInMonth(year, month)) return false;
  let i = 19;
  let fracStart = i;
  if (text.charCodeAt(i) === 46 /* . */) {
    i++;
    fracStart = i;
    while (i < n && textDigit(text, i) >= 0) i++;
    if (i === fracStart || i - fracStart > 9) return false;
  }
  const fracEnd = i;
  const z = text.charCodeAt(i);
  let offsetMinutes = 0;
  if (z === 90 || z === 122) {
    if (i + 1 !== n) return false;
  } else if ((z === 43 || z === 45) && i + 6 === n && text.charCodeAt(i + 3) === 58) {
    const oh = textDigits2(text, i + 1);
    const om = textDigits2(text, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else return false;
  out.year = year;
  out.month = month;
  out.day = day;
  out.hour = hour;
  out.minute = minute;
  out.second = second;
  out.fracStart = fracStart;
  out.fracEnd = fracEnd;
  out.offsetMinutes = offsetMinutes;
  out.epochSeconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  return true;
}

/** The first `digits` fractional digits of a date-time read by readRfc3339Text, as an integer (truncated, or padded with zeros). */
export function rfc3339Fraction(text: string, f: Rfc3339TextFields, digits: number): number {
  let v = 0;
  for (let k = f.fracStart; k < f.fracStart + digits; k++) v = v * 10 + (k < f.fracEnd ? text.charCodeAt(k) - 48 : 0);
  return v;
}

/**
 * Result of `scanRfc3339`, reused between calls (parsing is synchronous). Its ranges are RFC 5424's
 * (§6.2.3: no leap second), checked field by field so that the error names the byte; year 0000 is
 * kept as sent (docs/parsing.md), and readRfc3339Text decides later whether the text is an instant.
 */
export interface TimestampScan extends DateTimeFields {
  /** Whether a zone designator was present; when false the zone comes from configuration. */
  hasOffset: boolean;
  /** On failure: what was wrong, and the byte where it was noticed. */
  error: string;
  errorPos: number;
}

export function newTimestampScan(): TimestampScan {
  return {
    year: 0,
    month: 0,
    day: 0,
    hour: 0,
    minute: 0,
    second: 0,
    fracStart: 0,
    fracEnd: 0,
    hasOffset: false,
    offsetMinutes: 0,
    error: '',
    errorPos: 0,
  };
}

function digit(buf: Buffer, i: number, end: number): number {
  if (i >= end) return -1;
  const c = buf[i]! - 0x30;
  return c >= 0 && c <= 9 ? c : -1;
}

function fail(out: TimestampScan, pos: number, error: string): number {
  out.error = error;
  out.errorPos = pos;
  return -1;
}

function twoDigits(buf: Buffer, i: number, end: number): number {
  const a = digit(buf, i, end);
  const b = digit(buf, i + 1, end);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

function describeByte(buf: Buffer, i: number, end: number): string {
  if (i >= end) return 'end of frame';
  const c = buf[i]!;
  if (c >= 0x21 && c <= 0x7e) return `'${String.fromCharCode(c)}'`;
  if (c === 0x20) return 'SP';
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Scans an RFC 3339 date-time starting at `pos`. Returns the index after it, or -1 with
 * `out.error`/`out.errorPos` set. Strict mode is RFC 5424's profile; lenient mode also takes
 * `t`/space as separator, `z`, any number of fractional digits, `±hhmm` offsets and no offset.
 */
export function scanRfc3339(buf: Buffer, pos: number, end: number, strict: boolean, out: TimestampScan): number {
  let i = pos;
  let year = 0;
  for (let k = 0; k < 4; k++) {
    const d = digit(buf, i, end);
    if (d < 0) return fail(out, i, `expected a 4-digit year, found ${describeByte(buf, i, end)}`);
    year = year * 10 + d;
    i++;
  }
  if (buf[i] !== 0x2d || i >= end) return fail(out, i, `expected '-' after the year, found ${describeByte(buf, i, end)}`);
  i++;
  const month = twoDigits(buf, i, end);
  if (month < 0) return fail(out, i, `expected a 2-digit month`);
  if (month < 1 || month > 12) return fail(out, i, `month ${pad2(month)} out of range 01-12`);
  i += 2;
  if (buf[i] !== 0x2d || i >= end) return fail(out, i, `expected '-' after the month, found ${describeByte(buf, i, end)}`);
  i++;
  const day = twoDigits(buf, i, end);
  if (day < 0) return fail(out, i, `expected a 2-digit day`);
  if (day < 1 || day > daysInMonth(year, month)) {
    return fail(out, i, `day ${pad2(day)} out of range for ${pad4(year)}-${pad2(month)}`);
  }
  i += 2;
  const sep = i < end ? buf[i]! : -1;
  if (!(sep === 0x54 || (!strict && (sep === 0x74 || sep === 0x20)))) {
    return fail(out, i, `expected 'T' between date and time, found ${describeByte(buf, i, end)}`);
  }
  i++;
  const hour = twoDigits(buf, i, end);
  if (hour < 0) return fail(out, i, `expected a 2-digit hour`);
  if (hour > 23) return fail(out, i, `hour ${pad2(hour)} out of range 00-23`);
  i += 2;
  if (buf[i] !== 0x3a || i >= end) return fail(out, i, `expected ':' after the hour, found ${describeByte(buf, i, end)}`);
  i++;
  const minute = twoDigits(buf, i, end);
  if (minute < 0) return fail(out, i, `expected a 2-digit minute`);
  if (minute > 59) return fail(out, i, `minute ${pad2(minute)} out of range 00-59`);
  i += 2;
  if (buf[i] !== 0x3a || i >= end) return fail(out, i, `expected ':' after the minute, found ${describeByte(buf, i, end)}`);
  i++;
  const second = twoDigits(buf, i, end);
  if (second < 0) return fail(out, i, `expected 2-digit seconds`);
  if (second > 59) return fail(out, i, `second ${pad2(second)} out of range 00-59`);
  i += 2;
  let fracStart = i;
  let fracEnd = i;
  if (i < end && buf[i] === 0x2e) {
    i++;
    fracStart = i;
    while (i < end && digit(buf, i, end) >= 0) i++;
    fracEnd = i;
    if (fracEnd === fracStart) return fail(out, i, `expected a digit after '.' in the fraction of a second`);
    if (strict && fracEnd - fracStart > 6) return fail(out, fracStart + 6, `more than 6 digits in the fraction of a second`);
  }
  let hasOffset = true;
  let offsetMinutes = 0;
  const z = i < end ? buf[i]! : -1;
  if (z === 0x5a || (!strict && z === 0x7a)) {
    i++;
  } else if (z === 0x2b || z === 0x2d) {
    const sign = z === 0x2d ? -1 : 1;
    i++;
    const oh = twoDigits(buf, i, end);
    if (oh < 0) return fail(out, i, `expected a 2-digit offset hour`);
    if (oh > 23) return fail(out, i, `offset hour ${pad2(oh)} out of range 00-23`);
    i += 2;
    let om = 0;
    if (i < end && buf[i] === 0x3a) {
      i++;
      om = twoDigits(buf, i, end);
      if (om < 0) return fail(out, i, `expected a 2-digit offset minute`);
      i += 2;
    } else if (strict) {
      return fail(out, i, `expected ':' in the time offset, found ${describeByte(buf, i, end)}`);
    } else if (twoDigits(buf, i, end) >= 0) {
      om = twoDigits(buf, i, end);
      i += 2;
    }
    if (om > 59) return fail(out, i - 2, `offset minute ${pad2(om)} out of range 00-59`);
    offsetMinutes = sign * (oh * 60 + om);
  } else if (strict) {
    return fail(out, i, `expected 'Z' or a numeric offset, found ${describeByte(buf, i, end)}`);
  } else {
    hasOffset = false;
  }
  out.year = year;
  out.month = month;
  out.day = day;
  out.hour = hour;
  out.minute = minute;
  out.second = second;
  out.fracStart = fracStart;
  out.fracEnd = fracEnd;
  out.hasOffset = hasOffset;
  out.offsetMinutes = offsetMinutes;
  return i;
}

/** A resolved wall-clock minute: the RFC 3339 text around the seconds. */
export interface ResolvedMinute {
  /** `YYYY-MM-DDThh:mm:` */
  readonly prefix: string;
  /** `+hh:mm` */
  readonly suffix: string;
}

const CACHE_LIMIT = 4096;

/** A configured time zone: UTC, a fixed `±hh:mm` offset, or an IANA name resolved with Intl. */
export class Zone {
  readonly name: string;
  readonly #fixed: number | null;
  readonly #fmt: Intl.DateTimeFormat | null;
  readonly #offsets = new Map<number, number>();
  readonly #bsd = new Map<number, ResolvedMinute>();
  #lastBsdKey = -1;
  #lastBsd: ResolvedMinute | null = null;

  private constructor(name: string, fixed: number | null, fmt: Intl.DateTimeFormat | null) {
    this.name = name;
    this.#fixed = fixed;
    this.#fmt = fmt;
  }

  /** The zone for a configuration value; an unknown name falls back to UTC (see `isValidTimeZone`). */
  static of(name: string): Zone {
    let z = zones.get(name);
    if (z === undefined) {
      z = Zone.#create(name);
      if (zones.size > 256) zones.clear();
      zones.set(name, z);
    }
    return z;
  }

  static #create(name: string): Zone {
    const upper = name.toUpperCase();
    if (upper === 'UTC' || upper === 'Z' || upper === 'ETC/UTC' || upper === 'GMT' || name === '') return new Zone(name, 0, null);
    const fixed = /^([+-])(\d\d):?(\d\d)$/.exec(name);
    if (fixed !== null) {
      const h = Number(fixed[2]);
      const m = Number(fixed[3]);
      if (h > 23 || m > 59) return new Zone(name, 0, null);
      return new Zone(name, (fixed[1] === '-' ? -1 : 1) * (h * 60 + m), null);
    }
    try {
      const fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
      return new Zone(name, null, fmt);
    } catch {
      return new Zone(name, 0, null);
    }
  }

  /** Offset in minutes east of UTC at an instant. */
  offsetAt(utcMs: number): number {
    if (this.#fixed !== null) return this.#fixed;
    const key = Math.floor(utcMs / MS_PER_MINUTE);
    let off = this.#offsets.get(key);
    if (off === undefined) {
      off = this.#computeOffset(key * MS_PER_MINUTE);
      if (this.#offsets.size >= CACHE_LIMIT) this.#offsets.clear();
      this.#offsets.set(key, off);
    }
    return off;
  }

  #computeOffset(utcMs: number): number {
    let y = 1970;
    let mo = 1;
    let d = 1;
    let h = 0;
    let mi = 0;
    let s = 0;
    for (const p of this.#fmt!.formatToParts(utcMs)) {
      switch (p.type) {
        case 'year':
          y = Number(p.value);
          break;
        case 'month':
          mo = Number(p.value);
          break;
        case 'day':
          d = Number(p.value);
          break;
        case 'hour':
          h = Number(p.value) % 24;
          break;
        case 'minute':
          mi = Number(p.value);
          break;
        case 'second':
          s = Number(p.value);
          break;
      }
    }
    const local = daysFromCivil(y, mo, d) * MS_PER_DAY + h * 3_600_000 + mi * MS_PER_MINUTE + s * 1000;
    const off = Math.round((local - utcMs) / MS_PER_MINUTE);
    // Intl renders years before 1 CE with an era we do not ask for; no real zone is a day off UTC
    return Number.isFinite(off) && Math.abs(off) < 1440 ? off : 0;
  }

  /**
   * Offset for a wall-clock time (given as ms since the epoch as if it were UTC). For a time
   * that occurs twice (DST ends) the first occurrence wins; for one skipped (DST starts) the
   * offset before the change is used, as most syslog daemons do.
   */
  offsetForLocal(localMs: number): number {
    if (this.#fixed !== null) return this.#fixed;
    // Zones change offset far less often than daily, so the offsets a day either side are
    // the only candidates.
    const before = this.offsetAt(localMs - MS_PER_DAY);
    const after = this.offsetAt(localMs + MS_PER_DAY);
    if (before === after) return before;
    const okBefore = this.offsetAt(localMs - before * MS_PER_MINUTE) === before;
    const okAfter = this.offsetAt(localMs - after * MS_PER_MINUTE) === after;
    if (okBefore && okAfter) return Math.max(before, after); // repeated hour: the earlier instant
    if (okBefore) return before;
    if (okAfter) return after;
    return before; // skipped hour: read the wall clock with the offset in force before the change
  }

  /**
   * The year and offset of an RFC 3164 timestamp without a year: the candidate year nearest to
   * `receivedAtMs`, never more than one day after it. Null when no year within nine has the day
   * (29 February far from a leap year cannot happen; kept for safety).
   */
  resolveBsd(month: number, day: number, hour: number, minute: number, receivedAtMs: number): ResolvedMinute | null {
    const recvMinute = Math.floor(receivedAtMs / MS_PER_MINUTE);
    const key = (((month * 32 + day) * 24 + hour) * 60 + minute) * 1e8 + (recvMinute % 1e8);
    if (key === this.#lastBsdKey && this.#lastBsd !== null) return this.#lastBsd;
    let r = this.#bsd.get(key);
    if (r === undefined) {
      const computed = this.#computeBsd(month, day, hour, minute, recvMinute * MS_PER_MINUTE);
      if (computed === null) return null;
      r = computed;
      if (this.#bsd.size >= CACHE_LIMIT) this.#bsd.clear();
      this.#bsd.set(key, r);
    }
    this.#lastBsdKey = key;
    this.#lastBsd = r;
    return r;
  }

  #computeBsd(month: number, day: number, hour: number, minute: number, recvMs: number): ResolvedMinute | null {
    const recvYear = civilFromDays(Math.floor(recvMs / MS_PER_DAY)).year;
    const limit = recvMs + MS_PER_DAY;
    let best: { year: number; off: number; diff: number } | null = null;
    for (let year = recvYear + 1; year >= recvYear - 8; year--) {
      if (day > daysInMonth(year, month)) continue;
      const local = daysFromCivil(year, month, day) * MS_PER_DAY + hour * 3_600_000 + minute * MS_PER_MINUTE;
      const off = this.offsetForLocal(local);
      const utc = local - off * MS_PER_MINUTE;
      if (utc > limit) continue;
      const diff = Math.abs(utc - recvMs);
      if (best === null || diff < best.diff) best = { year, off, diff };
      else break; // further back only gets farther
    }
    if (best === null) return null;
    return {
      prefix: `${pad4(best.year)}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:`,
      suffix: formatOffset(best.off),
    };
  }

  /** Offset text for a wall-clock time with a known year (ISO timestamps without a zone). */
  suffixForLocal(year: number, month: number, day: number, hour: number, minute: number): string {
    if (this.#fixed !== null) return formatOffset(this.#fixed);
    const local = daysFromCivil(year, month, day) * MS_PER_DAY + hour * 3_600_000 + minute * MS_PER_MINUTE;
    return formatOffset(this.offsetForLocal(local));
  }
}

const zones = new Map<string, Zone>();

/** Whether `name` is a zone the parsers understand (UTC, `±hh:mm`, or an IANA name known to Intl). */
export function isValidTimeZone(name: string): boolean {
  if (/^(UTC|Z|GMT|Etc\/UTC)$/i.test(name)) return true;
  const fixed = /^[+-](\d\d):?(\d\d)$/.exec(name);
  if (fixed !== null) return Number(fixed[1]) <= 23 && Number(fixed[2]) <= 59;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
