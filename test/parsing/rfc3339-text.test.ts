import { describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/ledger/copy.js';
import { rfc3339Micros, rfc3339ToUtcMicros } from '../../src/ledger/time.js';
import { rfc3339ToMs } from '../../src/normalize/time.js';
import { oldLedgerMicros, oldNormalizeParse, oldRfc3339ToUtcMicros, RFC3339_TEXT } from './fixtures/rfc3339-before.js';

// The two regexes RFC3339_TEXT replaced (normalize/time.ts and ledger/time.ts before issue 25),
// kept here as the oracle: the ledger's reader feeds the canonical form, so its grammar must not move.
const NORMALIZE_BEFORE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const LEDGER_BEFORE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

const DATES = ['2024-02-29', '2023-02-29', '0099-12-31', '2024-13-01', '202-01-01', '2024-1-01'];
const SEPARATORS = ['T', 't', ' ', '_', ''];
const TIMES = ['12:34:56', '23:59:60', '24:00:00', '1:02:03'];
const FRACTIONS = ['', '.1', '.123456', '.123456789', '.1234567890', '.'];
const ZONES = ['Z', 'z', '+05:30', '-00:00', '+0530', '+5:30', '', 'UTC', '+99:99'];

function* candidates(): Generator<string> {
  for (const d of DATES) for (const s of SEPARATORS) for (const t of TIMES) for (const f of FRACTIONS) for (const z of ZONES) yield `${d}${s}${t}${f}${z}`;
}

describe('RFC3339_TEXT: one grammar for timestamps held as text', () => {
  it('accepts exactly what the normalizer and the ledger accepted before, with the same groups the ledger read', () => {
    let accepted = 0;
    for (const text of candidates()) {
      const m = RFC3339_TEXT.exec(text);
      expect(m !== null, text).toBe(NORMALIZE_BEFORE.test(text));
      expect(m !== null, text).toBe(LEDGER_BEFORE.test(text));
      if (m) {
        accepted++;
        expect(m.slice(1), text).toEqual(LEDGER_BEFORE.exec(text)!.slice(1));
      }
    }
    // Both branches ran: the grammar accepted some candidates and refused others.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan([...candidates()].length / 2);
  });

  it('lower-case t and z and a space are RFC 3339 §5.6 text; RFC 5424 framing stays strict elsewhere', () => {
    expect(rfc3339ToUtcMicros('2024-02-29t12:34:56.5z')).toBe('2024-02-29T12:34:56.500000Z');
    expect(rfc3339ToUtcMicros('2024-02-29 12:34:56+01:00')).toBe('2024-02-29T11:34:56.000000Z');
    expect(rfc3339ToMs('2024-02-29t12:34:56.5z')).toBe(Date.UTC(2024, 1, 29, 12, 34, 56, 500));
    expect(rfc3339ToMs('2024-02-29T12:34:56-01:30')).toBe(Date.UTC(2024, 1, 29, 14, 4, 56));
    expect(rfc3339ToMs('2024-02-29T12:34:56')).toBeNull();
    // A year below 100, which Date.UTC would read as 19xx.
    const year100 = new Date(Date.UTC(2000, 0, 1, 0, 30));
    year100.setUTCFullYear(100);
    expect(rfc3339ToMs('0099-12-31t23:00:00-01:30')).toBe(year100.getTime());
  });
});

// A random walk over near-misses of the layout: every position mutated, fractions 0-11 digits,
// every zone form, years below 100 and 1000, ranges just past each limit.
function* nearMisses(): Generator<string> {
  let seed = 25;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const two = (): string => pick(['00', '01', '09', '12', '13', '23', '24', '28', '29', '30', '31', '32', '59', '60', '61', '99', '1x', ' 1']);
  for (let k = 0; k < 40000; k++) {
    const year = pick(['0000', '0001', '0099', '0100', '0999', '1000', '1970', '2000', '2023', '2024', '2100', '9999', '20x4']);
    const frac = pick(['', '.', '.5', '.12', '.123', '.1234567', '.123456789', '.1234567890', '.12a']);
    const zone = pick(['Z', 'z', '+00:00', '-00:00', '+05:30', '-23:59', '+24:00', '+12:60', '+99:99', '+0530', '+5:30', 'Zx', '', '+ab:cd']);
    let text = `${year}-${two()}-${two()}${pick(['T', 't', ' ', 'x'])}${two()}:${two()}:${two()}${frac}${zone}`;
    if (rnd(8) === 0) {
      const at = rnd(text.length);
      text = text.slice(0, at) + pick(['-', ':', '.', '5', 'T', '']) + text.slice(at + 1);
    }
    yield text;
  }
}

describe('readRfc3339Text: the converters against the readers they replaced', () => {
  it('rfc3339ToMs gives what it gave before, text for text; the ledger converters do on every text it accepts, and refuse the rest', () => {
    let accepted = 0;
    let refused = 0;
    for (const text of nearMisses()) {
      const ms = rfc3339ToMs(text);
      expect(ms, text).toBe(oldNormalizeParse(text));
      const us = rfc3339Micros(text);
      const utc = rfc3339ToUtcMicros(text);
      if (ms === null) {
        // Refused now, where the old ledger readers took 2023-02-30 (day <= 31), +99:99 or month 13
        // (Date.UTC rolls over). Only `coverage --from/--to` gave them such text: an event's time
        // reaches them only when rfc3339ToMs accepted it (liftColumns), ever since the first version.
        expect(us, text).toBeUndefined();
        expect(utc, text).toBeNull();
        refused++;
        continue;
      }
      accepted++;
      // The old ledger reader's '20x4' read as 1004: outside what a double holds in µs, so undefined either way.
      expect(us, text).toBe(/^\d{4}-/.test(text) ? oldLedgerMicros(text) : undefined);
      // What verify compares a version 1 row's stored time with, whatever its year: unchanged, but for
      // two fixes. A leap second ending a year below 100 was put back in that year (setUTCFullYear after
      // Date.UTC's roll-over); an instant past 9999 in UTC was '+010000-…' cut short, now null.
      const before = oldRfc3339ToUtcMicros(text);
      if (/^00\d\d-12-31.23:59:60/.test(text) || before?.startsWith('+')) continue;
      expect(utc, text).toBe(before);
    }
    expect(accepted).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});

/** Valid texts and the instant each is, as UTC text with 6 digits (further digits dropped). */
const VALID: ReadonlyArray<readonly [string, string]> = [
  ['2024-05-01T12:34:56Z', '2024-05-01T12:34:56.000000Z'],
  ['2024-05-01T12:34:56.1Z', '2024-05-01T12:34:56.100000Z'],
  ['2024-05-01T12:34:56.12Z', '2024-05-01T12:34:56.120000Z'],
  ['2024-05-01T12:34:56.123Z', '2024-05-01T12:34:56.123000Z'],
  ['2024-05-01T12:34:56.1234Z', '2024-05-01T12:34:56.123400Z'],
  ['2024-05-01T12:34:56.12345Z', '2024-05-01T12:34:56.123450Z'],
  ['2024-05-01T12:34:56.123456Z', '2024-05-01T12:34:56.123456Z'],
  ['2024-05-01T12:34:56.1234567Z', '2024-05-01T12:34:56.123456Z'],
  ['2024-05-01T12:34:56.12345678Z', '2024-05-01T12:34:56.123456Z'],
  ['2024-05-01T12:34:56.999999999Z', '2024-05-01T12:34:56.999999Z'],
  ['2024-05-01t12:34:56.5z', '2024-05-01T12:34:56.500000Z'],
  ['2024-05-01 12:34:56+01:00', '2024-05-01T11:34:56.000000Z'],
  ['2024-05-01T12:34:56.000001+05:30', '2024-05-01T07:04:56.000001Z'],
  ['2024-05-01T12:34:56-00:00', '2024-05-01T12:34:56.000000Z'],
  ['2024-01-01T00:00:00+23:59', '2023-12-31T00:01:00.000000Z'],
  ['2024-01-01T00:00:00-23:59', '2024-01-01T23:59:00.000000Z'],
  ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000000Z'],
  ['2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000000Z'],
  ['2024-03-01T00:30:00+01:00', '2024-02-29T23:30:00.000000Z'],
  ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000000Z'],
  ['2016-12-31T23:59:60.5-01:00', '2017-01-01T01:00:00.500000Z'],
  ['1969-12-31T23:59:59.999999Z', '1969-12-31T23:59:59.999999Z'],
  ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000000Z'],
  ['0001-01-01T00:00:00+01:00', '0000-12-31T23:00:00.000000Z'],
  ['0099-12-31T23:59:60Z', '0100-01-01T00:00:00.000000Z'],
  ['0400-02-29T00:00:00Z', '0400-02-29T00:00:00.000000Z'],
  ['9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999999Z'],
  ['9999-12-31T23:59:59+23:59', '9999-12-31T00:00:59.000000Z'],
];

const INVALID = [
  '2023-02-29T00:00:00Z', '2023-02-30T00:00:00Z', '2024-02-30T00:00:00Z', '1900-02-29T00:00:00Z', '2024-04-31T00:00:00Z',
  '2024-01-32T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z', '2024-01-00T00:00:00Z',
  '2024-01-01T24:00:00Z', '2024-01-01T23:60:00Z', '2024-01-01T23:59:61Z',
  '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00-24:00', '2024-01-01T00:00:00+12:60', '2024-01-01T00:00:00+99:99',
  '0000-01-01T00:00:00Z', '0000-12-31T23:59:59-01:00',
  '2024-01-01T00:00:00', '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00.1234567890Z', '2024-01-01T00:00:00+0100',
  '2024-01-01T00:00:00 UTC', '2024-01-01_00:00:00Z', '20x4-01-01T00:00:00Z', '2024-01-01T00:00:00ZZ',
];

describe('rfc3339ToMs, rfc3339Micros and rfc3339ToUtcMicros: one validation, the same instant', () => {
  it.each(VALID)('%s is %s for all three', (text, utc) => {
    const ms = Date.parse(`${utc.slice(0, 23)}Z`); // an independent reading of the expected instant
    expect(rfc3339ToUtcMicros(text)).toBe(utc);
    expect(rfc3339ToMs(text)).toBe(ms);
    const us = ms * 1000 + Number(utc.slice(23, 26));
    // Outside about 1684-2255 a double does not hold the µs: the ledger stores NULL there, not an error.
    expect(rfc3339Micros(text)).toBe(Number.isSafeInteger(us) ? us : undefined);
    if (Number.isSafeInteger(us)) expect(isoMicros(us)).toBe(utc);
  });

  it.each(INVALID)('%s is refused by all three', (text) => {
    expect(rfc3339ToMs(text)).toBeNull();
    expect(rfc3339Micros(text)).toBeUndefined();
    expect(rfc3339ToUtcMicros(text)).toBeNull();
  });

  it('the table holds both outcomes of the double check, and the three agree on every near-miss', () => {
    expect(VALID.some(([t]) => rfc3339Micros(t) === undefined)).toBe(true);
    expect(VALID.some(([t]) => rfc3339Micros(t) !== undefined)).toBe(true);
    let both = 0;
    for (const text of nearMisses()) {
      const ms = rfc3339ToMs(text);
      const us = rfc3339Micros(text);
      const utc = rfc3339ToUtcMicros(text);
      if (ms === null) {
        expect([us, utc], text).toEqual([undefined, null]);
        continue;
      }
      // The only valid texts without UTC text: instants past 9999-12-31 (a negative offset on its last day).
      if (utc === null) expect(ms, text).toBeGreaterThanOrEqual(Date.UTC(10000, 0, 1));
      else expect(Date.parse(`${utc.slice(0, 23)}Z`), text).toBe(ms);
      if (us !== undefined) {
        both++;
        expect(Math.floor(us / 1000), text).toBe(ms);
        expect(isoMicros(us), text).toBe(utc);
      }
    }
    expect(both).toBeGreaterThan(20);
  });
});
