/**
 * su: shadow-utils (`Successful su for R by U`, `FAILED su for R by U`, sulog `+ tty U-R` / `- tty U-R`,
 * `Authentication failed for R`), util-linux (`(to R) U on tty`, `FAILED SU (to R) U on tty`), BSD
 * (`U to R on tty`, `BAD SU U to R on tty`). All -> Authentication 3002 / 7 Account Switch
 * (account_switch_type_id 1 Substitute User): user = target R, actor.user = invoker U.
 * The line su writes itself counts the switch; `Authentication failed for R` and `pam_authenticate: ...`
 * (and pam_unix(su:*) lines, pam.ts) repeat it.
 */
import type { FamilyInput, Mapping, Rule } from '../mapping.js';
import { runRules, user } from '../mapping.js';
import { ACCOUNT_SWITCH_SUBSTITUTE_USER, type StatusId } from '../ocsf.js';
import { toInt } from '../text.js';

const PRODUCT = 'su';
const SERVICE = Object.freeze({ name: 'su' });

function sw(rule: string, i: FamilyInput, status: StatusId, target: string | undefined, by: string | undefined, tty?: string, detail?: string, repeat?: boolean): Mapping {
  const attrs: Record<string, unknown> = {};
  if (target) attrs.user = user(target);
  const actor: Record<string, unknown> = {};
  if (by) actor.user = user(by);
  if (tty) actor.session = { terminal: tty };
  const pid = toInt(i.pid);
  if (pid !== undefined) actor.process = { name: 'su', pid };
  if (actor.user !== undefined || actor.session !== undefined || actor.process !== undefined) attrs.actor = actor;
  attrs.service = SERVICE;
  attrs.account_switch_type_id = ACCOUNT_SWITCH_SUBSTITUTE_USER;
  const m: Mapping = { rule, class_uid: 3002, activity_id: 7, status_id: status, product: PRODUCT, attrs };
  if (detail) m.status_detail = detail;
  if (repeat) m.repeat_of = 'su';
  return m;
}

/** `ab-dc-root` -> [`ab-dc`, `root`]: user names may contain `-`; the target is after the last one. */
function splitPair(s: string): [string, string] {
  const i = s.lastIndexOf('-');
  return i <= 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

const RULES: readonly Rule[] = [
  { id: 'su.successful', prefix: 'Successful su for ', re: /^Successful su for (\S+) by (\S+)\s*$/, map: (m, i) => sw('su.successful', i, 1, m[1], m[2]) },
  { id: 'su.failed', prefix: 'FAILED su for ', re: /^FAILED su for (\S+) by (\S+)\s*$/, map: (m, i) => sw('su.failed', i, 2, m[1], m[2], undefined, 'FAILED su') },
  {
    id: 'su.util_linux',
    re: /^(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)\s*$/,
    map: (m, i) => (m[1] ? sw('su.util_linux_failed', i, 2, m[2], m[3], m[4], 'FAILED SU') : sw('su.util_linux', i, 1, m[2], m[3], m[4])),
  },
  {
    id: 'su.sulog',
    re: /^([+-]) (\S+) (\S+-\S*)\s*$/,
    map: (m, i) => {
      const [by, target] = splitPair(m[3]!);
      return m[1] === '+' ? sw('su.sulog', i, 1, target, by, m[2]) : sw('su.sulog_failed', i, 2, target, by, m[2], 'FAILED su');
    },
  },
  { id: 'su.auth_failed', prefix: 'Authentication failed for ', re: /^Authentication failed for (\S+)\s*$/, map: (m, i) => sw('su.auth_failed', i, 2, m[1], undefined, undefined, 'Authentication failed', true) },
  { id: 'su.pam_authenticate', prefix: 'pam_authenticate: ', re: /^pam_authenticate: (.*)$/, map: (m, i) => sw('su.pam_authenticate', i, 2, undefined, undefined, undefined, m[1], true) },
  { id: 'su.bad_su', prefix: 'BAD SU ', re: /^BAD SU (\S+) to (\S+)(?: on (\S+))?\s*$/, map: (m, i) => sw('su.bad_su', i, 2, m[2], m[1], m[3], 'BAD SU') },
  { id: 'su.bad_su_bsd', prefix: 'BAD su ', re: /^BAD su (\S+)(?: to (\S+))? on (\S+)\s*$/, map: (m, i) => sw('su.bad_su', i, 2, m[2], m[1], m[3], 'BAD su') },
  { id: 'su.changing', prefix: 'failed: ', re: /^failed: (\S+) changing from (\S+) to (\S+)\s*$/, map: (m, i) => sw('su.changing_failed', i, 2, m[3], m[2], m[1], 'failed') },
  { id: 'su.bsd', re: /^(\S+) to (\S+) on (\S+)\s*$/, map: (m, i) => sw('su.bsd', i, 1, m[2], m[1], m[3]) },
];

export function su(input: FamilyInput): Mapping {
  const hit = runRules(RULES, input);
  if (hit !== null) return hit;
  const u = /\buser [`']([^`']+)'|\buser=(\S+)/.exec(input.msg);
  const m = sw('su.other', input, /fail|error|denied|bad/i.test(input.msg) ? 2 : 0, u ? (u[1] ?? u[2]) : undefined, undefined);
  m.activity_id = 99;
  m.activity_name = 'Other';
  delete m.attrs.account_switch_type_id;
  return m;
}
