import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isParseError, RelpParser, type RelpFrame, type RelpItem } from '../../src/relp/parser.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/relp');

function parseAll(input: Buffer | string, max = 128 * 1024, chunking: 'whole' | 'bytes' = 'whole'): RelpItem[] {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const p = new RelpParser({ maxDataBytes: max });
  const out: RelpItem[] = [];
  if (chunking === 'whole') out.push(...p.push(buf));
  else for (let i = 0; i < buf.length; i++) out.push(...p.push(buf.subarray(i, i + 1)));
  return out;
}

/** Whole and one byte at a time must agree (nats.js byByteTest); returns a readable summary. */
function items(input: Buffer | string, max?: number): string[] {
  const show = (it: RelpItem): string =>
    isParseError(it) ? `ERR ${it.error}@${it.offset}` : `${it.txnr} ${it.command} ${it.dataLength}${it.truncated ? ' (cut)' : ''} ${JSON.stringify(it.data.toString('latin1'))}`;
  const whole = parseAll(input, max).map(show);
  const bytes = parseAll(input, max, 'bytes').map(show);
  expect(bytes).toEqual(whole);
  return whole;
}

describe('relp parser', () => {
  it('recorded transcript (omrelp, protocol-23 template): open, three syslog frames with their LF, close', () => {
    const bin = readFileSync(resolve(FIXTURES, 'omrelp-protocol23.bin'));
    const got = items(bin);
    expect(got).toHaveLength(5);
    expect(got[0]).toBe('1 open 86 "relp_version=0\\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\\ncommands=syslog"');
    expect(got[1]).toMatch(/^2 syslog 68 "<134>1 2026-12-06T21:36:58\.174324\+00:00 vm app-audit - - - line one\\n"$/);
    expect(got[2]).toMatch(/^3 syslog 83 /);
    const third = parseAll(bin)[2];
    expect(third !== undefined && !isParseError(third) && third.data.toString('utf8').endsWith('line two with ünïcode\n')).toBe(true);
    expect(got[4]).toBe('5 close 0 ""');
  });

  it('recorded reconnect: TXNR restarts at 1, and the unacknowledged frames come first, byte-identical, with new numbers', () => {
    const s1 = readFileSync(resolve(FIXTURES, 'omrelp-reconnect-session1.bin'));
    const s2 = readFileSync(resolve(FIXTURES, 'omrelp-reconnect-session2.bin'));
    items(s1);
    items(s2);
    const f1 = parseAll(s1, 128 * 1024, 'bytes').filter((f) => !isParseError(f)) as RelpFrame[];
    const f2 = parseAll(s2, 128 * 1024, 'bytes').filter((f) => !isParseError(f)) as RelpFrame[];
    expect(f1.map((f) => `${f.txnr} ${f.command}`)).toEqual(['1 open', '2 syslog', '3 syslog', '4 syslog', '5 syslog', '6 syslog', '7 syslog']);
    expect(f2.map((f) => `${f.txnr} ${f.command}`)).toEqual(['1 open', '2 syslog', '3 syslog', '4 syslog', '5 syslog', '6 syslog', '7 close']);
    // Session 1 acked txnr 2-4 (lines 1-3); lines 4-6 (txnr 5-7) are resent as txnr 2-4.
    for (let i = 0; i < 3; i++) expect(f2[1 + i]!.data.equals(f1[4 + i]!.data), `resent frame ${i}`).toBe(true);
    expect(f2[4]!.data.toString()).toMatch(/ line 7\n$/);
  });

  it('DATALEN 0: the LF follows DATALEN directly, or after a SP', () => {
    expect(items('4 close 0\n5 close 0 \n')).toEqual(['4 close 0 ""', '5 close 0 ""']);
  });

  it('DATA may hold LF and any byte; only DATALEN delimits it', () => {
    expect(items('2 syslog 7 a\nb\x00c d\n3 syslog 1 x\n')).toEqual(['2 syslog 7 "a\\nb\\u0000c d"', '3 syslog 1 "x"']);
  });

  it('over the maximum: read through, cut at the maximum, flagged, and the next frame is read', () => {
    const big = 'x'.repeat(100);
    expect(items(`2 syslog 100 ${big}\n3 syslog 2 ok\n`, 10)).toEqual([`2 syslog 100 (cut) "${'x'.repeat(10)}"`, '3 syslog 2 "ok"']);
  });

  it('a DATALEN of 999,999,999 is read through without holding it', () => {
    const p = new RelpParser({ maxDataBytes: 16 });
    expect(p.push(Buffer.from('2 syslog 999999999 '))).toEqual([]);
    for (let i = 0; i < 100; i++) p.push(Buffer.alloc(1 << 20, 0x61));
    expect(p.pendingBytes).toBe(16);
  });

  it('malformed TXNR: reported, then the parser resyncs at the next LF', () => {
    expect(items('x1 syslog 1 a\n2 syslog 1 b\n')).toEqual(['ERR bad_txnr@0', '2 syslog 1 "b"']);
    expect(items('1234567890 open 0\n')[0]).toBe('ERR bad_txnr@9');
  });

  it('malformed COMMAND and DATALEN are reported', () => {
    expect(items('1 op3n 0\n')).toEqual(['ERR bad_command@4']);
    expect(items(`1 ${'a'.repeat(33)} 0\n`)).toEqual(['ERR bad_command@34']);
    expect(items('1 open x\n')).toEqual(['ERR bad_datalen@7']);
    expect(items('1 open 3abc\n')).toEqual(['ERR bad_datalen@8']);
    expect(items('1 open 3\n')).toEqual(['ERR bad_datalen@8']);
  });

  it('DATALEN that does not match the DATA: missing trailer', () => {
    expect(items('2 syslog 3 abcd\n3 syslog 1 e\n')).toEqual(['ERR missing_trailer@14', '3 syslog 1 "e"']);
  });

  it('stray LFs between frames are skipped', () => {
    expect(items('\n\n2 syslog 1 a\n\n3 close 0\n')).toEqual(['2 syslog 1 "a"', '3 close 0 ""']);
  });

  it('never hangs: random bytes always move the parser forward', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    const junk = Buffer.from(Array.from({ length: 20_000 }, rnd));
    const p = new RelpParser({ maxDataBytes: 64 });
    p.push(junk);
    p.push(Buffer.from('\n7 syslog 2 ok\n'));
    // The trailing good frame is found once the junk is skipped (or the junk's last frame is still open).
    expect(p.pendingBytes).toBeLessThanOrEqual(64);
  });
});
