/**
 * Privilege escalation:
 *   new_root_user         sudo (1007 Launch as a root user) or su (3002 Account Switch to it) by a user not
 *                         seen doing so within the learning window (quiet until the detector is warm)
 *   privileged_group_add  a user added to a privileged group (3006 Add User, or gpasswd's Set Members),
 *                         every time
 */
import type { DetectionConfig } from '../config.js';
import { at, switchTarget, textAt, type Observed } from '../event.js';
import { type RuleContext, type RuleModule } from '../rule.js';
import { Lru } from '../state.js';

export function privilegeEscalation(config: DetectionConfig): RuleModule {
  const cfg = config.privilegeEscalation;
  const roots = new Set(cfg.rootUsers);
  const groups = new Set(cfg.privilegedGroups.map((g) => g.toLowerCase()));
  /** invoker -> when last seen becoming root. */
  const known = new Lru<string, number>(config.maxKeys);

  function escalation(o: Observed, ctx: RuleContext): void {
    const sw = switchTarget(o);
    if (sw === null || !roots.has(sw.to) || roots.has(sw.by)) return;
    const last = known.get(sw.by);
    // Seen within the last hour: nothing to learn or find (and no map write per sudo).
    if (last !== undefined && o.t >= last && o.t - last < 3_600_000) return;
    known.set(sw.by, last === undefined ? o.t : Math.max(last, o.t));
    if (last !== undefined && o.t - last <= config.learningWindowMs) return;
    if (!ctx.warm(o.t)) return;
    const how = o.cls === 1007 ? `sudo ${textAt(o.event, 'process', 'cmd_line') ?? ''}`.trim() : 'su';
    ctx.fire(
      {
        rule: 'new_root_user',
        key: sw.by,
        title: 'First escalation to root by this user',
        message: `user "${sw.by}" became ${sw.to} (${how}) on ${o.host ?? 'an unknown host'}; not seen doing so in the learning window`,
        severityId: 3,
        time: o.t,
        firstTime: o.t,
        host: o.host,
        refs: [o.ref],
        user: sw.to,
        actor: sw.by,
        ip: o.ip,
        details: { target: sw.to, via: o.cls === 1007 ? 'sudo' : 'su', learning_window_ms: config.learningWindowMs },
      },
      0,
    );
  }

  function groupAdd(o: Observed, ctx: RuleContext): void {
    if (o.repeat || o.status === 2) return;
    const group = textAt(o.event, 'group', 'name');
    if (group === null || !groups.has(group.toLowerCase())) return;
    let members: string[];
    if (o.activity === 3 && o.user !== null) members = [o.user];
    else if (o.activity === 99) {
      const m = at(o.event, 'unmapped', 'members');
      members = Array.isArray(m) ? m.filter((x): x is string => typeof x === 'string') : [];
      if (members.length === 0) return;
    } else return;
    ctx.fire(
      {
        rule: 'privileged_group_add',
        key: `${group}:${members.join(',')}@${o.host ?? ''}:${o.ref.chain}:${o.ref.seq}`,
        title: 'User added to a privileged group',
        message: `${members.map((u) => `"${u}"`).join(', ')} added to group ${group} on ${o.host ?? 'an unknown host'}${o.actor ? ` by ${o.actor}` : ''}`,
        severityId: 4,
        time: o.t,
        firstTime: o.t,
        host: o.host,
        refs: [o.ref],
        user: members[0] ?? null,
        actor: o.actor,
        details: { group, members },
      },
      0,
    );
  }

  return {
    name: 'privilege_escalation',
    classes: [1007, 3002, 3006],
    size: () => known.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (o.cls === 3006) groupAdd(o, ctx);
      else escalation(o, ctx);
    },
  };
}
