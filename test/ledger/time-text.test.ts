/**
 * The writer's hot-path text conversions against the slow, obvious ones: isoMicros (calendar by
 * arithmetic) against Date#toISOString, and inetBytes' split-free IPv4 parser against random addresses.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/ledger/copy.js';
import { inetBytes, inetText } from '../../src/ledger/inet.js';

const viaDate = (us: number): string => {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`;
};

describe('isoMicros and IPv4 parsing on the writer hot path', () => {
  it('isoMicros gives what Date#toISOString gives, with microseconds, for any instant', () => {
    fc.assert(fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (us) => {
      expect(isoMicros(us)).toBe(viaDate(us));
    }), { numRuns: 20_000 });
    for (const us of [0, -1, 1, 951_782_400_000_000, 4_107_542_400_000_000 - 1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]) expect(isoMicros(us)).toBe(viaDate(us));
    expect(isoMicros(1_714_564_800_123_456)).toBe('2024-05-01T12:00:00.123456Z');
  });

  it('inetBytes reads every dotted IPv4 address to its four bytes and refuses malformed ones', () => {
    fc.assert(fc.property(fc.ipV4(), (ip) => {
      expect(inetText(inetBytes(ip)!)).toBe(ip);
      expect([...inetBytes(ip)!]).toEqual([4, 32, ...ip.split('.').map(Number)]);
    }), { numRuns: 2000 });
    for (const bad of ['1.2.3.4.5', '1.2.3', '256.1.1.1', '1..2.3', '1.2.3.4.', '.1.2.3', '1.2.3.1234', '1.2.3.a', ' 1.2.3.4']) expect(inetBytes(bad)).toBeNull();
    expect([...inetBytes('001.002.003.004')!]).toEqual([4, 32, 1, 2, 3, 4]);
  });
});
