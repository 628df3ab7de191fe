/**
 * Linux audit records -> OCSF, one record per event (records of one audit event share
 * `metadata.correlation_uid` = `SEC.MS:SERIAL`):
 *   user-space PAM/login records (USER_AUTH, USER_ACCT, USER_LOGIN/LOGOUT, USER_START/END, CRED_*,
 *   USER_ERR, LOGIN)                                  -> Authentication 3002 (7 Account Switch for su/sudo)
 *   ADD_USER, DEL_USER, USER_CHAUTHTOK, USER_MGMT       -> Account Change 3001 (group ops -> 3006)
 *   ADD_GROUP, DEL_GROUP, GRP_MGMT                      -> Group Management 3006
 *   USER_ROLE_CHANGE, ROLE_ASSIGN/REMOVE                -> Authorize Session 3003 / User Access Mgmt 3005
 *   USER_CMD, SYSCALL execve, EXECVE                    -> Process Activity 1007 / 1 Launch
 *   other SYSCALL                                       -> Kernel Activity 1003 / 4 Invoke
 *   PATH -> File System Activity 1001; SOCKADDR -> Network Activity 4001; DAEMON_*, CONFIG_CHANGE ->
 *   Event Log Activity 1008; SERVICE_*, SYSTEM_* -> Application Lifecycle 6002; AVC, SECCOMP, ANOM_*,
 *   TTY -> Process Activity 1007; NETFILTER_CFG, USYS_CONFIG -> Entity Management 3004.
 *   EOE (the end marker of a syscall event) -> Kernel Activity 1003 / 99; unknown types stay Base Events.
 *
 * Repeat marking: an sshd/login logon is counted on USER_LOGIN (success) and each failed attempt on
 * USER_AUTH; the other records of the same logon (USER_ACCT, CRED_*, USER_START/END, USER_ERR, LOGIN,
 * USER_LOGIN res=failed) and the auxiliary records of a syscall event (EXECVE, CWD, PATH, PROCTITLE,
 * SOCKADDR, ...) carry `repeat_of: 'auditd'`.
 */
import type { FamilyInput, Mapping } from '../mapping.js';
import { endpoint, put, statusOf, user } from '../mapping.js';
import { ACCOUNT_SWITCH_SUBSTITUTE_USER, LOGON_TYPE, type ClassUid, type StatusId } from '../ocsf.js';
import { basename, clean, toInt } from '../text.js';
import { decodeSockaddr, parseAuditRecord, syscallName, val, type AuditRecord } from './auditd-record.js';
import { PRIVILEGED_GROUPS } from './shadow.js';

const PRODUCT = 'Linux Audit';

/** Executables that switch user (3002 activity 7) and those that log a user in (USER_LOGIN counts). */
const SWITCH_EXES = new Set(['su', 'sudo', 'runuser', 'pkexec', 'doas', 'sg', 'newgrp']);
const LOGIN_EXES = new Set(['sshd', 'sshd-session', 'login', 'gdm-session-worker', 'lightdm', 'sddm-helper', 'xrdp-sesman', 'dropbear']);
const LOGON_TYPES: Readonly<Record<string, number>> = {
  sshd: LOGON_TYPE.remoteInteractive, 'sshd-session': LOGON_TYPE.remoteInteractive, dropbear: LOGON_TYPE.remoteInteractive,
  login: LOGON_TYPE.interactive, 'gdm-session-worker': LOGON_TYPE.interactive, lightdm: LOGON_TYPE.interactive,
  cron: LOGON_TYPE.batch, crond: LOGON_TYPE.batch, atd: LOGON_TYPE.batch, systemd: LOGON_TYPE.service,
};

interface Result {
  cls: ClassUid;
  activity: number;
  status: StatusId;
  activityName?: string;
  detail?: string;
  repeat?: boolean;
  attrs: Record<string, unknown>;
}

type Handler = (r: AuditRecord) => Result;

function exeName(f: Record<string, string>): string | undefined {
  const exe = val(f.exe);
  return exe !== undefined ? basename(exe.split(' ')[0]!.split(';')[0]!) : val(f.comm);
}

