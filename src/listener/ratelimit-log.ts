import type { Logger } from 'pino';

/**
 * Logs each distinct reason at most once per interval, with the number suppressed since: a flood of
 * bad handshakes must not become a flood of log lines (every one is still counted in metrics).
 */
export class RateLimitedLog {
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    readonly log: Logger,
    readonly intervalMs = 10_000,
  ) {}

  warn(reason: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.#last.get(reason);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    if (this.#last.size > 1000) this.#last.clear();
    this.#last.set(reason, { at: now, suppressed: 0 });
    this.log.warn({ reason, ...fields, ...(seen?.suppressed ? { suppressedSinceLast: seen.suppressed } : {}) }, msg);
  }
}
