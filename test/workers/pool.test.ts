/**
 * The stage worker pool (src/workers/): records come back in push order across workers and batches,
 * each prepared row links to the same hash and binary COPY bytes (and raw) as the inline path gives the same frame,
 * a frame whose stages throw in a worker is still stored raw with its error, and close() leaves no
 * thread behind.
 */
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Framer, type Frame } from '../../src/framing/framer.js';
import { CopyBuffer } from '../../src/ledger/copy-binary.js';
import { PreparedRecord } from '../../src/ledger/prepared.js';
import { encodeV3Linked } from '../../src/ledger/row.js';
import { sha256 } from '../../src/ledger/sha256.js';
import { ZERO_HASH, type LedgerRecord } from '../../src/ledger/types.js';
import { ledgerColumns } from '../../src/ledger/canonical.js';
import { chainConnection, chainRecordV3Into } from '../../src/ledger/v3.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { Metrics } from '../../src/metrics/registry.js';
import { toRecord } from '../../src/stages.js';
import { StagePool } from '../../src/workers/pool.js';

const PEER_A: PeerIdentity = { cn: 'client1.example.com', sans: ['DNS:client1.example.com'], subject: 'CN=client1.example.com', fingerprint: 'ab'.repeat(32), address: '127.0.0.1:5000' };
const PEER_B: PeerIdentity = { cn: 'b', sans: [], subject: 'CN=b', fingerprint: 'cd'.repeat(32), address: '[::1]:5001' };
const CFG = { format: 'auto', timeZone: 'UTC' } as const;
const log = pino({ level: 'silent' });

function frames(n: number): Frame[] {
  const kinds = [
    (i: number) => `<134>1 2026-11-28T12:00:00.${String(i % 1e6).padStart(6, '0')}Z web-${i % 3} app ${i} ID [meta sequenceId="${i + 1}"] event\t${i} user=alice`,
    (i: number) => `<38>Nov 28 12:00:01 bastion sshd[${i}]: Failed password for bob from 10.0.0.${i % 250} port 22 ssh2`,
    (i: number) => `{"timestamp":"2026-11-28T12:00:07Z","service":"s${i}","user":"c\\\\arol","msg":"\u00e9 ${i}"}`,
    (i: number) => `not syslog ${'x'.repeat(i % 500)}`,
  ];
  const text = Array.from({ length: n }, (_, i) => kinds[i % kinds.length]!(i) + '\n').join('');
  const f = new Framer({ maxFrameBytes: 64 * 1024 });
  return [...f.push(Buffer.from(text)), ...f.end()];
}

/** The pool's worker started with test hooks (test/helpers/hooked-stage-worker.mjs). */
const hooks = (data: { fail?: string; exit?: string; hang?: string; unencodable?: string }): { url: URL; data: unknown } => ({ url: new URL('../helpers/hooked-stage-worker.mjs', import.meta.url), data });

const threads = (): number => readdirSync('/proc/self/task').length;

/** Links a record as the writer does; returns its hash and COPY bytes. */
function link(r: LedgerRecord, seq: number, prev: Buffer, out: CopyBuffer, peer: PeerIdentity): Buffer {
  const conn = chainConnection(1, peer);
  if (r instanceof PreparedRecord) {
    const hash = sha256(encodeV3Linked(prev, 'c', seq, r.receivedAtUs, conn.id, conn.bytes, r.tail, 0, r.tail.length));
    out.linked('c', seq, r.receivedAtUs, conn.id, r.tail, 0, r.tail.length, hash);
    return hash;
  }
  return chainRecordV3Into(r, 'c', seq, prev, conn, out).hash;
}