/** actor: the login uid (auid, with its enriched name) and the emitting process. */
function actorOf(f: Record<string, string>, withProcess: boolean): Record<string, unknown> | undefined {
  const actor: Record<string, unknown> = {};
  const auid = val(f.auid);
  const auName = val(f.AUID);
  if (auid !== undefined || auName !== undefined) actor.user = user(auName, auid);
  if (withProcess) {
    const proc = processOf(f);
    if (proc !== undefined) actor.process = proc;
  }
  return actor.user !== undefined || actor.process !== undefined ? actor : undefined;
}

function processOf(f: Record<string, string>): Record<string, unknown> | undefined {
  const p: Record<string, unknown> = {};
  const pid = toInt(val(f.pid));
  if (pid !== undefined) p.pid = pid;
  const comm = val(f.comm);
  const exe = val(f.exe);
  if (comm !== undefined) p.name = comm;
  else if (exe !== undefined) p.name = basename(exe);
  if (exe !== undefined) p.file = { path: exe, name: basename(exe) };
  return p.pid !== undefined || p.name !== undefined ? p : undefined;
}

function sessionOf(f: Record<string, string>): Record<string, unknown> | undefined {
  const s: Record<string, unknown> = {};
  put(s, 'uid', val(f.ses));
  put(s, 'terminal', val(f.terminal) ?? val(f.tty));
  return s.uid !== undefined || s.terminal !== undefined ? s : undefined;
}

function srcOf(f: Record<string, string>): Record<string, unknown> | undefined {
  const ep = endpoint(val(f.addr));
  const host = val(f.hostname);
  if (host !== undefined && (ep === undefined || (ep.ip !== host && ep.hostname === undefined))) {
    if (ep === undefined) return { hostname: host };
    ep.hostname = host;
  }
  return ep;
}

/** The account a PAM record is about: `acct` (hex-decoded), or the numeric `id`. */
function accountOf(f: Record<string, string>): { name?: string; uid?: string; invalid: boolean } {
  const acct = val(f.acct);
  if (acct === '(invalid user)') return { invalid: true };
  const out: { name?: string; uid?: string; invalid: boolean } = { invalid: false };
  if (acct !== undefined) out.name = acct;
  const id = val(f.id);
  if (id !== undefined) out.uid = id;
  return out;
}

/** 3002 for the PAM/login records. */
function authRecord(activityFor: (exe: string | undefined, sw: boolean) => number, repeatFor: (exe: string | undefined, status: StatusId, sw: boolean) => boolean): Handler {
  return (r) => {
    const f = r.f;
    const exe = exeName(f);
    const sw = exe !== undefined && SWITCH_EXES.has(exe);
    const status = statusOf(val(f.res));
    const activity = activityFor(exe, sw);
    const attrs: Record<string, unknown> = {};
    const acct = accountOf(f);
    if (acct.name !== undefined || acct.uid !== undefined) attrs.user = user(acct.name, acct.uid);
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    if (exe !== undefined) attrs.service = { name: exe };
    const src = srcOf(f);
    if (src !== undefined) attrs.src_endpoint = src;
    const session = sessionOf(f);
    if (session !== undefined) attrs.session = session;
    if (activity === 7) attrs.account_switch_type_id = ACCOUNT_SWITCH_SUBSTITUTE_USER;
    else if (exe !== undefined && (activity === 1 || activity === 2)) put(attrs, 'logon_type_id', LOGON_TYPES[exe]);
    if (src?.ip !== undefined) attrs.is_remote = true;
    const out: Result = { cls: 3002, activity, status, attrs, repeat: repeatFor(exe, status, sw) };
    const op = val(f.op);
    if (acct.invalid) out.detail = 'Invalid user';
    else if (op !== undefined && status === 2) out.detail = op;
    if (activity === 99) out.activityName = AUTH_OTHER_NAMES[r.type] ?? 'Other';
    return out;
  };
}

const AUTH_OTHER_NAMES: Readonly<Record<string, string>> = {
  CRED_REFR: 'Refresh Credentials', CRYPTO_SESSION: 'Crypto Session', CRYPTO_KEY_USER: 'Crypto Key', GRP_AUTH: 'Group Authentication',
};

const isLoginExe = (exe: string | undefined): boolean => exe !== undefined && LOGIN_EXES.has(exe);

