/** The console's pure parts: escaping, the bounded search form, the tar writer. */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { esc, html } from '../../src/console/html.js';
import { MAX_RANGE_DAYS, MAX_TEXT_RANGE_DAYS, parseSearch } from '../../src/console/search-form.js';
import { tarFolder } from '../../src/console/tar.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'sl-console-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('console html', () => {
  it('html: every interpolated value is escaped, arrays of fragments are kept', () => {
    expect(esc(`<a href="x" onclick='y'>&`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
    const list = ['<b>', 'c'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${list}</ul>`.text).toBe('<ul><li>&lt;b&gt;</li><li>c</li></ul>');
  });
});

describe('console search form', () => {
  const q = (o: Record<string, string>) => parseSearch(new URLSearchParams(o), NOW);

  it('search form: empty times are the last 24 hours, made absolute for the next pages and the export', () => {
    const p = q({ host: 'web1' });
    expect(p.errors).toEqual([]);
    expect(p.search?.query).toMatchObject({ by: 'received', from: '2026-12-06T12:00:00.000Z', to: '2026-12-07T12:00:00.000Z', host: 'web1', user: null });
    expect(p.fields.from).toBe('2026-12-06T12:00:00.000Z');
  });

  it(`search form: a range over ${MAX_RANGE_DAYS} days, or over ${MAX_TEXT_RANGE_DAYS} with a message text, is refused with a reason`, () => {
    expect(q({ from: '60d' }).search).toBeUndefined();
    expect(q({ from: '60d' }).errors[0]).toMatch(/at most 31 days/);
    expect(q({ from: '10d', text: 'sshd' }).errors[0]).toMatch(/message-text search .* at most 7 days/);
    expect(q({ from: '10d' }).search).toBeDefined();
    expect(q({ from: '2d', text: 'sshd' }).search?.text).toBe('sshd');
  });

  it('search form: class and status are checked; the page key is chain:seq', () => {
    expect(q({ class: '3002; DROP' }).errors[0]).toMatch(/class.*3002; DROP/);
    expect(q({ status: 'failure' }).search?.query.status_id).toBe(2);
    expect(q({ after: 'a:b:17' }).after).toEqual({ chain: 'a:b', seq: 17 });
    expect(q({ after: 'nope' }).errors).toEqual(['after: not a page key']);
  });
});

describe('console tar', () => {
  it('tar: a folder streamed as ustar is restored byte for byte by tar -x', async () => {
    const src = join(dir, 'pkg');
    mkdirSync(src);
    writeFileSync(join(src, 'a.json'), '{"x":1}\n');
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(70_000, 7));
    writeFileSync(join(src, 'empty'), '');
    const file = join(dir, 'out.tar');
    const out = createWriteStream(file);
    await tarFolder(src, 'evidence-1', out);
    await new Promise<void>((r) => out.end(() => r()));
    const dest = join(dir, 'x');
    mkdirSync(dest);
    execFileSync('tar', ['-xf', file, '-C', dest]);
    expect(readFileSync(join(dest, 'evidence-1', 'a.json'), 'utf8')).toBe('{"x":1}\n');
    expect(readFileSync(join(dest, 'evidence-1', 'big.bin')).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(readFileSync(join(dest, 'evidence-1', 'empty')).length).toBe(0);
  });
});
