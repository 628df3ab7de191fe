/**
 * Resend recognition, session by session: RelpSession with the real ResendIndex, fed RELP bytes as
 * librelp sends them, in front of a writer whose COMMITs the test releases. What is stored, what is
 * acknowledged, and what is counted as a resend.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/framing/framer.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { RateLimitedLog } from '../../src/listener/ratelimit-log.js';
import { Metrics } from '../../src/metrics/registry.js';
import { RelpMetrics } from '../../src/metrics/relp.js';
import { Alignment, frameDigest, HOLD_MAX_BYTES, HOLD_MAX_FRAMES, ResendIndex, TAIL_FRAMES, SessionTail, StreamFrame } from '../../src/relp/resends.js';
import { RelpSession } from '../../src/relp/session.js';

const log = pino({ level: 'silent' });

/** The writer: records are stored in enqueue order; `commit(n)` commits the oldest n pending. */
class Writer {
  readonly stored: string[] = [];
  /** Frames given to store: only those stored, never a resend. */
  parsed = 0;
  readonly #pending: Array<() => void> = [];
  store(frame: Frame, onCommitted: () => void): void {
    this.parsed++;
    this.stored.push(frame.raw.toString('latin1'));
    this.#pending.push(onCommitted);
  }
  commit(n = this.#pending.length): void {
    for (const cb of this.#pending.splice(0, n)) cb();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One connection: what librelp would send, and the rsps it gets. */
class Conn {
  readonly session: RelpSession;
  readonly written: string[] = [];
  #txnr = 0;
  constructor(index: ResendIndex, writer: Writer, metrics: RelpMetrics, cn = 'client.example') {
    const peer: PeerIdentity = { cn, sans: [], subject: `CN=${cn}`, fingerprint: 'f', address: '127.0.0.1:1', transport: 'relp' };
    this.session = new RelpSession({
      peer,
      io: { write: (t) => this.written.push(t), end: () => {}, destroy: () => {}, hold: () => {} },
      maxDataBytes: 1 << 20,
      metrics,
      log,
      violationLog: new RateLimitedLog(log),
      resends: index,
      store: (frame, _receivedAtUs, onCommitted) => writer.store(frame, onCommitted),
    });
    this.send('open', 'relp_version=0\nrelp_software=test\ncommands=syslog');
  }
  send(command: string, data = ''): void {
    const txnr = ++this.#txnr;
    this.session.onData(Buffer.from(data.length ? `${txnr} ${command} ${data.length} ${data}\n` : `${txnr} ${command} 0\n`, 'latin1'), Date.now() * 1000);
  }
  lines(...data: string[]): void {
    for (const d of data) this.send('syslog', d);
  }
  /** TXNRs acknowledged `200 OK`, the open's included. */
  acked(): number[] {
    return this.written.join('').split('\n').flatMap((l) => (/^\d+ rsp \d+ 200 OK/.test(l) ? [Number(l.split(' ')[0])] : []));
  }
  /** The connection breaks (no close exchange). */
  broken(): void {
    this.session.onClose();
  }
  /** librelp's clean end: `close`, answered after every earlier rsp, then the connection ends. */
  async close(): Promise<void> {
    this.send('close');
    await tick();
    this.session.onClose();
  }
}

function setup(): { index: ResendIndex; writer: Writer; metrics: RelpMetrics; resends: () => Promise<number> } {
  const m = new Metrics({ defaultMetrics: false });
  const metrics = new RelpMetrics(m);
  return {
    index: new ResendIndex(),
    writer: new Writer(),
    metrics,
    resends: async () => (await metrics.resends.get()).values[0]?.value ?? 0,
  };
}

describe('RELP resend recognition', () => {
  it('a line repeated after a clean close is stored again', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines('<13>Dec  7 00:00:01 host app: the same line');
    writer.commit();
    await a.close();
    expect(a.acked()).toEqual([1, 2, 3]);
    const b = new Conn(index, writer, metrics);
    b.lines('<13>Dec  7 00:00:01 host app: the same line');
    writer.commit();
    await tick();
    expect(b.acked()).toEqual([1, 2]);
    expect(writer.stored).toEqual(['<13>Dec  7 00:00:01 host app: the same line', '<13>Dec  7 00:00:01 host app: the same line']);
    expect(await resends()).toBe(0);
  });

  it('lines repeated inside a broken session are no resend unless the new run reaches the end of its tail', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines('a', 'b', 'a', 'b', 'c');
    writer.commit();
    await tick();
    expect(a.acked()).toEqual([1, 2, 3, 4, 5, 6]);
    a.broken();
    // Every ack arrived: the client sends new lines that happen to repeat a, b.
    const b = new Conn(index, writer, metrics);
    b.lines('a', 'b');
    expect(writer.stored).toEqual(['a', 'b', 'a', 'b', 'c']); // held: a resend of a, b, c is still possible
    b.lines('d');
    writer.commit();
    await tick();
    expect(writer.stored).toEqual(['a', 'b', 'a', 'b', 'c', 'a', 'b', 'd']);
    expect(b.acked()).toEqual([1, 2, 3, 4]);
    expect(await resends()).toBe(0);
  });

  it('a real resend of a tail that repeats itself is recognized: the longest alignment that reaches the end', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines('a', 'b', 'a', 'b');
    writer.commit();
    a.broken(); // the acks of the last two were lost with the connection
    const b = new Conn(index, writer, metrics);
    b.lines('a', 'b', 'e');
    writer.commit();
    await tick();
    expect(writer.stored).toEqual(['a', 'b', 'a', 'b', 'e']);
    expect(b.acked()).toEqual([1, 2, 3, 4]);
    expect(await resends()).toBe(2);
  });

  it('a resend that straddles committed and still pending frames (some committed after the new open) is stored once', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines(...Array.from({ length: 10 }, (_, i) => `line ${i}`));
    writer.commit(3);
    await tick();
    expect(a.acked()).toEqual([1, 2, 3, 4]);
    a.broken();
    writer.commit(3); // lines 3-5 commit: the client never hears of it
    const b = new Conn(index, writer, metrics);
    writer.commit(2); // lines 6, 7 commit after the new session opened, before their resends arrive
    b.lines(...Array.from({ length: 7 }, (_, i) => `line ${i + 3}`), 'line 10');
    await tick();
    // Resends of committed lines are acked; line 8 (and everything after it) waits for its original's COMMIT.
    expect(b.acked()).toEqual([1, 2, 3, 4, 5, 6]);
    writer.commit();
    await tick();
    expect(b.acked()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(writer.stored).toEqual(Array.from({ length: 11 }, (_, i) => `line ${i}`));
    expect(writer.parsed).toBe(11); // resends are recognized before parsing: no parse, no monitor, no sequence finding
    expect(await resends()).toBe(7);
  });

  it('two concurrent sessions of one certificate: each reconnect is aligned with its own tail; a later line equal to the other tail is stored', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    const b = new Conn(index, writer, metrics);
    a.lines('a1');
    b.lines('b1');
    a.lines('a2');
    b.lines('b2');
    a.lines('a3');
    b.lines('b3');
    writer.commit();
    a.broken();
    b.broken();
    expect(index.candidates('client.example')).toBe(2);
    const b2 = new Conn(index, writer, metrics);
    b2.lines('b3', 'a1', 'b4'); // resends b3; then a1, a new line that repeats one of a's
    const a2 = new Conn(index, writer, metrics);
    a2.lines('a2', 'a3', 'a4');
    writer.commit();
    await tick();
    expect(writer.stored).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a1', 'b4', 'a4']);
    expect(b2.acked()).toEqual([1, 2, 3, 4]);
    expect(a2.acked()).toEqual([1, 2, 3, 4]);
    expect(await resends()).toBe(3);
    expect(index.candidates('client.example')).toBe(0);
  });

