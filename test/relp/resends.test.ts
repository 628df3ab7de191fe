import { describe, expect, it } from 'vitest';
import { frameDigest, RING_FRAMES, ResendIndex } from '../../src/relp/resends.js';

const d = (i: number): string => frameDigest(Buffer.from(`frame ${i}`));

describe('relp resend index', () => {
  it('remembers the last RING_FRAMES committed frames per peer, oldest forgotten first, across ring growth', () => {
    const idx = new ResendIndex();
    const n = RING_FRAMES + 1000;
    for (let i = 0; i < n; i++) idx.remember('peer-a', d(i));
    const span = idx.startSpan('peer-a');
    expect(span.match(d(999))).toBeNull();
    expect(span.match(d(1000))).toEqual({ committed: true });
    expect(span.match(d(n - 1))).toEqual({ committed: true });
    // Another peer's frames are not this peer's.
    expect(idx.startSpan('peer-b').match(d(n - 1))).toBeNull();
  });

  it('keeps order across growth: 300 frames after 256 are all there', () => {
    const idx = new ResendIndex();
    for (let i = 0; i < 300; i++) idx.remember('p', d(i));
    const span = idx.startSpan('p');
    for (let i = 0; i < 300; i++) expect(span.match(d(i)), `frame ${i}`).toEqual({ committed: true });
  });

  it('each stored copy absorbs one resent copy within a span; a new span starts afresh', () => {
    const idx = new ResendIndex();
    idx.remember('p', d(1));
    const span = idx.startSpan('p');
    expect(span.match(d(1))).toEqual({ committed: true });
    expect(span.match(d(1))).toBeNull();
    expect(idx.startSpan('p').match(d(1))).toEqual({ committed: true });
  });

  it('a pending frame matches until it commits, then its waiters run and it is remembered', () => {
    const idx = new ResendIndex();
    const p = idx.track('p', d(5));
    const m = idx.startSpan('p').match(d(5));
    expect(m).toMatchObject({ committed: false });
    let acked = 0;
    if (m && !m.committed) (m.pending.waiters ??= []).push(() => acked++);
    idx.committed('p', p);
    expect(acked).toBe(1);
    expect(idx.startSpan('p').match(d(5))).toEqual({ committed: true });
  });
});
