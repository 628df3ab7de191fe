import { describe, expect, it } from 'vitest';
import { rfc3339Micros, rfc3339ToUtcMicros } from '../../src/ledger/time.js';
import { rfc3339ToMs } from '../../src/normalize/time.js';
import { RFC3339_TEXT } from '../../src/parsing/timestamp.js';
import { oldLedgerMicros, oldNormalizeParse } from './fixtures/rfc3339-before.js';

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
    // A year below 100 takes the normalizer's regex path (the fast path leaves it to Date's rules).
    const year100 = new Date(Date.UTC(2000, 0, 1, 0, 30));
    year100.setUTCFullYear(100);
    expect(rfc3339ToMs('0099-12-31t23:00:00-01:30')).toBe(year100.getTime());
  });
});

describe('readRfc3339Text: the fast paths read the layout once, as each read it before', () => {
  // A random walk over near-misses of the layout: every position mutated, fractions 0-11 digits,
  // every zone form, years below 100 and 1000, ranges just past each limit.
  function* texts(): Generator<string> {
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

  it('rfc3339Micros (ledger: the canonical form) and rfc3339ToMs (normalize) give what they gave before, text for text', () => {
    let ledgerDefined = 0;
    let normalizeDefined = 0;
    for (const text of texts()) {
      const us = rfc3339Micros(text);
      if (/^\d{4}-/.test(text)) expect(us, text).toBe(oldLedgerMicros(text));
      // The one change, a fix: the old reader's non-digit sentinel (-100) did not make a 4-digit sum
      // negative, so "20x4-..." was read as the year 1004. Unreachable for the canonical form (only
      // text the normalizer accepted is lifted), reachable from `coverage --from`.
      else expect(us, text).toBeUndefined();
      const ms = rfc3339ToMs(text);
      expect(ms, text).toBe(oldNormalizeParse(text));
      if (us !== undefined) ledgerDefined++;
      if (ms !== null) normalizeDefined++;
    }
    // Both outcomes occurred for both readers.
    expect(ledgerDefined).toBeGreaterThan(20);
    expect(normalizeDefined).toBeGreaterThan(20);
    expect(ledgerDefined).toBeLessThan(39000);
  });
});
