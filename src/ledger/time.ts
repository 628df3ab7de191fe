/**
 * RFC 3339 text to the instants the ledger stores, read by readRfc3339Text (src/parsing/timestamp.ts):
 * the same texts accepted, with the same ranges, as the normalizer's rfc3339ToMs, whose acceptance
 * decides whether `event_time` is lifted at all; these decide what is stored and hashed for it.
 */
import { newRfc3339TextFields, readRfc3339Text, rfc3339Fraction } from '../parsing/timestamp.js';

/**
 * RFC 3339 text → the same instant as UTC text with exactly six fractional digits (further digits
 * dropped), without a JS Date round trip for the fraction (microseconds survive). Null for text that
 * is not a valid RFC 3339 date-time, and for an instant outside the years 0000-9999 in UTC (9999-12-31
 * at a negative offset), which has no such text.
 */
export function rfc3339ToUtcMicros(text: string): string | null {
  const f = FIELDS;
  if (!readRfc3339Text(text, f)) return null;
  const iso = new Date(f.epochSeconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z; ±YYYYYY-... beyond
  if (iso.length !== 24) return null;
  return `${iso.slice(0, 19)}.${text.slice(f.fracStart, Math.min(f.fracEnd, f.fracStart + 6)).padEnd(6, '0')}Z`;
}

/**
 * Microseconds since 1970 of a valid RFC 3339 text (fraction truncated to 6 digits), the instant of
 * rfc3339ToUtcMicros(); undefined for any other text, and when a double does not hold the
 * microseconds exactly (outside about the years 1684-2255). Without the string and the Date, because
 * the writer's ledgerColumns() and verify's lifted-column check run it on every row (bench/verify.ts).
 */
export function rfc3339Micros(t: string): number | undefined {
  const f = FIELDS;
  if (!readRfc3339Text(t, f)) return undefined;
  const us = f.epochSeconds * 1_000_000 + rfc3339Fraction(t, f, 6);
  return Number.isSafeInteger(us) ? us : undefined;
}

const FIELDS = newRfc3339TextFields();

/** Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch (binary COPY counts from it). */
export const PG_EPOCH_US = 946_684_800_000_000;
