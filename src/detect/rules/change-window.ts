/**
 * outside_change_window: an administrative action at a time no change window covers. Administrative
 * actions: events of the configured classes (default Account Change 3001, Entity Management 3004,
 * User Access Management 3005, Group Management 3006) that did not fail, and sudo to a root user.
 * Windows are cron-like schedules in a time zone (src/detect/cron.ts); with none configured the rule
 * is idle. One finding per actor and host per `cooldown`.
 */
import type { DetectionConfig } from '../config.js';
import { switchTarget, type Observed } from '../event.js';
import { type RuleContext, type RuleModule } from '../rule.js';
import { nameMatcher } from '../state.js';

export function changeWindow(config: DetectionConfig): RuleModule {
  const cfg = config.changeWindow;
  const classes = new Set(cfg.classes);
  const roots = new Set(config.privilegeEscalation.rootUsers);
  const ignored = nameMatcher([], cfg.ignoreActors);
  return {
    name: 'change_window',
    classes: [...new Set([...cfg.classes, ...(cfg.includeSudo ? [1007] : [])])],
    size: () => 0,
    observe(o: Observed, ctx: RuleContext): void {
      if (cfg.windows.length === 0) return;
      let actor: string | null;
      const sudo = !classes.has(o.cls);
      if (!sudo) {
        if (o.status === 2 || o.repeat) return;
        actor = o.actor;
      } else if (cfg.includeSudo && o.cls === 1007) {
        const sw = switchTarget(o);
        if (sw === null || !roots.has(sw.to)) return;
        actor = sw.by;
      } else return;
      for (const w of cfg.windows) if (w.matches(o.t)) return;
      if (actor !== null && ignored(actor)) return;
      const key = `${actor ?? '?'}@${o.host ?? '?'}`;
      if (ctx.cooling('outside_change_window', key, o.t, cfg.cooldownMs)) return;
      let what = sudo
        ? `sudo ${String((o.event.process as { cmd_line?: unknown } | undefined)?.cmd_line ?? '')}`.trim()
        : String(o.event.activity_name ?? o.event.class_name ?? o.cls);
      if (!sudo && o.user) what += ` ${o.user}`;
      ctx.fire(
        {
          rule: 'outside_change_window',
          key,
          title: 'Administrative action outside the change window',
          message: `${actor ? `user "${actor}"` : 'an unknown user'}: ${what} on ${o.host ?? 'an unknown host'} at ${new Date(o.t).toISOString()}, outside every change window`,
          severityId: 3,
          time: o.t,
          firstTime: o.t,
          host: o.host,
          refs: [o.ref],
          actor,
          user: o.user,
          details: { windows: cfg.windows.map((w) => ({ cron: w.source, time_zone: w.timeZone })), class_uid: o.cls },
        },
        cfg.cooldownMs,
      );
    },
  };
}
