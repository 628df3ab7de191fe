/**
 * Brute force and password spraying over failed logons (Authentication 3002 / Logon / Failure),
 * counting attempts, not lines: a line that repeats an attempt counted elsewhere (`repeat_of`: sshd's
 * `Invalid user`, PAM's `authentication failure`) is skipped, and a line standing for several
 * (`message repeated 5 times`, OCSF `count`) counts that many.
 *
 *   brute_force_user     >= per_user failed attempts for one user name within `window`
 *   brute_force_source   >= per_source failed attempts from one source IP within `window`
 *   password_spraying    >= spraying_users distinct user names failing from one source within `spraying_window`
 */
import type { BruteForceConfig } from '../config.js';
import { isFailedLogon, type Observed, type Ref } from '../event.js';
import { human, type RuleContext, type RuleModule } from '../rule.js';
import { Lru, SlidingWindow } from '../state.js';

interface Spray {
  /** user -> last failure (time, row), oldest first. */
  readonly users: Map<string, { t: number; ref: Ref }>;
}

export function bruteForce(cfg: BruteForceConfig, maxKeys: number, maxRefs: number): RuleModule {
  const byUser = new Lru<string, SlidingWindow>(maxKeys);
  const bySource = new Lru<string, SlidingWindow>(maxKeys);
  const spray = new Lru<string, Spray>(maxKeys);
  const maxUsers = Math.max(16, cfg.sprayingUsers * 4);

  function count(map: Lru<string, SlidingWindow>, key: string, o: Observed, threshold: number): SlidingWindow | null {
    const w = map.upsert(key, () => new SlidingWindow(cfg.windowMs, Math.max(64, threshold * 4)));
    w.add(o.t, o.count, o.ref);
    return w.total >= threshold ? w : null;
  }

  return {
    name: 'brute_force',
    classes: [3002],
    size: () => byUser.size + bySource.size + spray.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (!isFailedLogon(o)) return;
      if (o.user !== null) {
        const w = count(byUser, o.user, o, cfg.perUser);
        if (w !== null) {
          ctx.fire(
            {
              rule: 'brute_force_user',
              key: o.user,
              title: 'Brute force against an account',
              message: `${w.total} failed logins for user "${o.user}" within ${human(cfg.windowMs)} (threshold ${cfg.perUser})`,
              severityId: 3,
              time: o.t,
              firstTime: w.first ?? o.t,
              host: o.host,
              refs: w.refs(maxRefs),
              count: w.total,
              user: o.user,
              ip: o.ip,
              details: { threshold: cfg.perUser, window_ms: cfg.windowMs },
            },
            cfg.cooldownMs,
          );
        }
      }
      if (o.ip === null) return;
      const w = count(bySource, o.ip, o, cfg.perSource);
      if (w !== null) {
        ctx.fire(
          {
            rule: 'brute_force_source',
            key: o.ip,
            title: 'Brute force from one source',
            message: `${w.total} failed logins from ${o.ip} within ${human(cfg.windowMs)} (threshold ${cfg.perSource})`,
            severityId: 3,
            time: o.t,
            firstTime: w.first ?? o.t,
            host: o.host,
            refs: w.refs(maxRefs),
            count: w.total,
            ip: o.ip,
            details: { threshold: cfg.perSource, window_ms: cfg.windowMs },
          },
          cfg.cooldownMs,
        );
      }
      if (o.user === null) return;
      const s = spray.upsert(o.ip, () => ({ users: new Map() }));
      s.users.delete(o.user);
      s.users.set(o.user, { t: o.t, ref: o.ref });
      const limit = o.t - cfg.sprayingWindowMs;
      for (const [u, v] of s.users) {
        if (v.t > limit && s.users.size <= maxUsers) break;
        s.users.delete(u);
      }
      if (s.users.size >= cfg.sprayingUsers) {
        const entries = [...s.users];
        ctx.fire(
          {
            rule: 'password_spraying',
            key: o.ip,
            title: 'Password spraying: one source, many accounts',
            message: `${entries.length} different users failed to log in from ${o.ip} within ${human(cfg.sprayingWindowMs)} (threshold ${cfg.sprayingUsers})`,
            severityId: 3,
            time: o.t,
            firstTime: entries[0]![1].t,
            host: o.host,
            refs: entries.slice(-maxRefs).map(([, v]) => v.ref),
            count: entries.length,
            ip: o.ip,
            details: { threshold: cfg.sprayingUsers, window_ms: cfg.sprayingWindowMs, users: entries.slice(-maxRefs).map(([u]) => u) },
          },
          cfg.cooldownMs,
        );
      }
    },
  };
}
