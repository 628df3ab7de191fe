/**
 * systemd-logind sessions (`New session 3 of user alice.`, `Removed session 3.`) -> Authentication
 * 3002 Logon/Logoff; systemd's `Started Session 3 of User alice.` restates logind's line
 * (`repeat_of: 'logind'`). Other logind/systemd lines (seats, power keys, units) are not
 * authentication: they stay Base Events (null here).
 */
import type { FamilyInput, Mapping, Rule } from '../mapping.js';
import { runRules, user } from '../mapping.js';
import type { StatusId } from '../ocsf.js';

function session(rule: string, activity: number, status: StatusId, id: string | undefined, name: string | undefined, repeat: boolean): Mapping {
  const attrs: Record<string, unknown> = {};
  if (name) attrs.user = user(name);
  if (id) attrs.session = { uid: id };
  attrs.service = { name: 'systemd-logind' };
  const m: Mapping = { rule, class_uid: 3002, activity_id: activity, status_id: status, product: 'systemd-logind', attrs };
  if (repeat) m.repeat_of = 'logind';
  return m;
}

const LOGIND: readonly Rule[] = [
  { id: 'logind.new_session', prefix: 'New session ', re: /^New session (\S+) of user (.+?)\.?\s*$/, map: (m) => session('logind.new_session', 1, 1, m[1], m[2], false) },
  { id: 'logind.removed_session', prefix: 'Removed session ', re: /^Removed session (\S+?)\.?\s*$/, map: (m) => session('logind.removed_session', 2, 1, m[1], undefined, false) },
  { id: 'logind.logged_out', prefix: 'Session ', re: /^Session (\S+) logged out\. Waiting for processes to exit\.\s*$/, map: (m) => session('logind.logged_out', 2, 1, m[1], undefined, true) },
  {
    id: 'logind.session_failed',
    prefix: 'Failed to ',
    re: /^Failed to (?:start|create|stop|release|mark) (?:session|scope)(?: scope)?\s*(session-(\S+?)\.scope)?.*$/,
    map: (m) => {
      const ev = session('logind.session_failed', 99, 2, m[2], undefined, false);
      ev.activity_name = 'Session Error';
      ev.status_detail = m[0];
      return ev;
    },
  },
];

export function logind(input: FamilyInput): Mapping | null {
  return runRules(LOGIND, input);
}

const SYSTEMD: readonly Rule[] = [
  { id: 'systemd.started_session', prefix: 'Started Session ', re: /^Started Session (\S+) of [Uu]ser (.+?)\.?\s*$/, map: (m) => session('systemd.started_session', 1, 1, m[1], m[2], true) },
  { id: 'systemd.new_session', prefix: 'New session ', re: /^New session (\S+) of user (.+?)\.?\s*$/, map: (m) => session('systemd.new_session', 1, 1, m[1], m[2], false) },
  {
    id: 'systemd.session_scope_failed',
    prefix: 'Failed to ',
    re: /^Failed to (?:start|create|stop|release|mark) (?:session )?scope (session-(\S+?)\.scope).*$/,
    map: (m) => {
      const ev = session('systemd.session_scope_failed', 99, 2, m[2], undefined, false);
      ev.activity_name = 'Session Error';
      ev.status_detail = m[0];
      return ev;
    },
  },
];

export function systemd(input: FamilyInput): Mapping | null {
  const m = runRules(SYSTEMD, input);
  if (m !== null) m.product = 'systemd';
  return m;
}
