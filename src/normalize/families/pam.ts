/**
 * Linux-PAM module messages, whatever program logs them:
 *   `<svc>[pid]: pam_unix(<svc>:<type>): <text>`      (current Linux-PAM)
 *   `<svc>(pam_unix)[pid]: <text>`                    (RHEL 4 era, `sub` = pam_unix)
 *   `<svc>[pid]: (pam_unix) <text>`
 * auth/account failures -> Authentication 3002 failure (activity 7 Account Switch for su/sudo, else
 * 1 Logon); sessions -> 3002 Logon/Logoff (or 7 for su/sudo); chauthtok -> Account Change 3001/3.
 *
 * Repeat marking: a PAM failure is the PAM layer's record of an attempt the service logs itself
 * (sshd `Failed ...`, sudo `N incorrect password attempts`, su `FAILED su`, login `FAILED LOGIN`), so
 * for those services it carries `repeat_of: <service family>`. For other services the PAM line is the
 * only record and counts; `check pass; user unknown` and `N more authentication failures` repeat the
 * module's own `authentication failure` line (`repeat_of: 'pam'`).
 */
import type { FamilyInput, Mapping } from '../mapping.js';
import { endpoint, put, user } from '../mapping.js';
import { ACCOUNT_SWITCH_SUBSTITUTE_USER, LOGON_TYPE, type StatusId } from '../ocsf.js';
import { toInt } from '../text.js';
import { pamKv } from './sshd.js';

const PRODUCT = 'Linux-PAM';

/** Services whose own log line counts an authentication attempt; PAM's record of it repeats that line. */
const REPEAT_OF: Readonly<Record<string, string>> = {
  sshd: 'sshd', 'sshd-session': 'sshd', sudo: 'sudo', 'sudo-i': 'sudo', su: 'su', 'su-l': 'su', login: 'login',
};

/** Services that switch the acting user: OCSF 3002 activity 7 (Account Switch, Substitute User). */
const SWITCH = new Set(['su', 'su-l', 'sudo', 'sudo-i', 'runuser', 'runuser-l', 'doas']);

/** `logon_type_id` by PAM service (docs/ocsf.md). */
const LOGON_TYPES: Readonly<Record<string, number>> = {
  sshd: LOGON_TYPE.remoteInteractive, 'sshd-session': LOGON_TYPE.remoteInteractive, 'xrdp-sesman': LOGON_TYPE.remoteInteractive,
  login: LOGON_TYPE.interactive, gdm: LOGON_TYPE.interactive, 'gdm-password': LOGON_TYPE.interactive, lightdm: LOGON_TYPE.interactive,
  sddm: LOGON_TYPE.interactive, xdm: LOGON_TYPE.interactive, kdm: LOGON_TYPE.interactive,
  cron: LOGON_TYPE.batch, crond: LOGON_TYPE.batch, CRON: LOGON_TYPE.batch, atd: LOGON_TYPE.batch,
  'systemd-user': LOGON_TYPE.service,
  vsftpd: LOGON_TYPE.network, proftpd: LOGON_TYPE.network, ftp: LOGON_TYPE.network, dovecot: LOGON_TYPE.network, imap: LOGON_TYPE.network,
};

const MODULE_RE = /^(pam_[\w-]+)\(([^:)]*):(\w+)\): ?(.*)$/s;

/** Entry for messages starting with `pam_`. Null when it is not `pam_x(svc:type): text`. */
export function pam(input: FamilyInput): Mapping | null {
  const m = MODULE_RE.exec(input.msg);
  if (m === null) {
    // e.g. "pam_ldap: error ..." without a (service:type) part: let the program's family decide.
    return null;
  }
  return pamText(input, m[1]!, m[2]! || input.program, m[3]!, m[4]!);
}

/** Entry for `svc(pam_unix)[pid]: text` and `svc[pid]: (pam_unix) text`. */
export function pamLegacy(input: FamilyInput): Mapping | null {
  let text = input.msg;
  let module = input.sub ?? 'pam_unix';
  if (text.startsWith('(pam_')) {
    const close = text.indexOf(') ');
    if (close < 0) return null;
    module = text.slice(1, close);
    text = text.slice(close + 2);
  }
  return pamText(input, module, input.program, null, text);
}

