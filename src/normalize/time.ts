/**
 * RFC 3339 (section 5.6) timestamps to epoch milliseconds, without losing the text: the caller keeps
 * the exact string (`time_dt`, `metadata.original_time`) and only `time` is rounded down to the ms.
 *
 * Stricter than Date.parse on purpose: a value that PostgreSQL's timestamptz would refuse
 * (2023-02-30, month 13, year 0, no zone offset) is not a valid time here either, and whether this
 * accepts a text decides whether `event_time` is lifted (columns.ts). The reading and its ranges are
 * readRfc3339Text's (src/parsing/timestamp.ts), shared with the ledger's converters (src/ledger/time.ts).
 */
import { newRfc3339TextFields, readRfc3339Text, rfc3339Fraction } from '../parsing/timestamp.js';

// One-entry cache: consecutive events very often carry the same timestamp text (bench/normalize.ts).
let lastText = '';
let lastMs: number | null = null;

/** Epoch ms of an RFC 3339 timestamp (fraction truncated to ms), or null when it is not valid. */
export function rfc3339ToMs(text: string): number | null {
  if (text === lastText) return lastMs;
  const ms = readRfc3339Text(text, FIELDS) ? FIELDS.epochSeconds * 1000 + rfc3339Fraction(text, FIELDS, 3) : null;
  lastText = text;
  lastMs = ms;
  return ms;
}

const FIELDS = newRfc3339TextFields();
