/**
 * success_after_failures: a successful logon from a source IP that failed at least `failures` times
 * within `window` before it: the guess that worked. The failures are counted as brute_force counts
 * them (attempts, not lines), and forgotten once they led to a finding or a success.
 */
import type { SuccessAfterFailuresConfig } from '../config.js';
import { isFailedLogon, isSuccessfulLogon, type Observed } from '../event.js';
import { human, type RuleContext, type RuleModule } from '../rule.js';
import { Lru, SlidingWindow } from '../state.js';

export function successAfterFailures(cfg: SuccessAfterFailuresConfig, maxKeys: number, maxRefs: number): RuleModule {
  const failures = new Lru<string, SlidingWindow>(maxKeys);
  return {
    name: 'success_after_failures',
    classes: [3002],
    size: () => failures.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (o.ip === null) return;
      if (isFailedLogon(o)) {
        failures.upsert(o.ip, () => new SlidingWindow(cfg.windowMs, Math.max(64, cfg.failures * 4))).add(o);
        return;
      }
      if (!isSuccessfulLogon(o)) return;
      const w = failures.peek(o.ip);
      if (w === undefined) return;
      w.prune(o.t);
      const n = w.total;
      if (n >= cfg.failures && !ctx.cooling('success_after_failures', o.ip, o.t, cfg.cooldownMs)) {
        ctx.fire(
          {
            rule: 'success_after_failures',
            key: o.ip,
            title: 'Successful login after many failures from the same source',
            message: `user "${o.user ?? '?'}" logged in from ${o.ip} after ${n} failed attempts from it within ${human(cfg.windowMs)}`,
            severityId: 4,
            time: o.t,
            firstTime: w.first ?? o.t,
            host: o.host,
            refs: [...w.refs(maxRefs - 1), o.ref],
            count: n,
            user: o.user,
            ip: o.ip,
            details: { threshold: cfg.failures, window_ms: cfg.windowMs },
          },
          cfg.cooldownMs,
        );
      }
      failures.delete(o.ip);
    },
  };
}
