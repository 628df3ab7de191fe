/** A small micro-benchmark harness: warm up, then time whole passes over the inputs; report the median. */

export interface OpsResult {
  readonly name: string;
  /** Operations (events) per second on one core, median of the rounds. */
  readonly opsPerSec: number;
  readonly rounds: readonly number[];
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
  const roundMs = o.roundMs ?? Number(process.env.BENCH_ROUND_MS ?? 400);
  const rounds = o.rounds ?? 3;
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
  return { name, opsPerSec: sorted[Math.floor(sorted.length / 2)]!, rounds: rates, unit };
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
