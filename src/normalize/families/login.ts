/**
 * login(1) (shadow-utils and util-linux) and dropbear, the small SSH server: their own records of
 * console and SSH logons -> Authentication 3002. `FAILED LOGIN` / dropbear `Bad password attempt` count
 * the attempt; pam_unix(login:auth) lines repeat it (pam.ts); `TOO MANY LOGIN TRIES` and dropbear's
 * `Exit before auth` summarise attempts already counted (`repeat_of`).
 */
import type { FamilyInput, Mapping, Rule } from '../mapping.js';
import { endpoint, runRules, user } from '../mapping.js';
import { AUTH_PROTOCOL_OTHER, LOGON_TYPE, type StatusId } from '../ocsf.js';
import { toInt } from '../text.js';

function auth(
  rule: string, product: string, service: string, i: FamilyInput, activity: number, status: StatusId,
  f: { name?: string | undefined; addr?: string | undefined; port?: string | undefined; tty?: string | undefined; method?: string; detail?: string; repeat?: string; remote?: boolean },
): Mapping {
  const attrs: Record<string, unknown> = {};
  if (f.name) attrs.user = user(f.name);
  attrs.service = { name: service };
  const src = endpoint(f.addr, f.port);
  if (src !== undefined) attrs.src_endpoint = src;
  const remote = f.remote ?? src !== undefined;
  attrs.is_remote = remote;
  if (activity === 1 || activity === 2) attrs.logon_type_id = remote ? LOGON_TYPE.remoteInteractive : LOGON_TYPE.interactive;
  if (f.method) {
    attrs.auth_protocol_id = AUTH_PROTOCOL_OTHER;
    attrs.auth_protocol = f.method;
  }
  if (f.tty) attrs.session = { terminal: f.tty };
  const pid = toInt(i.pid);
  if (pid !== undefined) attrs.actor = { process: { name: service, pid } };
  const m: Mapping = { rule, class_uid: 3002, activity_id: activity, status_id: status, product, attrs };
  if (activity === 99) m.activity_name = 'Other';
  if (f.detail) m.status_detail = f.detail;
  if (f.repeat) m.repeat_of = f.repeat;
  return m;
}

/** `(null)`, a tty or a host: only an address or host name is a source endpoint. */
function fromHost(s: string | undefined): string | undefined {
  if (!s || s === '(null)' || s.startsWith('tty') || s.startsWith('/dev/') || s.startsWith('pts/')) return undefined;
  return s;
}
function fromTty(s: string | undefined): string | undefined {
  return s && (s.startsWith('tty') || s.startsWith('/dev/') || s.startsWith('pts/')) ? s : undefined;
}

const LOGIN_RULES: readonly Rule[] = [
  {
    id: 'login.failed',
    prefix: 'FAILED LOGIN ',
    re: /^FAILED LOGIN \(?(\d+)\)? (?:FROM|on) '?(.*?)'? FOR '?(.*?)'?, (.*)$/,
    map: (m, i) => auth('login.failed', 'login', 'login', i, 1, 2, { name: m[3], addr: fromHost(m[2]), tty: fromTty(m[2]), detail: m[4] }),
  },
  {
    id: 'login.too_many_tries',
    prefix: 'TOO MANY LOGIN TRIES ',
    re: /^TOO MANY LOGIN TRIES \(?(\d+)\)? (?:FROM|on) '?(.*?)'? FOR '?(.*?)'?(?:, (.*))?$/,
    map: (m, i) => auth('login.too_many_tries', 'login', 'login', i, 1, 2, { name: m[3], addr: fromHost(m[2]), tty: fromTty(m[2]), detail: `TOO MANY LOGIN TRIES (${m[1]})`, repeat: 'login' }),
  },
  {
    id: 'login.root',
    prefix: 'ROOT LOGIN ',
    re: /^ROOT LOGIN\s+ON '?(\S+?)'?(?: FROM '?(\S+?)'?)?\s*$/,
    map: (m, i) => auth('login.root', 'login', 'login', i, 1, 1, { name: 'root', tty: m[1], addr: fromHost(m[2]) }),
  },
  {
    id: 'login.on',
    prefix: 'LOGIN ON ',
    re: /^LOGIN ON '?(\S+?)'? BY '?(\S+?)'?(?: FROM '?(\S+?)'?)?\s*$/,
    map: (m, i) => auth('login.on', 'login', 'login', i, 1, 1, { name: m[2], tty: m[1], addr: fromHost(m[3]) }),
  },
];

