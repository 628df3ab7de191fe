/**
 * new_login_network: a successful logon from a network (/24 IPv4, /48 IPv6 by default) never seen for
 * that user within the learning window: the offline stand-in for "unusual location". Quiet for users
 * with fewer than `min_history` logins seen, and until the detector is warm. At most one finding per
 * user per `cooldown` (a user roaming over many networks is one finding, not a flood). Service
 * accounts are left to service_account_new_source.
 */
import type { DetectionConfig } from '../config.js';
import { isSuccessfulLogon, type Observed } from '../event.js';
import { networkOf, v4Slash24 } from '../network.js';
import { type RuleContext, type RuleModule } from '../rule.js';
import { Lru } from '../state.js';
import { serviceAccountMatcher } from './service-account.js';

/** Networks remembered per user; the least recently used go first. */
const MAX_NETWORKS_PER_USER = 64;

interface UserNets {
  /** network -> last seen: an IPv4 /24 as a number (v4Slash24), anything else as its text. */
  readonly nets: Map<number | string, number>;
  logins: number;
}

export function newNetwork(config: DetectionConfig): RuleModule {
  const cfg = config.newNetwork;
  const isService = serviceAccountMatcher(config);
  const users = new Lru<string, UserNets>(config.maxKeys);
  return {
    name: 'new_network',
    classes: [3002],
    size: () => users.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (!isSuccessfulLogon(o) || o.user === null || o.ip === null || isService(o.user)) return;
      const v4 = cfg.ipv4Prefix === 24 ? v4Slash24(o.ip) : -1;
      const net = v4 >= 0 ? v4 : networkOf(o.ip, cfg.ipv4Prefix, cfg.ipv6Prefix, true);
      if (net === null) return;
      const u = users.upsert(o.user, () => ({ nets: new Map(), logins: 0 }));
      const last = u.nets.get(net);
      const known = last !== undefined && o.t - last <= config.learningWindowMs;
      const history = u.logins;
      u.nets.delete(net);
      u.nets.set(net, last === undefined ? o.t : Math.max(last, o.t));
      if (u.nets.size > MAX_NETWORKS_PER_USER) u.nets.delete(u.nets.keys().next().value!);
      u.logins++;
      if (known || history < cfg.minHistory || !ctx.warm(o.t) || ctx.cooling('new_login_network', o.user, o.t, cfg.cooldownMs)) return;
      const network = typeof net === 'number' ? networkOf(o.ip, 24, cfg.ipv6Prefix, true)! : net;
      ctx.fire(
        {
          rule: 'new_login_network',
          key: o.user,
          title: 'Login from a network new for this user',
          message: `user "${o.user}" logged in from ${o.ip} (${network}), a network not seen for this user in the learning window`,
          severityId: 2,
          time: o.t,
          firstTime: o.t,
          host: o.host,
          refs: [o.ref],
          user: o.user,
          ip: o.ip,
          details: { network, known_networks: u.nets.size - 1, learning_window_ms: config.learningWindowMs },
        },
        cfg.cooldownMs,
      );
    },
  };
}
