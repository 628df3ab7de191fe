/**
 * Service accounts (a configured list of names and `*` patterns):
 *   service_account_interactive  a successful logon with a method a person types (password,
 *                                keyboard-interactive) or at a console (logon_type_id 2), or someone
 *                                else su-ing to it (or sudo -u with a terminal)
 *   service_account_new_source   a successful logon from a source IP not seen for that account within
 *                                the learning window (quiet until the detector is warm; one finding per
 *                                account per `cooldown`)
 * With no accounts configured the rule is idle.
 */
import type { DetectionConfig } from '../config.js';
import { isSuccessfulLogon, switchTarget, terminalOf, textAt, type Observed } from '../event.js';
import { type RuleContext, type RuleModule } from '../rule.js';
import { Lru, nameMatcher } from '../state.js';

export function serviceAccounts(config: DetectionConfig): RuleModule {
  const cfg = config.serviceAccounts;
  const isService = nameMatcher(cfg.accounts, cfg.patterns);
  const ignored = nameMatcher(cfg.ignoreActors);
  const methods = new Set(cfg.interactiveMethods.map((m) => m.toLowerCase()));
  /** `account\0ip` -> last seen. */
  const sources = new Lru<string, number>(config.maxKeys);

  function interactive(o: Observed, ctx: RuleContext, account: string, how: string, by: string | null): void {
    const key = `${account}:${by ?? o.ip ?? o.host ?? '?'}`;
    if (ctx.cooling('service_account_interactive', key, o.t, cfg.cooldownMs)) return;
    ctx.fire(
      {
        rule: 'service_account_interactive',
        key,
        title: 'Service account used interactively',
        message: `service account "${account}" ${how} on ${o.host ?? 'an unknown host'}`,
        severityId: 4,
        time: o.t,
        firstTime: o.t,
        host: o.host,
        refs: [o.ref],
        user: account,
        actor: by,
        ip: o.ip,
        details: { how },
      },
      cfg.cooldownMs,
    );
  }

  return {
    name: 'service_accounts',
    classes: [1007, 3002],
    size: () => sources.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (isSuccessfulLogon(o)) {
        const account = o.user;
        if (account === null || !isService(account)) return;
        const method = textAt(o.event, 'auth_protocol');
        if (o.event.logon_type_id === 2) interactive(o, ctx, account, 'logged in at a console', null);
        else if (method !== null && methods.has(method.toLowerCase())) interactive(o, ctx, account, `logged in with ${method}${o.ip ? ` from ${o.ip}` : ''}`, null);
        if (o.ip === null) return;
        const k = `${account}\0${o.ip}`;
        const last = sources.get(k);
        sources.set(k, o.t);
        if (last !== undefined && o.t - last <= config.learningWindowMs) return;
        if (!ctx.warm(o.t) || ctx.cooling('service_account_new_source', account, o.t, cfg.cooldownMs)) return;
        ctx.fire(
          {
            rule: 'service_account_new_source',
            key: account,
            title: 'Service account logged in from a new source',
            message: `service account "${account}" logged in from ${o.ip}, not seen for it in the learning window`,
            severityId: 3,
            time: o.t,
            firstTime: o.t,
            host: o.host,
            refs: [o.ref],
            user: account,
            ip: o.ip,
            details: { learning_window_ms: config.learningWindowMs },
          },
          cfg.cooldownMs,
        );
        return;
      }
      const sw = switchTarget(o);
      if (sw === null || sw.by === sw.to || !isService(sw.to) || ignored(sw.by)) return;
      if (o.cls === 1007 && terminalOf(o.event) === null) return;
      interactive(o, ctx, sw.to, `was switched to by "${sw.by}" (${o.cls === 1007 ? 'sudo' : 'su'})`, sw.by);
    },
  };
}

/** The service-account matcher of a config (new_network leaves these accounts to this rule). */
export function serviceAccountMatcher(config: DetectionConfig): (name: string) => boolean {
  return config.serviceAccounts.enabled ? nameMatcher(config.serviceAccounts.accounts, config.serviceAccounts.patterns) : () => false;
}
