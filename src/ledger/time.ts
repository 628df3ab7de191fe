import { daysFromCivil, RFC3339_TEXT } from '../parsing/timestamp.js';

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
  const n = t.length;
  if (n < 20) return undefined;
  const dg = (k: number): number => digit(t, k);
  const sep = t.charCodeAt(10);
  if (t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58 || (sep !== 84 && sep !== 116 && sep !== 32)) return undefined;
  const year = dg(0) * 1000 + dg(1) * 100 + dg(2) * 10 + dg(3);
  const month = dg(5) * 10 + dg(6);
  const day = dg(8) * 10 + dg(9);
  const hour = dg(11) * 10 + dg(12);
  const minute = dg(14) * 10 + dg(15);
  const second = dg(17) * 10 + dg(18);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return undefined;
  let i = 19;
  let micros = 0;
  if (t.charCodeAt(i) === 46) {
    i++;
    const from = i;
    while (i < n && dg(i) >= 0) i++;
    if (i === from || i - from > 9) return undefined;
    for (let k = 0; k < 6; k++) micros = micros * 10 + (from + k < i ? dg(from + k) : 0);
  }
  let offsetMin = 0;
  const z = t.charCodeAt(i);
  if (z === 90 || z === 122) {
    if (i + 1 !== n) return undefined;
  } else if ((z === 43 || z === 45) && i + 6 === n && t.charCodeAt(i + 3) === 58) {
    const oh = dg(i + 1) * 10 + dg(i + 2);
    const om = dg(i + 4) * 10 + dg(i + 5);
    if (oh < 0 || om < 0) return undefined;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else return undefined;
  const days = daysFromCivil(year, month, day); // proleptic Gregorian, as Date.UTC
  const ms = (days * 86400 + hour * 3600 + minute * 60 + second - offsetMin * 60) * 1000;
  const us = ms * 1000 + micros;
  return Number.isSafeInteger(us) ? us : undefined;
}

/** The decimal digit at t[k], or -100 (making any sum it enters negative). */
function digit(t: string, k: number): number {
  const c = t.charCodeAt(k) - 48;
  return c >= 0 && c <= 9 ? c : -100;
}