  it('frames held while aligning are dropped unacknowledged when the connection breaks, and aligned again on the next session', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines('x', 'y', 'x', 'y');
    writer.commit();
    a.broken();
    const b = new Conn(index, writer, metrics);
    b.lines('x'); // could be the start of x y x y or x y
    b.broken();
    const c = new Conn(index, writer, metrics);
    c.lines('x', 'y', 'z');
    writer.commit();
    await tick();
    expect(writer.stored).toEqual(['x', 'y', 'x', 'y', 'z']);
    expect(b.acked()).toEqual([1]);
    expect(c.acked()).toEqual([1, 2, 3, 4]);
    expect(await resends()).toBe(2);
  });

  it('a close ends the hold: the longest complete alignment is taken', async () => {
    const { index, writer, metrics, resends } = setup();
    const a = new Conn(index, writer, metrics);
    a.lines('p', 'q', 'p');
    writer.commit();
    a.broken();
    const b = new Conn(index, writer, metrics);
    b.lines('p'); // complete (m = 1) and the start of p q p (m = 3)
    await b.close();
    expect(writer.stored).toEqual(['p', 'q', 'p']);
    expect(b.acked()).toEqual([1, 2, 3]);
    expect(await resends()).toBe(1);
  });
});

describe('RELP session and the listener', () => {
  it('onData returns the syslog frames a read completed: what the per-peer rate limit counts', () => {
    const { index, writer, metrics } = setup();
    const a = new Conn(index, writer, metrics);
    const chunk = Buffer.from('2 syslog 1 a\n3 syslog 1 b\n4 syslog 1 c\n5 sys', 'latin1');
    expect(a.session.onData(chunk, 0)).toBe(3);
    expect(a.session.onData(Buffer.from('log 1 d\n'), 0)).toBe(1);
    expect(writer.stored).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('Alignment', () => {
  const tail = (...lines: string[]): SessionTail => new SessionTail('k', lines.map((l) => new StreamFrame(frameDigest(Buffer.from(l)), true)));
  const push = (al: Alignment, l: string) => al.push(frameDigest(Buffer.from(l)), l.length);

  it('decides at the first frame that matches no tail', () => {
    expect(push(new Alignment([tail('a', 'b')]), 'z')).toMatchObject({ matched: 0, cut: false });
  });

  it('picks the longest complete alignment among several tails', () => {
    const t1 = tail('x', 'a', 'b');
    const t2 = tail('a', 'b', 'c');
    const al = new Alignment([t1, t2]);
    expect(push(al, 'a')).toBeUndefined();
    expect(push(al, 'b')).toBeUndefined(); // t1 complete (2), t2 still possible
    const d = push(al, 'c');
    expect(d).toMatchObject({ matched: 3, tail: t2, cut: false });
  });

  it('holds at most HOLD_MAX_BYTES, then decides with the longest alignment complete so far', () => {
    const al = new Alignment([tail(...Array.from({ length: 20 }, () => 'same'))]);
    const big = HOLD_MAX_BYTES / 8;
    let d;
    let n = 0;
    while (!d && n < 20) {
      d = al.push(frameDigest(Buffer.from('same')), big);
      n++;
    }
    expect(n).toBe(8);
    expect(d).toMatchObject({ matched: 8, cut: true });
  });

  it('a tail keeps its last TAIL_FRAMES frames, so no hold outlasts HOLD_MAX_FRAMES', () => {
    const t = tail(...Array.from({ length: TAIL_FRAMES + 5 }, (_, i) => `l${i}`));
    expect(t.length).toBe(TAIL_FRAMES);
    expect(HOLD_MAX_FRAMES).toBeGreaterThanOrEqual(TAIL_FRAMES);
    expect(push(new Alignment([t]), 'l4')).toMatchObject({ matched: 0 });
    expect(push(new Alignment([t]), `l${TAIL_FRAMES + 4}`)).toMatchObject({ matched: 1 });
  });
});
