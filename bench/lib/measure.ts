/**
 * A small micro-benchmark harness: warm up, then time whole passes over the inputs in several short
 * rounds. On a shared machine, other processes steal time from some rounds; the best round is the
 * closest to the undisturbed cost, so `opsPerSec` is the best round and `median` is kept beside it.
 */

export interface OpsResult {
  readonly name: string;
  /** Operations (events) per second on one core: the best round. */
  readonly opsPerSec: number;
  readonly rounds: readonly number[];
  readonly median?: number;
  /** What one operation is. */
  readonly unit?: string;
}

export interface MeasureOptions {
  /** Time per round, ms. */
  readonly roundMs?: number;
  readonly rounds?: number;
  readonly warmupMs?: number;
}

/**
 * Calls `pass()` repeatedly; each call does `opsPerPass` operations. Warm-up first (JIT), then
 * `rounds` rounds of at least `roundMs` each; returns the median ops/s.
 */
export function measure(name: string, opsPerPass: number, pass: () => unknown, o: MeasureOptions = {}, unit = 'event'): OpsResult {
  const roundMs = o.roundMs ?? Number(process.env.BENCH_ROUND_MS ?? 250);
  const rounds = o.rounds ?? Number(process.env.BENCH_ROUNDS ?? 7);
  let sink: unknown;
  const until = performance.now() + (o.warmupMs ?? roundMs);
  do sink = pass();
  while (performance.now() < until);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      sink = pass();
      ops += opsPerPass;
      t = performance.now();
    } while (t - t0 < roundMs);
    rates.push((ops * 1000) / (t - t0));
  }
  keep(sink);
  const sorted = [...rates].sort((a, b) => a - b);
  return { name, opsPerSec: sorted[sorted.length - 1]!, median: sorted[Math.floor(sorted.length / 2)]!, rounds: rates, unit };
}

/** Two implementations timed in alternating rounds (A B A B ...), so that noise hits both alike. */
export function compare(a: [string, () => unknown], b: [string, () => unknown], opsPerPass: number, o: MeasureOptions = {}): [OpsResult, OpsResult] {
  const rounds = o.rounds ?? Number(process.env.BENCH_ROUNDS ?? 7);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ra.push(measure(a[0], opsPerPass, a[1], { roundMs: o.roundMs, rounds: 1, warmupMs: r === 0 ? undefined : 20 }).opsPerSec);
    rb.push(measure(b[0], opsPerPass, b[1], { roundMs: o.roundMs, rounds: 1, warmupMs: r === 0 ? undefined : 20 }).opsPerSec);
  }
  const pack = (name: string, xs: number[]): OpsResult => {
    const sorted = [...xs].sort((x, y) => x - y);
    return { name, opsPerSec: sorted[sorted.length - 1]!, median: sorted[Math.floor(sorted.length / 2)]!, rounds: xs };
  };
  return [pack(a[0], ra), pack(b[0], rb)];
}

let kept: unknown;
/** Keeps a result reachable so the optimizer cannot drop the work. */
export function keep(x: unknown): void {
  kept = x;
  if (kept === Symbol.for('never')) console.log(kept);
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}
