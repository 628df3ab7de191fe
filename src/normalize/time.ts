/**
 * RFC 3339 (section 5.6) timestamps to epoch milliseconds, without losing the text: the caller keeps
 * the exact string (`time_dt`, `metadata.original_time`) and only `time` is rounded down to the ms.
 *
 * Stricter than Date.parse on purpose: a value that PostgreSQL's timestamptz would refuse
 * (2023-02-30, month 13, year 0, no zone offset) is not a valid time here either, so a lifted
 * `event_time` can never make a batch insert fail. The grammar is RFC3339_TEXT (src/parsing/timestamp.ts).
 */
import { daysFromCivil, daysInMonth, newRfc3339TextFields, readRfc3339Text } from '../parsing/timestamp.js';

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

const FIELDS = newRfc3339TextFields();

/** The layout read once (readRfc3339Text), then the ranges PostgreSQL's timestamptz would check. */
function parse(text: string): number | null {
  const f = FIELDS;
  if (!readRfc3339Text(text, f)) return null;
  const { year, month, day, hour, minute, second } = f;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 60 || f.offsetHours > 23 || f.offsetMins > 59) return null;
  let millis = 0;
  for (let k = f.fracStart; k < f.fracStart + 3; k++) millis = millis * 10 + (k < f.fracEnd ? text.charCodeAt(k) - 48 : 0);
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis - f.offsetMinutes * 60_000;
}
