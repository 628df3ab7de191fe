/**
 * shadow-utils (useradd, userdel, usermod, groupadd, groupdel, groupmod, passwd, chpasswd, gpasswd,
 * chage, chfn, chsh, newusers) and Debian's adduser/deluser wrappers -> Account Change 3001 and
 * Group Management 3006. The rules are matched on the text, not the program, because useradd also
 * writes `new group:` and userdel `remove group`.
 *
 * Privilege grants: adding a user to one of PRIVILEGED_GROUPS is 3006 / 3 Add User with
 * `privileges: [<group>]` (removing: 3006 / 4 with the same), so views can find grants without
 * knowing every group name. Lines that restate a change already counted (`group added to /etc/gshadow`,
 * `add 'u' to shadow group 'g'`) carry `repeat_of: 'shadow'`.
 */
import type { FamilyInput, Mapping, Rule } from '../mapping.js';
import { put, runRules, user } from '../mapping.js';
import type { StatusId } from '../ocsf.js';
import { toInt } from '../text.js';

const PRODUCT = 'shadow-utils';

/** Membership of these groups grants administrative rights on common Linux distributions. */
export const PRIVILEGED_GROUPS: ReadonlySet<string> = new Set(['sudo', 'wheel', 'adm', 'root']);

interface Change {
  name?: string | undefined;
  uid?: string | undefined;
  group?: string | undefined;
  gid?: string | undefined;
  actor?: string | undefined;
  detail?: string | undefined;
  activityName?: string;
  repeat?: boolean;
  unmapped?: Record<string, unknown>;
}

function actorOf(i: FamilyInput, name: string | undefined): Record<string, unknown> | undefined {
  const actor: Record<string, unknown> = {};
  if (name) actor.user = user(name);
  const pid = toInt(i.pid);
  if (pid !== undefined) actor.process = { name: i.program || 'shadow-utils', pid };
  return actor.user !== undefined || actor.process !== undefined ? actor : undefined;
}

function account(rule: string, i: FamilyInput, activity: number, status: StatusId, c: Change): Mapping {
  const attrs: Record<string, unknown> = {};
  if (c.name) attrs.user = user(c.name, c.uid);
  const actor = actorOf(i, c.actor);
  if (actor !== undefined) attrs.actor = actor;
  const m: Mapping = { rule, class_uid: 3001, activity_id: activity, status_id: status, product: PRODUCT, attrs };
  finish(m, c);
  return m;
}

function group(rule: string, i: FamilyInput, activity: number, status: StatusId, c: Change): Mapping {
  const attrs: Record<string, unknown> = {};
  const g: Record<string, unknown> = {};
  put(g, 'name', c.group);
  put(g, 'uid', c.gid);
  attrs.group = g;
  if (c.name) attrs.user = user(c.name);
  if ((activity === 3 || activity === 4 || activity === 99) && c.group && PRIVILEGED_GROUPS.has(c.group)) attrs.privileges = [c.group];
  const actor = actorOf(i, c.actor);
  if (actor !== undefined) attrs.actor = actor;
  const m: Mapping = { rule, class_uid: 3006, activity_id: activity, status_id: status, product: PRODUCT, attrs };
  finish(m, c);
  return m;
}

function finish(m: Mapping, c: Change): void {
  if (m.activity_id === 99) m.activity_name = c.activityName ?? 'Other';
  if (c.detail) m.status_detail = c.detail;
  if (c.repeat) m.repeat_of = 'shadow';
  if (c.unmapped !== undefined) m.unmapped = c.unmapped;
}

// Quotes: shadow writes 'x' in new versions and `x' in old ones.
const Q = "[`']";

