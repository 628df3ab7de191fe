import { daysFromCivil, newRfc3339TextFields, readRfc3339Text, RFC3339_TEXT } from '../parsing/timestamp.js';

/**
 * RFC 3339 text → the same instant as UTC text with exactly six fractional digits, without a JS Date
 * round trip for the fraction (microseconds survive). Returns null for text that is not RFC 3339.
 */
export function rfc3339ToUtcMicros(text: string): string | null {
  const m = RFC3339_TEXT.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number(y) < 100) {
    const dt = new Date(ms);
    dt.setUTCFullYear(Number(y));
    ms = dt.getTime();
  }
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  if (Number.isNaN(ms)) return null;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${frac.padEnd(6, '0').slice(0, 6)}Z`;
}

/**
 * Microseconds since 1970 of the RFC 3339 text `YYYY-MM-DD[Tt ]HH:MM:SS[.f{1,9}](Z|z|±HH:MM)`, read
 * as rfc3339ToUtcMicros() reads it (fraction truncated to 6 digits); undefined for anything else,
 * which then goes the string way. Equal instants <=> equal rfc3339ToUtcMicros/isoMicros texts, for
 * the in-range fields accepted here; without the regex and two Date round trips, because the writer's
 * ledgerColumns() and verify's lifted-column check run it on every row (bench/verify.ts).
 */
export function rfc3339Micros(t: string): number | undefined {
  const f = FIELDS;
  if (!readRfc3339Text(t, f)) return undefined;
  const { year, month, day, hour, minute, second } = f;
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let micros = 0;
  for (let k = f.fracStart; k < f.fracStart + 6; k++) micros = micros * 10 + (k < f.fracEnd ? t.charCodeAt(k) - 48 : 0);
  const days = daysFromCivil(year, month, day); // proleptic Gregorian, as Date.UTC
  const ms = (days * 86400 + hour * 3600 + minute * 60 + second - f.offsetMinutes * 60) * 1000;
  const us = ms * 1000 + micros;
  return Number.isSafeInteger(us) ? us : undefined;
}

const FIELDS = newRfc3339TextFields();

/** Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch (binary COPY counts from it). */
export const PG_EPOCH_US = 946_684_800_000_000;
