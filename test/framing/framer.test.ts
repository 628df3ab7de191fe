import { describe, expect, it } from 'vitest';
import { Framer, type Frame } from '../../src/framing/framer.js';

function frameAll(input: Buffer | string, max = 64 * 1024, chunking: 'whole' | 'bytes' = 'whole'): Frame[] {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const f = new Framer({ maxFrameBytes: max });
  const out: Frame[] = [];
  if (chunking === 'whole') out.push(...f.push(buf));
  else for (let i = 0; i < buf.length; i++) out.push(...f.push(buf.subarray(i, i + 1)));
  out.push(...f.end());
  return out;
}

/** Runs a case whole and one byte at a time (nats.js's byByteTest); both must agree. */
function bodies(input: string, max?: number): string[] {
  const whole = frameAll(input, max).map((fr) => fr.body.toString('latin1'));
  const bytes = frameAll(input, max, 'bytes').map((fr) => fr.body.toString('latin1'));
  expect(bytes).toEqual(whole);
  return whole;
}

describe('framer', () => {
  it('lf: splits frames on LF and strips a trailing CR', () => {
    expect(bodies('<13>a\n<13>b\r\n<13>c\n')).toEqual(['<13>a', '<13>b', '<13>c']);
  });

  it('lf: NUL also ends a frame, and empty frames are skipped', () => {
    expect(bodies('<13>a\0<13>b\n\n\n<13>c\0')).toEqual(['<13>a', '<13>b', '<13>c']);
  });

  it('octet-counting: reads exactly MSG-LEN bytes, LF inside the frame included', () => {
    const m1 = '<13>1 - - - - - hello\nworld';
    const m2 = '<14>1 - - - - - x';
    expect(bodies(`${m1.length} ${m1}${m2.length} ${m2}`)).toEqual([m1, m2]);
  });

  it('octet-counting: trims the trailing LF of rsyslog protocol-23 frames, keeps it in raw', () => {
    const m = '<13>1 2024-01-01T00:00:00Z h app - - - msg\n';
    const [fr] = frameAll(`${m.length} ${m}`);
    expect(fr!.body.toString()).toBe(m.slice(0, -1));
    expect(fr!.raw.toString()).toBe(m);
    expect(fr!.framing).toBe('octet-counted');
  });

  it('octet-counting and LF frames mix per frame, as rsyslog allows', () => {
    const m = '<13>1 - - - - - counted';
    expect(bodies(`<13>plain one\n${m.length} ${m}<13>plain two\n`)).toEqual(['<13>plain one', m, '<13>plain two']);
  });

  it('lf: a frame that starts with digits and a space is not an octet count', () => {
    expect(bodies('404 not found\n2024-05-01 12:00:00 host app: hi\n')).toEqual([
      '404 not found',
      '2024-05-01 12:00:00 host app: hi',
    ]);
  });

  it('lf: a digits-only line and a long digit run stay text', () => {
    expect(bodies('12345\n123456789012345 hello\n')).toEqual(['12345', '123456789012345 hello']);
  });

  it('lf: cuts a frame over the maximum, flags it, and resumes at the next frame', () => {
    const frames = frameAll(`<13>${'a'.repeat(100)}\n<13>next\n`, 20);
    expect(frames.map((f) => [f.body.length, f.truncated])).toEqual([
      [20, true],
      [8, false],
    ]);
    expect(frames[1]!.body.toString()).toBe('<13>next');
  });

  it('lf: a frame of exactly the maximum is not truncated, even split across chunks', () => {
    const line = `<13>${'b'.repeat(16)}`; // 20 bytes
    expect(frameAll(`${line}\n<13>x\n`, 20, 'bytes').map((f) => f.truncated)).toEqual([false, false]);
  });

  it('octet-counting: a frame over the maximum is cut, the rest skipped, the next frame read', () => {
    const big = `<13>1 - - - - - ${'z'.repeat(200)}`;
    const next = '<13>1 - - - - - after';
    for (const chunking of ['whole', 'bytes'] as const) {
      const frames = frameAll(`${big.length} ${big}${next.length} ${next}`, 50, chunking);
      expect(frames.map((f) => [f.body.length, f.truncated])).toEqual([
        [50, true],
        [next.length, false],
      ]);
    }
  });

  it('end: an unterminated last line is a frame; a short octet-counted frame is kept, truncated', () => {
    expect(frameAll('<13>last').map((f) => [f.body.toString(), f.truncated])).toEqual([['<13>last', false]]);
    expect(frameAll('50 <13>1 short').map((f) => [f.body.toString(), f.truncated])).toEqual([['<13>1 short', true]]);
  });

  it('keeps JSON frames whole', () => {
    const j = '{"host":"h","message":"a b"}';
    expect(bodies(`${j}\n${j.length} ${j}`)).toEqual([j, j]);
  });
});
