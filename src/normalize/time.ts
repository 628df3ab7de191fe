/**
 * RFC 3339 (section 5.6) timestamps to epoch milliseconds, without losing the text: the caller keeps
 * the exact string (`time_dt`, `metadata.original_time`) and only `time` is rounded down to the ms.
 *
 * Stricter than Date.parse on purpose: a value that PostgreSQL's timestamptz would refuse
 * (2023-02-30, month 13, year 0, no zone offset) is not a valid time here either, so a lifted
 * `event_time` can never make a batch insert fail. The grammar is RFC3339_TEXT (src/parsing/timestamp.ts).
 */
import { newRfc3339TextFields, readRfc3339Text, RFC3339_TEXT } from '../parsing/timestamp.js';

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// One-entry cache: consecutive events very often carry the same timestamp text (bench/normalize.ts).
let lastText = '';
let lastMs: number | null = null;

/** Epoch ms of an RFC 3339 timestamp (fraction truncated to ms), or null when it is not valid. */
export function rfc3339ToMs(text: string): number | null {
  if (text === lastText) return lastMs;
  const ms = parse(text);
  lastText = text;
  lastMs = ms;
  return ms;
}

const DAY_CACHE = new Map<number, number>();

const FIELDS = newRfc3339TextFields();

/**
 * Fast path for the fixed layout (readRfc3339Text) without a RegExp or Date allocation
 * (bench/normalize.ts: a third of the time of the regex path); anything else, or any doubt, goes to
 * the regex parser below, which is the reference.
 */
function parse(text: string): number | null {
  const f = FIELDS;
  if (!readRfc3339Text(text, f)) return parseRegex(text);
  const { year, month, day, hour, minute, second } = f;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return parseRegex(text);
  let millis = 0;
  for (let k = f.fracStart; k < f.fracStart + 3; k++) millis = millis * 10 + (k < f.fracEnd ? text.charCodeAt(k) - 48 : 0);
  if (f.offsetHours > 23 || f.offsetMins > 59) return null;
  if (year < 100 || day > DAYS[month - 1]!) return parseRegex(text);
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return null;
  const dayKey = (year * 100 + month) * 100 + day;
  let dayMs = DAY_CACHE.get(dayKey);
  if (dayMs === undefined) {
    dayMs = Date.UTC(year, month - 1, day);
    if (DAY_CACHE.size > 4096) DAY_CACHE.clear();
    DAY_CACHE.set(dayKey, dayMs);
  }
  return dayMs + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis - f.offsetMinutes * 60_000;
}

function parseRegex(text: string): number | null {
  const m = RFC3339_TEXT.exec(text);
  if (!m) return null;
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  const hour = +m[4]!;
  const minute = +m[5]!;
  const second = +m[6]!;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DAYS[month - 1]!) return null;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  const frac = m[7];
  const millis = frac === undefined ? 0 : +(frac.length >= 3 ? frac.slice(0, 3) : frac.padEnd(3, '0'));
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (year < 100) {
    // Date.UTC maps years 0-99 to 1900-1999.
    const d = new Date(ms);
    d.setUTCFullYear(year);
    ms = d.getTime();
  }
  const zone = m[8]!;
  if (zone !== 'Z' && zone !== 'z') {
    const oh = +zone.slice(1, 3);
    const om = +zone.slice(4, 6);
    if (oh > 23 || om > 59) return null;
    const offset = (oh * 60 + om) * 60_000;
    ms += zone[0] === '+' ? -offset : offset;
  }
  return Number.isFinite(ms) ? ms : null;
}