function accountChange(activity: number, activityName?: string): Handler {
  return (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = {};
    const acct = accountOf(f);
    if (acct.name !== undefined || acct.uid !== undefined) attrs.user = user(acct.name, acct.uid);
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    const out: Result = { cls: 3001, activity, status: statusOf(val(f.res)), attrs };
    if (activityName !== undefined) out.activityName = activityName;
    return out;
  };
}

function groupChange(activity: number, repeat = false): Handler {
  return (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = {};
    const g: Record<string, unknown> = {};
    put(g, 'name', val(f.grp) ?? val(f.acct));
    put(g, 'uid', val(f.id));
    attrs.group = g;
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    const out: Result = { cls: 3006, activity, status: statusOf(val(f.res)), attrs, repeat };
    if (activity === 99) out.activityName = val(f.op) ?? 'Other';
    return out;
  };
}

/** USER_MGMT / GRP_MGMT `op=`: membership changes become 3006 Add/Remove User (privileged groups noted). */
const userMgmt: Handler = (r) => {
  const f = r.f;
  const op = (val(f.op) ?? '').toLowerCase();
  if (op.includes('group')) {
    const grp = val(f.grp);
    const adding = op.includes('add');
    const removing = op.includes('del') || op.includes('remov');
    if (grp !== undefined && (adding || removing) && (op.includes('user') || op.includes('member') || op.includes('to-group'))) {
      const attrs: Record<string, unknown> = { group: { name: grp } };
      const acct = accountOf(f);
      if (acct.name !== undefined || acct.uid !== undefined) attrs.user = user(acct.name, acct.uid);
      if (PRIVILEGED_GROUPS.has(grp)) attrs.privileges = [grp];
      const actor = actorOf(f, true);
      if (actor !== undefined) attrs.actor = actor;
      return { cls: 3006, activity: adding ? 3 : 4, status: statusOf(val(f.res)), attrs };
    }
    if (op.includes('shadow')) return groupChange(adding ? 6 : removing ? 5 : 99, true)(r);
    return groupChange(adding ? 6 : removing ? 5 : 99)(r);
  }
  if (op.includes('lock')) return accountChange(op.includes('unlock') ? 2 : 9)(r);
  if (op.includes('password') || op.includes('chauthtok')) return accountChange(4)(r);
  const res = accountChange(99, op || 'Update')(r);
  return res;
};

const EXEC_SYSCALLS = new Set(['execve', 'execveat']);

const syscall: Handler = (r) => {
  const f = r.f;
  const name = val(f.SYSCALL) ?? syscallName(f.arch, f.syscall);
  const status: StatusId = f.success === 'yes' ? 1 : f.success === 'no' ? 2 : 0;
  const proc = processOf(f) ?? {};
  const uid = val(f.uid);
  const uname = val(f.UID);
  if (uid !== undefined || uname !== undefined) proc.user = user(uname, uid);
  const ppid = toInt(val(f.ppid));
  if (ppid !== undefined) proc.parent_process = { pid: ppid };
  const actor = actorOf(f, false);
  const session = sessionOf(f);
  if (name !== undefined && EXEC_SYSCALLS.has(name)) {
    const attrs: Record<string, unknown> = { process: proc };
    if (actor !== undefined) attrs.actor = actor;
    if (session !== undefined) attrs.session = session;
    return { cls: 1007, activity: 1, status, attrs };
  }
  const attrs: Record<string, unknown> = { kernel: { name: name ?? `syscall ${f.syscall ?? '?'}`, type_id: 2, type: 'System Call' } };
  const a: Record<string, unknown> = actor ?? {};
  a.process = proc;
  attrs.actor = a;
  if (session !== undefined) attrs.session = session;
  return { cls: 1003, activity: 4, status, attrs };
};

const execve: Handler = (r) => {
  const f = r.f;
  const argc = toInt(f.argc) ?? 0;
  const args: string[] = [];
  for (let k = 0; k < argc && k < 1024; k++) {
    const a = f[`a${k}`];
    if (a === undefined) break;
    args.push(a);
  }
  const proc: Record<string, unknown> = { cmd_line: args.join(' ') };
  if (args[0] !== undefined) proc.name = basename(args[0]);
  return { cls: 1007, activity: 1, status: 0, attrs: { process: proc }, repeat: true };
};

function processAux(activityName: string, build: (f: Record<string, string>) => Record<string, unknown>): Handler {
  return (r) => ({ cls: 1007, activity: 99, activityName, status: 0, attrs: { process: build(r.f) }, repeat: true });
}