export function login(input: FamilyInput): Mapping {
  return runRules(LOGIN_RULES, input) ?? auth('login.other', 'login', 'login', input, 99, /fail|error|denied|bad/i.test(input.msg) ? 2 : 0, {});
}

/** dropbear's `host:port` (IPv6 addresses contain colons: the port is after the last one). */
function hostPort(s: string): [string, string | undefined] {
  const i = s.lastIndexOf(':');
  return i <= 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

const DROPBEAR_RULES: readonly Rule[] = [
  {
    id: 'dropbear.bad_password',
    prefix: 'Bad password attempt for ',
    re: /^Bad password attempt for '(.*)' from (\S+)\s*$/,
    map: (m, i) => {
      const [addr, port] = hostPort(m[2]!);
      return auth('dropbear.bad_password', 'Dropbear', 'dropbear', i, 1, 2, { name: m[1], addr, port, method: 'password', detail: 'Bad password attempt', remote: true });
    },
  },
  {
    id: 'dropbear.nonexistent_user',
    prefix: 'Login attempt for nonexistent user',
    re: /^Login attempt for nonexistent user(?: '(.*)')? from (\S+)\s*$/,
    map: (m, i) => {
      const [addr, port] = hostPort(m[2]!);
      return auth('dropbear.nonexistent_user', 'Dropbear', 'dropbear', i, 1, 2, { name: m[1], addr, port, detail: 'Login attempt for nonexistent user', remote: true });
    },
  },
  {
    id: 'dropbear.auth_succeeded',
    re: /^(Pubkey|Password) auth succeeded for '(.*)'(?: with key (.*?))? from (\S+)\s*$/,
    map: (m, i) => {
      const [addr, port] = hostPort(m[4]!);
      return auth('dropbear.auth_succeeded', 'Dropbear', 'dropbear', i, 1, 1, { name: m[2], addr, port, method: m[1] === 'Pubkey' ? 'publickey' : 'password', remote: true });
    },
  },
  {
    id: 'dropbear.exit_before_auth',
    prefix: 'Exit before auth',
    re: /^Exit before auth(?: \(user '(.*?)', (\d+) fails\))?: (.*)$/,
    map: (m, i) => {
      const a = / from <?(\S+?)>?\s*$/.exec(m[3]!);
      const [addr, port] = a ? hostPort(a[1]!) : [undefined, undefined];
      return auth('dropbear.exit_before_auth', 'Dropbear', 'dropbear', i, 1, 2, { name: m[1], addr, port, detail: m[3], repeat: 'dropbear', remote: true });
    },
  },
  {
    id: 'dropbear.child_connection',
    prefix: 'Child connection from ',
    re: /^Child connection from (\S+)\s*$/,
    map: (m, i) => {
      const [addr, port] = hostPort(m[1]!);
      const ev = auth('dropbear.child_connection', 'Dropbear', 'dropbear', i, 99, 0, { addr, port, remote: true });
      ev.activity_name = 'Connect';
      return ev;
    },
  },
  {
    id: 'dropbear.exit',
    prefix: 'Exit (',
    re: /^Exit \((.*?)\)(?: from <?(\S+?)>?)?: (.*)$/,
    map: (m, i) => {
      const [addr, port] = m[2] ? hostPort(m[2]) : [undefined, undefined];
      return auth('dropbear.exit', 'Dropbear', 'dropbear', i, 2, 1, { name: m[1], addr, port, detail: m[3], remote: true });
    },
  },
];

export function dropbear(input: FamilyInput): Mapping {
  return runRules(DROPBEAR_RULES, input) ?? auth('dropbear.other', 'Dropbear', 'dropbear', input, 99, /fail|error|bad/i.test(input.msg) ? 2 : 0, { remote: true });
}