let pool: StagePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('stage worker pool', () => {
  it('delivers in push order over 2 workers and many batches; each row hashes and copies as the inline path', async () => {
    const fs = frames(2000);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    const observed: number[] = [];
    pool = new StagePool({
      workers: 2, ...CFG, metrics, log, batchFrames: 37,
      inline: (f, p, us) => toRecord(f, p, us, CFG, metrics),
      deliver: (r) => got.push(r),
      observe: (o) => observed.push(o.sequenceId as unknown as number),
    });
    fs.forEach((f, i) => pool!.push(f, i % 5 === 0 ? PEER_B : PEER_A, 1_764_331_200_000_000 + i));
    await pool.close();
    expect(got).toHaveLength(fs.length);
    expect(got.every((r) => r instanceof PreparedRecord)).toBe(true);
    expect(got.map((r) => r.receivedAtUs - 1_764_331_200_000_000)).toEqual(fs.map((_, i) => i));
    // The monitor's sequence observations came back, in order (every 4th frame carries a sequenceId).
    expect(observed.length).toBe(500);
    const ref = new Metrics({ defaultMetrics: false });
    const a = new CopyBuffer();
    const b = new CopyBuffer();
    let pa = ZERO_HASH;
    let pb = ZERO_HASH;
    for (let i = 0; i < fs.length; i++) {
      const peer = i % 5 === 0 ? PEER_B : PEER_A;
      pa = link(got[i]!, i + 1, pa, a, peer);
      const inline = toRecord(fs[i]!, peer, 1_764_331_200_000_000 + i, CFG, ref);
      pb = link(inline, i + 1, pb, b, peer);
      // The stored raw bytes, read from the prepared row's tail.
      expect(got[i]!.raw.equals(inline.raw)).toBe(true);
      expect(pa.toString('hex')).toBe(pb.toString('hex'));
    }
    expect(Buffer.concat(a.take()).equals(Buffer.concat(b.take()))).toBe(true);
    // Lazily decoded fields agree with the inline record's.
    const inl = toRecord(fs[1]!, PEER_A, 1_764_331_200_000_001, CFG, ref);
    expect(JSON.parse(JSON.stringify(got[1]!.columns))).toEqual(ledgerColumns(inl.columns).columns);
    expect(got[1]!.columns.hostname).toBe(inl.columns.hostname);
    expect(got[1]!.format).toBe(inl.format);
    // Metrics counted in the workers reach the main registry.
    const received = await metrics.framesReceived.get();
    expect(received.values.reduce((s, v) => s + v.value, 0)).toBe(fs.length);
  });

  it('a frame whose stages throw in a worker is stored raw with its error, in its place', async () => {
    const fs = frames(40);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    pool = new StagePool({ workers: 1, ...CFG, metrics, log, script: hooks({ fail: 'port 22' }), inline: (f, p, us) => toRecord(f, p, us, CFG, metrics), deliver: (r) => got.push(r) });
    fs.forEach((f, i) => pool!.push(f, PEER_A, 1_000 + i));
    await pool.close();
    expect(got.map((r) => r.receivedAtUs)).toEqual(fs.map((_, i) => 1_000 + i));
    const failed = got.filter((r) => r.format === 'unparsed' && r.parseError?.startsWith('internal error while processing the frame'));
    expect(failed.length).toBe(10);
    expect(failed[0]!.raw.equals(fs[1]!.raw)).toBe(true);
    expect(failed[0]!.event.raw_data).toBe(fs[1]!.body.toString('utf8'));
    const internal = (await metrics.parseFailures.get()).values.find((v) => v.labels.reason === 'internal');
    expect(internal?.value).toBe(10);
  });

  it('a record whose row the encoding refuses is stored as received with the error, in its place; each frame counted once', async () => {
    const fs = frames(40);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    pool = new StagePool({
      workers: 1, ...CFG, metrics, log, script: hooks({ unencodable: 'port 22' }),
      inline: () => {
        throw new Error('processed on the main thread');
      },
      deliver: (r) => got.push(r),
    });
    fs.forEach((f, i) => pool!.push(f, PEER_A, 1_000 + i));
    await pool.close();
    expect(got.map((r) => r.receivedAtUs)).toEqual(fs.map((_, i) => 1_000 + i));
    expect(got.every((r) => r instanceof PreparedRecord)).toBe(true);
    const refused = got.filter((r) => r.parseError?.startsWith('the ledger row could not be encoded'));
    expect(refused.map((r) => got.indexOf(r))).toEqual(fs.map((_, i) => i).filter((i) => i % 4 === 1));
    expect(refused[0]!.format).toBe('unparsed');
    expect(refused[0]!.parseError).toMatch(/out of range/);
    expect(refused[0]!.raw.equals(fs[1]!.raw)).toBe(true);
    const received = await metrics.framesReceived.get();
    expect(received.values.reduce((s, v) => s + v.value, 0)).toBe(fs.length);
    const internal = (await metrics.parseFailures.get()).values.find((v) => v.labels.reason === 'internal');
    expect(internal?.value).toBe(10);
  });

  it('a worker that dies: its unanswered batches are processed on the main thread, in order, and another starts', async () => {
    const fs = frames(300);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    pool = new StagePool({ workers: 1, ...CFG, metrics, log, batchFrames: 50, script: hooks({ exit: 'sshd[121]' }), inline: (f, p, us) => toRecord(f, p, us, CFG, metrics), deliver: (r) => got.push(r) });
    fs.slice(0, 150).forEach((f, i) => pool!.push(f, PEER_A, i));
    for (let t = 0; t < 200 && got.length < 150; t++) await new Promise((r) => setTimeout(r, 50));
    expect(pool.threads).toBe(1);
    fs.slice(150).forEach((f, i) => pool!.push(f, PEER_A, 150 + i));
    await pool.close();
    expect(got.map((r) => r.receivedAtUs)).toEqual(fs.map((_, i) => i));
    // Frame 121's batch (100-149) went inline: plain records; later batches went to the new worker.
    expect(got[121] instanceof PreparedRecord).toBe(false);
    expect(got[299] instanceof PreparedRecord).toBe(true);
    expect(got[121]!.format).toBe('rfc3164');
  });

  it('a worker that hangs on a batch is ended after batchTimeoutMs: that batch is stored as received with the error, the later ones go to the new worker, the order holds', async () => {
    const fs = frames(200);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    pool = new StagePool({
      workers: 1, ...CFG, metrics, log, batchFrames: 20, batchTimeoutMs: 400, script: hooks({ hang: 'sshd[61]' }),
      // Never called: the hung batch is not processed again, and the later ones have a worker.
      inline: () => {
        throw new Error('processed on the main thread');
      },
      deliver: (r) => got.push(r),
    });
    const t0 = Date.now();
    fs.forEach((f, i) => pool!.push(f, PEER_A, i));
    await pool.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(got.map((r) => r.receivedAtUs)).toEqual(fs.map((_, i) => i));
    // Frame 61's batch (60-79): stored as received, with the error; every other frame prepared by a worker.
    for (let i = 0; i < fs.length; i++) {
      const r = got[i]!;
      if (i >= 60 && i < 80) {
        expect(r instanceof PreparedRecord, `frame ${i}`).toBe(false);
        expect(r.format).toBe('unparsed');
        expect(r.parseError).toMatch(/stage worker did not finish its batch within 400 ms/);
        expect(r.raw.equals(fs[i]!.raw)).toBe(true);
      } else expect(r instanceof PreparedRecord, `frame ${i}`).toBe(true);
    }
    const failures = (await metrics.parseFailures.get()).values.find((v) => v.labels.reason === 'internal');
    expect(failures?.value).toBe(20);
    expect(pool.threads).toBe(0);
  });

  it('reports the raw bytes it holds (onHeld) and lets go of a batch before delivering it; reused input buffers carry the right frames', async () => {
    const fs = frames(600);
    const metrics = new Metrics({ defaultMetrics: false });
    const got: LedgerRecord[] = [];
    let held = 0;
    let pushed = 0;
    let maxHeld = 0;
    const heldAtDelivery: number[] = [];
    pool = new StagePool({
      workers: 1, ...CFG, metrics, log, batchFrames: 20,
      inline: (f, p, us) => toRecord(f, p, us, CFG, metrics),
      deliver: (r) => {
        got.push(r);
        heldAtDelivery.push(held);
      },
      onHeld: (n) => {
        held += n;
        maxHeld = Math.max(maxHeld, held);
      },
    });
    const rawBefore: number[] = [];
    // Three rounds, the later ones after the worker gave the first round's input buffers back.
    for (const [from, to] of [[0, 200], [200, 400], [400, 600]] as const) {
      for (let i = from; i < to; i++) {
        rawBefore.push(pushed);
        pushed += fs[i]!.raw.length;
        pool.push(fs[i]!, PEER_A, i);
      }
      // Every batch delivered so far is let go of; the rest is held.
      const delivered = got.length < rawBefore.length ? rawBefore[got.length]! : pushed;
      expect(held).toBe(pushed - delivered);
      for (let t = 0; t < 200 && got.length < to; t++) await new Promise((r) => setTimeout(r, 20));
    }
    await pool.close();
    expect(held).toBe(0);
    expect(maxHeld).toBeGreaterThan(0);
    // When frame i is delivered, its own bytes are no longer counted.
    for (let i = 0; i < fs.length; i++) expect(heldAtDelivery[i]).toBeLessThanOrEqual(pushed - rawBefore[i]! - fs[i]!.raw.length);
    for (let i = 0; i < fs.length; i++) expect(got[i]!.raw.equals(toRecord(fs[i]!, PEER_A, i, CFG, new Metrics({ defaultMetrics: false })).raw)).toBe(true);
  });

  it('close() ends every thread it started', async () => {
    const before = threads();
    const metrics = new Metrics({ defaultMetrics: false });
    pool = new StagePool({ workers: 2, ...CFG, metrics, log, inline: (f, p, us) => toRecord(f, p, us, CFG, metrics), deliver: () => {} });
    for (const f of frames(100)) pool.push(f, PEER_A, 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(threads()).toBeGreaterThan(before);
    await pool.close();
    pool = undefined;
    let after = threads();
    for (let i = 0; i < 50 && after > before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = threads();
    }
    expect(after).toBe(before);
  });
});