const PATH_ACTIVITY: Readonly<Record<string, number>> = { CREATE: 1, DELETE: 4 };
const path: Handler = (r) => {
  const f = r.f;
  const nametype = val(f.nametype) ?? val(f.objtype);
  const activity = (nametype !== undefined ? PATH_ACTIVITY[nametype] : undefined) ?? 99;
  const file: Record<string, unknown> = {};
  const name = val(f.name);
  if (name !== undefined) {
    file.path = name;
    file.name = basename(name) || name;
  }
  put(file, 'type', nametype);
  const out: Result = { cls: 1001, activity, status: 0, attrs: { file }, repeat: true };
  if (activity === 99) out.activityName = 'Path';
  return out;
};

const sockaddr: Handler = (r) => {
  const sa = decodeSockaddr(r.f.saddr ?? '');
  const attrs: Record<string, unknown> = {};
  if (sa !== undefined) {
    const ep: Record<string, unknown> = {};
    if (sa.ip !== undefined) ep.ip = sa.ip;
    if (sa.port !== undefined) ep.port = sa.port;
    if (sa.path !== undefined) ep.path = clean(sa.path);
    if (Object.keys(ep).length > 0) attrs.dst_endpoint = ep;
  }
  return { cls: 4001, activity: 99, activityName: 'Socket Address', status: 0, attrs, repeat: true };
};

function lifecycle(activity: number): Handler {
  return (r) => {
    const f = r.f;
    const unit = val(f.unit);
    const attrs: Record<string, unknown> = { app: { name: unit ?? exeName(f) ?? 'system' } };
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    const out: Result = { cls: 6002, activity, status: statusOf(val(f.res)), attrs };
    if (activity === 99) out.activityName = r.type === 'SYSTEM_RUNLEVEL' ? 'Change Runlevel' : 'Other';
    return out;
  };
}

function eventLog(activity: number, name?: string): Handler {
  return (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = {};
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    const out: Result = { cls: 1008, activity, status: statusOf(val(f.res)), attrs };
    if (activity === 99) out.activityName = name ?? val(f.op) ?? 'Configuration Change';
    return out;
  };
}

function processEvent(activity: number, activityName: string, statusFn: (f: Record<string, string>) => StatusId): Handler {
  return (r) => {
    const f = r.f;
    const proc = processOf(f) ?? {};
    const attrs: Record<string, unknown> = { process: proc };
    const actor = actorOf(f, false);
    if (actor !== undefined) attrs.actor = actor;
    const out: Result = { cls: 1007, activity, status: statusFn(f), attrs };
    if (activity === 99) out.activityName = activityName;
    return out;
  };
}

const avcStatus = (f: Record<string, string>): StatusId => {
  const a = f.apparmor;
  if (a !== undefined) return a === 'DENIED' ? 2 : a === 'ALLOWED' || a === 'AUDIT' ? 1 : 0;
  const raw = f.avc ?? '';
  return raw.includes('denied') || f.denied !== undefined ? 2 : f.granted !== undefined ? 1 : 2;
};

function entity(activity: number, type: string, nameOf: (f: Record<string, string>) => string | undefined): Handler {
  return (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = { entity: { name: nameOf(f) ?? type, type } };
    const actor = actorOf(f, true);
    if (actor !== undefined) attrs.actor = actor;
    return { cls: 3004, activity, status: statusOf(val(f.res)) || (r.type === 'NETFILTER_CFG' ? 1 : 0), attrs };
  };
}

const userCmd: Handler = (r) => {
  const f = r.f;
  const proc: Record<string, unknown> = {};
  put(proc, 'cmd_line', val(f.cmd));
  put(proc, 'working_directory', val(f.cwd));
  const uid = val(f.uid);
  if (uid !== undefined) proc.user = user(val(f.UID), uid);
  const attrs: Record<string, unknown> = { process: proc };
  const actor = actorOf(f, false) ?? {};
  const pid = toInt(val(f.pid));
  if (pid !== undefined) actor.process = { pid, name: exeName(f) ?? 'sudo' };
  attrs.actor = actor;
  const session = sessionOf(f);
  if (session !== undefined) attrs.session = session;
  return { cls: 1007, activity: 1, status: statusOf(val(f.res)), attrs };
};

