/** putUtf8 (the canonical form's and binary COPY's string writer) gives Buffer#write's bytes for every kind of string. */
import { describe, expect, it } from 'vitest';
import { putUtf8 } from '../../src/ledger/bytes.js';

describe('putUtf8', () => {
  it('writes what Buffer#write writes: ASCII short and long, non-ASCII at any place, lone surrogates, empty', () => {
    const cases = ['', 'a', 'rfc5424', 'x'.repeat(32), 'x'.repeat(33), 'é', 'abcé', `${'a'.repeat(31)}é`, `${'a'.repeat(40)}\u{1F600}`, '\uD800x', 'tab\tnew\nline\u0000', '\u007f\u0080'];
    for (const s of cases) {
      const a = Buffer.alloc(200, 0xaa);
      const b = Buffer.alloc(200, 0xaa);
      const n = putUtf8(a, 7, s);
      expect(n, JSON.stringify(s)).toBe(b.write(s, 7, 'utf8'));
      expect(a.equals(b), JSON.stringify(s)).toBe(true);
    }
  });
});