interface Outcome {
  rule: string;
  cls: 3001 | 3002;
  activity: number;
  status: StatusId;
  target?: string | undefined;
  actor?: string | undefined;
  actorUid?: string | undefined;
  detail?: string;
  repeat?: string | undefined;
  count?: number;
  kv?: Record<string, string>;
}

const AUTH_FAILURE = /^authentication failure; (.*)$/s;
const MORE_FAILURES = /^(\d+) more authentication failures?; (.*)$/s;
const SESSION_OPENED = /^session opened for user (.+?)(?:\(uid=(\d+)\))?(?: by (.*?)\(uid=(\d+)\))?\s*$/;
const SESSION_CLOSED = /^session closed for user (.+?)(?:\(uid=\d+\))?\s*$/;
const PASSWORD_CHANGED = /^password changed for (\S+)\s*$/;
const NOT_MET = /requirement "(.*)" not met by user "(.*)"/;
const LOCKED = /^Consecutive login failures for user (\S+) account temporarily locked/;
const USER_HINT = /\b(?:about|for|by|of) user ["'(]?([^\s"'(),]+)|\buser=["']?([^\s"'(),]+)/;

function classify(service: string, type: string | null, text: string): Outcome {
  const sw = SWITCH.has(service);
  const authActivity = sw ? 7 : 1;
  const serviceRepeat = REPEAT_OF[service];
  let m: RegExpExecArray | null;
  if ((m = AUTH_FAILURE.exec(text)) !== null) {
    const kv = pamKv(m[1]!);
    return { rule: 'pam.auth_failure', cls: 3002, activity: authActivity, status: 2, target: kv.user, actor: kv.ruser, actorUid: kv.uid, detail: 'authentication failure', repeat: serviceRepeat, kv };
  }
  if (text.startsWith('check pass; user unknown')) {
    return { rule: 'pam.user_unknown', cls: 3002, activity: authActivity, status: 2, detail: 'user unknown', repeat: serviceRepeat ?? 'pam' };
  }
  if ((m = SESSION_OPENED.exec(text)) !== null) {
    let by = m[3];
    if (by === 'LOGIN') by = undefined; // login(1)'s utmp placeholder, not a user
    // sshd's `Accepted`, su's own line and sudo's COMMAND line already record this session's start.
    const repeat = service === 'sshd' || service === 'sshd-session' ? 'sshd' : sw && (serviceRepeat === 'su' || serviceRepeat === 'sudo') ? serviceRepeat : undefined;
    return { rule: 'pam.session_opened', cls: 3002, activity: sw ? 7 : 1, status: 1, target: m[1], actor: by, actorUid: m[4], repeat };
  }
  if ((m = SESSION_CLOSED.exec(text)) !== null) {
    return { rule: 'pam.session_closed', cls: 3002, activity: 2, status: 1, target: m[1], repeat: service === 'sshd' || service === 'sshd-session' ? 'sshd' : undefined };
  }
  if ((m = MORE_FAILURES.exec(text)) !== null) {
    const kv = pamKv(m[2]!);
    return { rule: 'pam.more_failures', cls: 3002, activity: authActivity, status: 2, target: kv.user, actor: kv.ruser, actorUid: kv.uid, detail: `${m[1]} more authentication failures`, repeat: serviceRepeat ?? 'pam', kv };
  }
  if ((m = PASSWORD_CHANGED.exec(text)) !== null) {
    return { rule: 'pam.password_changed', cls: 3001, activity: service === 'chpasswd' || service === 'newusers' ? 4 : 3, status: 1, target: m[1] };
  }
  if (type === 'chauthtok' || type === 'password') {
    const u = USER_HINT.exec(text);
    return { rule: 'pam.chauthtok', cls: 3001, activity: 3, status: /chang|updat|success/i.test(text) && !/not|fail|error/i.test(text) ? 1 : 2, target: u?.[1] ?? u?.[2], detail: text };
  }
  if (text.startsWith('auth could not identify password for [')) {
    const name = text.slice(38, text.lastIndexOf(']'));
    return { rule: 'pam.no_password', cls: 3002, activity: authActivity, status: 2, target: name, detail: 'auth could not identify password', repeat: serviceRepeat };
  }
  if ((m = NOT_MET.exec(text)) !== null) {
    return { rule: 'pam.requirement_not_met', cls: 3002, activity: authActivity, status: 2, target: m[2], detail: `requirement "${m[1]}" not met`, repeat: serviceRepeat };
  }
  if ((m = LOCKED.exec(text)) !== null) {
    return { rule: 'pam.account_locked', cls: 3001, activity: 9, status: 1, target: m[1], detail: 'Consecutive login failures' };
  }
  // Anything else a module says: Authentication / Other, failure when it reads like one.
  const u = USER_HINT.exec(text);
  const failed = /fail|error|denied|unable|cannot|expired|invalid|not /i.test(text);
  return { rule: 'pam.other', cls: 3002, activity: 99, status: failed ? 2 : 0, target: u?.[1] ?? u?.[2], detail: text };
}

function pamText(input: FamilyInput, module: string, service: string, type: string | null, text: string): Mapping {
  const o = classify(service, type, text);
  const attrs: Record<string, unknown> = {};
  if (o.target) attrs.user = user(o.target);
  const actor: Record<string, unknown> = {};
  if (o.actor || o.actorUid) actor.user = user(o.actor, o.actorUid);
  const pid = toInt(input.pid);
  if (pid !== undefined) actor.process = { name: input.program || service, pid };
  if (actor.user !== undefined || actor.process !== undefined) attrs.actor = actor;
  if (o.cls === 3002) {
    attrs.service = { name: service };
    if (o.activity === 7) attrs.account_switch_type_id = ACCOUNT_SWITCH_SUBSTITUTE_USER;
    else if (o.activity === 1 || o.activity === 2) put(attrs, 'logon_type_id', LOGON_TYPES[service]);
    if (service === 'sshd' || service === 'sshd-session') attrs.is_remote = true;
  }
  const kv = o.kv;
  if (kv !== undefined) {
    const src = endpoint(kv.rhost);
    if (src !== undefined) attrs.src_endpoint = src;
  }
  const unmapped: Record<string, unknown> = { pam_module: module };
  if (type !== null) unmapped.pam_type = type;
  if (kv !== undefined) {
    put(unmapped, 'logname', kv.logname);
    put(unmapped, 'euid', kv.euid);
    put(unmapped, 'tty', kv.tty);
  }
  const out: Mapping = { rule: o.rule, class_uid: o.cls, activity_id: o.activity, status_id: o.status, product: PRODUCT, attrs, unmapped };
  if (o.activity === 99) out.activity_name = 'Other';
  if (o.detail) out.status_detail = o.detail;
  if (o.repeat !== undefined) out.repeat_of = o.repeat;
  return out;
}

/** `unix_chkpwd`, pam_unix's helper for unprivileged callers: its failure repeats the caller's pam_unix line. */
export function unixChkpwd(input: FamilyInput): Mapping | null {
  const m = /^password check failed for user \((.*)\)\s*$/.exec(input.msg);
  const attrs: Record<string, unknown> = { service: { name: 'unix_chkpwd' } };
  if (m !== null) {
    if (m[1]) attrs.user = user(m[1]);
    return { rule: 'pam.unix_chkpwd_failed', class_uid: 3002, activity_id: 1, status_id: 2, product: PRODUCT, attrs, status_detail: 'password check failed', repeat_of: 'pam' };
  }
  const u = USER_HINT.exec(input.msg);
  if (u) attrs.user = user(u[1] ?? u[2]);
  return { rule: 'pam.unix_chkpwd_other', class_uid: 3002, activity_id: 99, activity_name: 'Other', status_id: /fail|error/i.test(input.msg) ? 2 : 0, product: PRODUCT, attrs };
}