const roleChange = (cls: 3003 | 3005, activity: number): Handler => (r) => {
  const f = r.f;
  const attrs: Record<string, unknown> = {};
  const acct = accountOf(f);
  if (acct.name !== undefined || acct.uid !== undefined) attrs.user = user(acct.name, acct.uid);
  else {
    const auid = val(f.auid);
    if (auid !== undefined) attrs.user = user(val(f.AUID), auid);
  }
  const actor = actorOf(f, true);
  if (actor !== undefined) attrs.actor = actor;
  const role = val(f['selected-context']) ?? val(f.role) ?? val(f['new-role']);
  if (role !== undefined) attrs.privileges = [role];
  return { cls, activity, status: statusOf(val(f.res)), attrs };
};

const switchOr = (other: number) => (_exe: string | undefined, sw: boolean): number => (sw ? 7 : other);

const HANDLERS: Readonly<Record<string, Handler>> = {
  // A successful sshd/login authentication is counted on USER_LOGIN, a successful sudo on USER_CMD.
  USER_AUTH: authRecord(switchOr(1), (exe, status) => status === 1 && (isLoginExe(exe) || exe === 'sudo')),
  USER_ACCT: authRecord(switchOr(1), (_exe, status) => status !== 2),
  USER_LOGIN: authRecord(() => 1, (_exe, status) => status === 2),
  USER_LOGOUT: authRecord(() => 2, () => false),
  USER_START: authRecord(switchOr(1), (exe, _status, sw) => sw || isLoginExe(exe)),
  USER_END: authRecord(() => 2, (exe) => isLoginExe(exe)),
  CRED_ACQ: authRecord(switchOr(1), () => true),
  CRED_REFR: authRecord(() => 99, () => true),
  CRED_DISP: authRecord(() => 2, () => true),
  USER_ERR: authRecord(switchOr(1), () => true),
  GRP_AUTH: authRecord(() => 99, () => false),
  CRYPTO_SESSION: authRecord(() => 99, () => true),
  CRYPTO_KEY_USER: authRecord(() => 99, () => true),
  CRYPTO_LOGIN: authRecord(() => 1, (_exe, status) => status !== 2),
  CRYPTO_LOGOUT: authRecord(() => 2, () => true),
  LOGIN: (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = {};
    const auid = val(f.auid);
    if (auid !== undefined) attrs.user = user(val(f.AUID), auid);
    const session = sessionOf(f);
    if (session !== undefined) attrs.session = session;
    const proc = processOf(f);
    if (proc !== undefined) attrs.actor = { process: proc };
    return { cls: 3002, activity: 1, status: statusOf(val(f.res)) || 1, attrs, repeat: true };
  },
  USER_CMD: userCmd,
  ADD_USER: accountChange(1),
  DEL_USER: accountChange(6),
  USER_CHAUTHTOK: (r) => {
    const res = accountChange(3)(r);
    // Password Reset when the enriched login user differs from the account changed.
    const acct = val(r.f.acct);
    const by = val(r.f.AUID);
    if (acct !== undefined && by !== undefined && acct !== by) res.activity = 4;
    return res;
  },
  USER_MGMT: userMgmt,
  ACCT_LOCK: accountChange(9),
  ACCT_UNLOCK: accountChange(2),
  ADD_GROUP: groupChange(6),
  DEL_GROUP: groupChange(5),
  GRP_MGMT: userMgmt,
  GRP_CHAUTHTOK: groupChange(99),
  USER_ROLE_CHANGE: roleChange(3003, 3),
  ROLE_ASSIGN: roleChange(3005, 3),
  ROLE_REMOVE: roleChange(3005, 4),
  SYSCALL: syscall,
  EXECVE: execve,
  PROCTITLE: processAux('Process Title', (f) => {
    const p: Record<string, unknown> = {};
    put(p, 'cmd_line', val(f.proctitle));
    return p;
  }),
  CWD: processAux('Working Directory', (f) => {
    const p: Record<string, unknown> = {};
    put(p, 'working_directory', val(f.cwd));
    return p;
  }),
  BPRM_FCAPS: processAux('File Capabilities', () => ({})),
  PATH: path,
  SOCKADDR: sockaddr,
  DAEMON_START: eventLog(6),
  DAEMON_END: eventLog(7),
  DAEMON_ABORT: eventLog(7),
  DAEMON_CONFIG: eventLog(99, 'Reconfigure'),
  DAEMON_ROTATE: eventLog(5),
  DAEMON_RESUME: eventLog(6),
  CONFIG_CHANGE: eventLog(99),
  SERVICE_START: lifecycle(3),
  SERVICE_STOP: lifecycle(4),
  SYSTEM_BOOT: lifecycle(3),
  SYSTEM_SHUTDOWN: lifecycle(4),
  SYSTEM_RUNLEVEL: lifecycle(99),
  AVC: processEvent(99, 'Access Control', avcStatus),
  USER_AVC: processEvent(99, 'Access Control', avcStatus),
  SECCOMP: processEvent(99, 'Seccomp', () => 0),
  ANOM_ABEND: processEvent(2, 'Terminate', () => 2),
  ANOM_PROMISCUOUS: (r) => {
    const f = r.f;
    const attrs: Record<string, unknown> = { src_endpoint: { interface_name: val(f.dev) ?? 'unknown' } };
    const actor = actorOf(f, false);
    if (actor !== undefined) attrs.actor = actor;
    return { cls: 4001, activity: 99, activityName: f.prom === '0' ? 'Promiscuous Mode Off' : 'Promiscuous Mode On', status: 1, attrs };
  },
  TTY: processEvent(99, 'TTY Input', () => 0),
  USER_TTY: processEvent(99, 'TTY Input', () => 0),
  NETFILTER_CFG: entity(3, 'Netfilter Table', (f) => val(f.table)),
  USYS_CONFIG: entity(3, 'System Configuration', (f) => val(f.op)),
  // EOE closes a multi-record kernel (syscall) event; the SYSCALL record of the same id names the call.
  EOE: () => ({ cls: 1003, activity: 99, activityName: 'End of Event', status: 0, attrs: { kernel: { name: 'syscall', type_id: 2, type: 'System Call' } }, repeat: true }),
  TIME_INJOFFSET: () => ({ cls: 1003, activity: 99, activityName: 'Clock Adjustment', status: 1, attrs: { kernel: { name: 'clock', type_id: 2, type: 'System Call' } }, repeat: true }),
  TIME_ADJNTPVAL: (r) => ({ cls: 1003, activity: 99, activityName: 'Clock Adjustment', status: 1, attrs: { kernel: { name: val(r.f.op) ?? 'adjtimex', type_id: 2, type: 'System Call' } }, repeat: true }),
};

