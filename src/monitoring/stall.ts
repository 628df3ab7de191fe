import type { Metrics } from '../metrics/registry.js';

/**
 * Pipeline stall detection (docs/metrics.md, "Stalls"): events received but not committed for
 * longer than a threshold, whatever the cause (database down, lock, a writer bug). Backpressure
 * keeps the queue bounded; this notices that the queue does not move.
 */
export interface StallDetectorOptions {
  /** Receive time (µs since the epoch) of the oldest event not yet committed; null when none waits. The writer's `oldestPendingUs`. */
  readonly oldestUncommittedUs: () => number | null;
  /** Seconds the oldest event may wait before the pipeline counts as stalled. Default 60. */
  readonly thresholdSec?: number;
  /** Clock in ms since the epoch. */
  readonly now?: () => number;
}

export interface StallState {
  /** Age of the oldest uncommitted event in seconds; 0 when none waits. */
  readonly ageSec: number;
  readonly stalled: boolean;
  /** True when `stalled` differs from the previous tick: log it once. */
  readonly changed: boolean;
}

export class StallDetector {
  readonly #metrics: Metrics;
  readonly #oldest: () => number | null;
  readonly #thresholdSec: number;
  readonly #now: () => number;
  #stalled = false;

  constructor(metrics: Metrics, opts: StallDetectorOptions) {
    this.#metrics = metrics;
    this.#oldest = opts.oldestUncommittedUs;
    this.#thresholdSec = opts.thresholdSec ?? 60;
    this.#now = opts.now ?? Date.now;
    metrics.oldestUncommittedAge.set(0);
    metrics.pipelineStalled.set(0);
  }

  /** Updates `syslog_ledger_oldest_uncommitted_age_seconds` and `syslog_ledger_pipeline_stalled`. Call once a second. */
  tick(): StallState {
    const oldest = this.#oldest();
    const ageSec = oldest === null ? 0 : Math.max(0, (this.#now() * 1000 - oldest) / 1e6);
    const stalled = ageSec > this.#thresholdSec;
    const changed = stalled !== this.#stalled;
    this.#stalled = stalled;
    this.#metrics.oldestUncommittedAge.set(ageSec);
    this.#metrics.pipelineStalled.set(stalled ? 1 : 0);
    return { ageSec, stalled, changed };
  }
}
