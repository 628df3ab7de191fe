import { describe, expect, it } from 'vitest';
import { copyChunks } from '../../src/ledger/copy.js';

/** What the writer sent before copyChunks: the lines joined, then encoded once. */
const joined = (lines: readonly string[]): Buffer => Buffer.from(lines.join(''), 'utf8');

describe('copyChunks: COPY lines as UTF-8 chunks', () => {
  it('gives the bytes of the joined lines, for ASCII, 2-, 3- and 4-byte characters and lone surrogates', () => {
    const pieces = ['a\tb\\\\x00', 'é', 'ü€', '漢字', '😀', '\ud800', 'x\udfff'];
    const lines = Array.from({ length: 3000 }, (_, i) => `${i}\t${pieces[i % pieces.length]!.repeat(1 + (i % 97))}\n`);
    const chunks = copyChunks(lines);
    expect(Buffer.concat(chunks).equals(joined(lines))).toBe(true);
    expect(chunks.length).toBeGreaterThan(1);
    // Chunks never split a line: each one ends with a line's newline.
    for (const c of chunks) expect(c[c.length - 1]).toBe(0x0a);
  });

  it('takes a line longer than a chunk whole, and keeps the order around it', () => {
    const big = `${'€'.repeat(100_000)}\n`; // 300,001 bytes: more than a 128 KiB chunk
    const lines = ['first\n', big, 'after\n'];
    const chunks = copyChunks(lines);
    expect(Buffer.concat(chunks).equals(joined(lines))).toBe(true);
    expect(chunks.some((c) => c.length === Buffer.byteLength(big))).toBe(true);
  });

  it('gives no chunk for no lines', () => {
    expect(copyChunks([])).toEqual([]);
  });
});
