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

/** Per source: its failures, and the user names they were for (spraying), oldest first. */
interface Source {
  readonly failures: SlidingWindow;
  readonly users: Array<{ user: string; t: number; ref: Ref }>;
}

export function bruteForce(cfg: BruteForceConfig, maxKeys: number, maxRefs: number): RuleModule {
  const byUser = new Lru<string, SlidingWindow>(maxKeys);
  const bySource = new Lru<string, Source>(maxKeys);
  const maxUsers = Math.max(16, cfg.sprayingUsers * 4);
  const userEntries = Math.max(64, cfg.perUser * 4);
  const sourceEntries = Math.max(64, cfg.perSource * 4);

  return {
    name: 'brute_force',
    classes: [3002],
    size: () => byUser.size + bySource.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (!isFailedLogon(o)) return;
      if (o.user !== null) {
        const w = byUser.upsert(o.user, () => new SlidingWindow(cfg.windowMs, userEntries));
        w.add(o);
        if (w.total >= cfg.perUser && !ctx.cooling('brute_force_user', o.user, o.t, cfg.cooldownMs)) {
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
      const s = bySource.upsert(o.ip, () => ({ failures: new SlidingWindow(cfg.windowMs, sourceEntries), users: [] }));
      const w = s.failures;
      w.add(o);
      if (w.total >= cfg.perSource && !ctx.cooling('brute_force_source', o.ip, o.t, cfg.cooldownMs)) {
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
      // Spraying: distinct user names failing from this source within the spraying window.
      const users = s.users;
      const limit = o.t - cfg.sprayingWindowMs;
      let keep = 0;
      for (let i = 0; i < users.length; i++) {
        const u = users[i]!;
        if (u.t > limit && u.user !== o.user) users[keep++] = u;
      }
      users.length = keep;
      users.push({ user: o.user, t: o.t, ref: o.ref });
      if (users.length > maxUsers) users.shift();
      if (users.length >= cfg.sprayingUsers && !ctx.cooling('password_spraying', o.ip, o.t, cfg.cooldownMs)) {
        const recent = users.slice(-maxRefs);
        ctx.fire(
          {
            rule: 'password_spraying',
            key: o.ip,
            title: 'Password spraying: one source, many accounts',
            message: `${users.length} different users failed to log in from ${o.ip} within ${human(cfg.sprayingWindowMs)} (threshold ${cfg.sprayingUsers})`,
            severityId: 3,
            time: o.t,
            firstTime: users[0]!.t,
            host: o.host,
            refs: recent.map((u) => u.ref),
            count: users.length,
            ip: o.ip,
            details: { threshold: cfg.sprayingUsers, window_ms: cfg.sprayingWindowMs, users: recent.map((u) => u.user) },
          },
          cfg.cooldownMs,
        );
      }
    },
  };
}
