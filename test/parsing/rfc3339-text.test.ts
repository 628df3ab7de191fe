import { describe, expect, it } from 'vitest';
import { rfc3339ToUtcMicros } from '../../src/ledger/time.js';
import { rfc3339ToMs } from '../../src/normalize/time.js';
import { RFC3339_TEXT } from '../../src/parsing/timestamp.js';

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
