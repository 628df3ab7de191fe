/** The contract between the detector and its rule modules (src/detect/rules/). */
import type { DetectionConfig } from './config.js';
import type { Observed } from './event.js';
import type { Detection, DetectionRule } from './finding.js';

export interface RuleContext {
  readonly config: DetectionConfig;
  /**
   * Reports a detection. Returns false when a finding for the same rule and key was written less
   * than `cooldownMs` ago (suppressed), else true. While the detector replays the ledger at start
   * nothing is written, and the answer is what it would have been live, so rules keep the same state.
   */
  fire(d: Detection, cooldownMs: number): boolean;
  /**
   * True while a finding for `rule` and `key` is cooling down at time `t` (what `fire` would
   * suppress), counted as suppressed. Rules ask before building a detection: under a sustained
   * attack most triggers are suppressed, and building each one costs (bench/ingest.ts).
   */
  cooling(rule: DetectionRule, key: string, t: number, cooldownMs: number): boolean;
  /** True once the detector has history enough (config `warmup`) for "never seen" to mean something at time `t`. */
  warm(t: number): boolean;
}

export interface RuleModule {
  /** The config section it implements (`brute_force`, ...). */
  readonly name: string;
  /** OCSF classes it looks at; events of other classes never reach it. */
  readonly classes: readonly number[];
  observe(o: Observed, ctx: RuleContext): void;
  /** Keys held (users, sources, ...), summed over its maps: bounded by `max_keys` per map. */
  size(): number;
}

/** `5m`, `2h`, `30s` for messages. */
export function human(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}