/** Maps the record at the start of `text`; null when `text` is not an audit record. */
export function auditRecord(text: string, input: FamilyInput): Mapping | null {
  const r = parseAuditRecord(text);
  if (r === null) return null;
  const h = HANDLERS[r.type];
  const f = r.f;
  const unmapped: Record<string, unknown> = { audit_type: r.type };
  // Every field of the record, decoded (values are cut from cleaned text or cleaned by decodeHex):
  // the OCSF attributes above are a projection of these.
  unmapped.audit = f;
  let m: Mapping;
  if (h === undefined) {
    m = { rule: 'auditd.unknown', class_uid: 0, activity_id: 0, status_id: 0, product: PRODUCT, attrs: {}, unmapped };
  } else {
    const res = h(r);
    m = { rule: `auditd.${r.type.toLowerCase()}`, class_uid: res.cls, activity_id: res.activity, status_id: res.status, product: PRODUCT, attrs: res.attrs, unmapped };
    if (res.activityName !== undefined) m.activity_name = res.activityName;
    if (res.detail !== undefined) m.status_detail = res.detail;
    if (res.repeat) m.repeat_of = 'auditd';
  }
  m.time = r.timeMs;
  m.correlation_uid = r.id;
  if (r.node !== undefined) m.hostname = clean(r.node);
  return m;
}

/** Entry for programs that forward audit records (auditd, audispd, audisp-syslog, audit). */
export function auditd(input: FamilyInput): Mapping | null {
  return auditRecord(input.msg, input);
}

/** Kernel lines: only `audit: type=...` ones are audit records. */
export function kernel(input: FamilyInput): Mapping | null {
  const msg = input.msg;
  const at = msg.indexOf('audit: type=');
  if (at < 0 || at > 20) return null;
  return auditRecord(msg.slice(at), input);
}