const RULES: readonly Rule[] = [
  {
    id: 'shadow.new_user',
    prefix: 'new user: ',
    re: /^new user: name=(.*?), (?:UID|uid)=(\d+), (?:GID|gid)=(\d+), home=(.*?), shell=(.*?)(?:, from=(.*?))?\s*$/,
    map: (m, i) => {
      const u: Record<string, unknown> = { gid: m[3], home: m[4], shell: m[5] };
      put(u, 'from', m[6]);
      return account('shadow.new_user', i, 1, 1, { name: m[1], uid: m[2], unmapped: u });
    },
  },
  {
    id: 'shadow.new_group',
    prefix: 'new group: ',
    re: /^new group: name=(.*?), (?:GID|gid)=(\d+)\s*$/,
    map: (m, i) => group('shadow.new_group', i, 6, 1, { group: m[1], gid: m[2] }),
  },
  {
    id: 'shadow.group_added_to_file',
    prefix: 'group added to ',
    re: /^group added to (\S+): name=(.*?)(?:, (?:GID|gid)=(\d+))?\s*$/,
    map: (m, i) => group('shadow.group_added_to_file', i, 6, 1, { group: m[2], gid: m[3], repeat: true, unmapped: { file: m[1] } }),
  },
  {
    id: 'shadow.failed_adding_user',
    prefix: 'failed adding user ',
    re: new RegExp(`^failed adding user ${Q}(.*)', (.*)$`),
    map: (m, i) => account('shadow.failed_adding_user', i, 1, 2, { name: m[1], detail: `failed adding user, ${m[2]}` }),
  },
  {
    id: 'shadow.delete_user',
    prefix: 'delete user ',
    re: new RegExp(`^delete user ${Q}(.*)'\\s*$`),
    map: (m, i) => account('shadow.delete_user', i, 6, 1, { name: m[1] }),
  },
  {
    id: 'shadow.user_removed',
    re: /^(?:user|account) (?:removed|deleted)(?: from (\S+))?: name=(.*?)\s*$/,
    map: (m, i) => account('shadow.user_removed', i, 6, 1, { name: m[2], repeat: m[1] !== undefined, ...(m[1] ? { unmapped: { file: m[1] } } : {}) }),
  },
  {
    id: 'shadow.remove_group',
    re: new RegExp(`^(?:delete|remove|removed) (shadow )?group ${Q}(.*?)'(?: owned by ${Q}(.*?)')?(?: \\((\\d+)\\))?\\s*$`),
    map: (m, i) => group('shadow.remove_group', i, 5, 1, { group: m[2], gid: m[4], repeat: m[1] !== undefined, ...(m[3] ? { unmapped: { owner: m[3] } } : {}) }),
  },
  {
    id: 'shadow.group_removed',
    re: new RegExp(`^group (?:${Q}(.*?)' removed(?: from (\\S+))?|(?:deleted|removed)(?: from (\\S+))?: name=(.*?))\\s*$`),
    map: (m, i) => {
      const file = m[2] ?? m[3];
      return group('shadow.group_removed', i, 5, 1, { group: m[1] ?? m[4], repeat: file !== undefined, ...(file ? { unmapped: { file } } : {}) });
    },
  },
  {
    id: 'shadow.membership',
    re: new RegExp(`^(add|delete) ${Q}(.*?)' (?:to|from) (shadow )?group ${Q}(.*?)'\\s*$`),
    map: (m, i) => group(m[1] === 'add' ? 'shadow.add_to_group' : 'shadow.delete_from_group', i, m[1] === 'add' ? 3 : 4, 1, { name: m[2], group: m[4], repeat: m[3] !== undefined }),
  },
  {
    id: 'shadow.gpasswd_membership',
    prefix: 'user ',
    re: /^user (\S+) (added|removed) by (\S+) (?:to|from) group (\S+)\s*$/,
    map: (m, i) => group(m[2] === 'added' ? 'shadow.gpasswd_add' : 'shadow.gpasswd_remove', i, m[2] === 'added' ? 3 : 4, 1, { name: m[1], actor: m[3], group: m[4] }),
  },
  {
    id: 'shadow.gpasswd_members_set',
    prefix: 'members of group ',
    re: /^members of group (\S+) set by (\S+) to (.*?)\s*$/,
    map: (m, i) => group('shadow.gpasswd_members_set', i, 99, 1, { group: m[1], actor: m[2], activityName: 'Set Members', unmapped: { members: m[3]!.split(',').filter((x) => x !== '') } }),
  },
  {
    id: 'shadow.gpasswd_group_change',
    re: /^(administrators of group (\S+) set by (\S+) to (.*?)|group (\S+) password (?:changed|removed) by (\S+))\s*$/,
    map: (m, i) => group('shadow.gpasswd_group_change', i, 99, 1, { group: m[2] ?? m[5], actor: m[3] ?? m[6], activityName: 'Update', detail: m[1] }),
  },
  {
    id: 'shadow.rename_user',
    re: new RegExp(`^change user name ${Q}(.*?)' to ${Q}(.*?)'\\s*$`),
    map: (m, i) => account('shadow.rename_user', i, 99, 1, { name: m[2], activityName: 'Rename', unmapped: { old_name: m[1] } }),
  },
  {
    id: 'shadow.lock_user',
    re: new RegExp(`^(lock|unlock) user ${Q}(.*?)' password\\s*$`),
    map: (m, i) => account(m[1] === 'lock' ? 'shadow.lock_user' : 'shadow.unlock_user', i, m[1] === 'lock' ? 9 : 2, 1, { name: m[2] }),
  },
  {
    id: 'shadow.change_user_password',
    re: new RegExp(`^change user ${Q}(.*?)' password\\s*$`),
    map: (m, i) => account('shadow.change_user_password', i, 4, 1, { name: m[1] }),
  },
  {
    id: 'shadow.change_user',
    re: new RegExp(`^changed? user ${Q}(.*?)' (.*?)\\s*$`),
    map: (m, i) => account('shadow.change_user', i, 99, 1, { name: m[1], activityName: 'Update', detail: m[2] }),
  },
  {
    id: 'shadow.password_changed_by',
    re: new RegExp(`^password for ${Q}(.*?)' changed by ${Q}(.*?)'\\s*$`),
    map: (m, i) => account('shadow.password_changed_by', i, m[1] === m[2] ? 3 : 4, 1, { name: m[1], actor: m[2] }),
  },
  {
    id: 'shadow.password_state',
    re: new RegExp(`^(locked|unlocked|expired|deleted|changed) password for ${Q}?(.*?)'?\\s*$`),
    map: (m, i) => {
      const act = m[1] === 'locked' ? 9 : m[1] === 'unlocked' ? 2 : m[1] === 'changed' ? 3 : 99;
      return account(`shadow.password_${m[1]}`, i, act, 1, { name: m[2], activityName: m[1] === 'expired' ? 'Expire Password' : 'Delete Password' });
    },
  },
  {
    id: 'shadow.password_expiry',
    re: /^changed password expiry for (\S+)\s*$/,
    map: (m, i) => account('shadow.password_expiry', i, 99, 1, { name: m[1], activityName: 'Update', detail: 'changed password expiry' }),
  },
];

const GROUP_PROGRAMS = new Set(['groupadd', 'groupdel', 'groupmod', 'gpasswd', 'addgroup', 'delgroup', 'grpck', 'grpconv']);
const QUOTED = /[`']([^`']+)'/;
const NAMED = /\bname=([^,\s]+)/;
const FAILED = /fail|error|cannot|unable|invalid|not exist|does not|already exists|denied|bad /i;

export function shadow(input: FamilyInput): Mapping {
  const hit = runRules(RULES, input);
  if (hit !== null) return hit;
  // Catch-all for the family: an account or group change we have no specific rule for.
  const msg = input.msg;
  const q = QUOTED.exec(msg) ?? NAMED.exec(msg);
  const status: StatusId = FAILED.test(msg) ? 2 : 0;
  const c: Change = { activityName: 'Other', detail: msg };
  if (GROUP_PROGRAMS.has(input.program) || /\bgroup\b/.test(msg)) return group('shadow.other', input, 99, status, { ...c, group: q?.[1] });
  return account('shadow.other', input, 99, status, { ...c, name: q?.[1] });
}
