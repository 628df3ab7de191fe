/**
 * Hostile frames on one core: every adversarial body of bench/lib/adversarial.ts (built from each
 * redaction rule's structure), in every parser's format, with secrets planted, through what the
 * listener runs per frame (toRecord: parse, normalize, lift) and the redactor. The table gives the
 * worst frame per rule, each frame's figure the best of REPS runs (so a GC or another process's
 * slice in one run does not count).
 *
 * Two figures per run: the wall time the main thread was held, and the time on one core: per run,
 * the smaller of the wall time and the process's CPU time. Each is an upper bound of the CPU time
 * the main thread spent on the frame (the wall time also counts slices other processes took on a
 * loaded machine; the process CPU time also counts V8's compiler and GC threads), so the smaller
 * one is too. The bound (under 5 ms for a 64 KiB frame, docs/redaction.md) is asserted on it; on a
 * quiet machine the two agree.
 *
 * Run alone: BENCH_ONLY=redact npm run bench (BENCH_REDACT_REPS, default 5).
 */
import type { LedgerRecord } from '../src/ledger/types.js';
import { Metrics } from '../src/metrics/registry.js';
import { toRecord } from '../src/stages.js';
import { defaultRedactionConfig } from '../src/redact/config.js';
import { redactionKeyFrom } from '../src/redact/key.js';
import { Redactor } from '../src/redact/redactor.js';
import { adversarialBodies, PLANTED, withPlanted, wrap, WRAPPERS, type Wrapper } from './lib/adversarial.js';
import { BENCH_PEER } from './stages.js';

/** The bound docs/redaction.md promises per 64 KiB frame, on one core. */
export const FRAME_BUDGET_MS = 5;

export interface RedactWorst {
  readonly rule: string;
  readonly frames: number;
  /** Time on one core (the smaller of wall and process CPU time per run), best of the runs, worst frame. */
  readonly worstMs: number;
  readonly medianMs: number;
  /** Wall time held, best of the runs, worst frame. */
  readonly worstWallMs: number;
  readonly shape: string;
  readonly wrapper: Wrapper;
  readonly frameBytes: number;
}

export interface RedactReport {
  readonly frames: number;
  readonly reps: number;
  readonly perRule: RedactWorst[];
  readonly leaks: string[];
  readonly pass: boolean;
}

const CFG = { format: 'auto', timeZone: 'UTC' } as const;
const MAX_FRAME = 64 * 1024;

export function benchRedaction(reps = Number(process.env.BENCH_REDACT_REPS ?? '5')): RedactReport {
  const metrics = new Metrics({ defaultMetrics: false });
  const redactor = new Redactor(defaultRedactionConfig(), redactionKeyFrom(Buffer.alloc(32, 3)), metrics);
  const one = (text: string): { ms: number; wall: number; out: LedgerRecord } => {
    // What the server would process: a frame over --max-frame-size (64 KiB) is cut there.
    const whole = Buffer.from(text, 'utf8');
    const raw = whole.length > MAX_FRAME ? whole.subarray(0, MAX_FRAME) : whole;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const rec = toRecord({ raw, body: raw, truncated: false, framing: 'lf' }, BENCH_PEER, Date.now() * 1000, CFG, metrics);
    const out = redactor.redact(rec);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return { ms: Math.min(wall, (cpu.user + cpu.system) / 1000), wall, out };
  };
  // Warm the JIT on a few frames of each shape family first.
  const bodies = adversarialBodies(64 * 1024 - 1024);
  for (const b of bodies.slice(0, 50)) one(wrap('rfc5424', withPlanted(b.text)));

  const byRule = new Map<string, { times: number[]; worstWall: number; worst: { ms: number; shape: string; wrapper: Wrapper; bytes: number } }>();
  const leaks: string[] = [];
  let frames = 0;
  for (const b of bodies) {
    for (const wrapper of WRAPPERS) {
      const text = wrap(wrapper, withPlanted(b.text));
      let best = Infinity;
      let bestWall = Infinity;
      let out: LedgerRecord | undefined;
      for (let i = 0; i < reps; i++) {
        const r = one(text);
        best = Math.min(best, r.ms);
        bestWall = Math.min(bestWall, r.wall);
        out = r.out;
      }
      frames++;
      const stored = (out!.raw.toString('latin1') + JSON.stringify(out!.event)).replace(/\\u00([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      for (const p of PLANTED) if (stored.includes(p.marker)) leaks.push(`${b.rule} ${b.shape} ${wrapper}: ${p.rule}`);
      const e = byRule.get(b.rule) ?? { times: [], worstWall: 0, worst: { ms: -1, shape: '', wrapper, bytes: 0 } };
      e.times.push(best);
      e.worstWall = Math.max(e.worstWall, bestWall);
      if (best > e.worst.ms) e.worst = { ms: best, shape: b.shape, wrapper, bytes: Math.min(MAX_FRAME, Buffer.byteLength(text)) };
      byRule.set(b.rule, e);
    }
  }
  const perRule: RedactWorst[] = [...byRule].map(([rule, e]) => {
    const sorted = [...e.times].sort((x, y) => x - y);
    return { rule, frames: e.times.length, worstMs: e.worst.ms, medianMs: sorted[sorted.length >> 1]!, worstWallMs: e.worstWall, shape: e.worst.shape, wrapper: e.worst.wrapper, frameBytes: e.worst.bytes };
  });
  return { frames, reps, perRule, leaks, pass: leaks.length === 0 && perRule.every((r) => r.worstMs < FRAME_BUDGET_MS) };
}

export function redactionTable(r: RedactReport): string[] {
  const L: string[] = [];
  L.push(`| hostile frames, one core: toRecord + redaction, ms on one core (${r.frames} frames of ~64 KiB, best of ${r.reps}) | frames | median ms | worst ms | worst wall ms | worst frame |`);
  L.push('|---|---:|---:|---:|---:|---|');
  for (const p of r.perRule) {
    const flag = p.worstMs < FRAME_BUDGET_MS ? '' : ` **over ${FRAME_BUDGET_MS} ms**`;
    L.push(`| ${p.rule === '*' ? 'all rules together' : p.rule} | ${p.frames} | ${p.medianMs.toFixed(2)} | ${p.worstMs.toFixed(2)}${flag} | ${p.worstWallMs.toFixed(2)} | ${p.wrapper} \`${p.shape.replace(/[|`]/g, '?')}\` (${p.frameBytes} B) |`);
  }
  L.push(`| secrets left unmasked | ${r.leaks.length} | | | | ${r.leaks.slice(0, 3).join('; ')} |`);
  L.push(`| verdict (every frame under ${FRAME_BUDGET_MS} ms on one core, nothing unmasked) | ${r.pass ? 'PASS' : 'FAIL'} | | | | |`);
  return L;
}
