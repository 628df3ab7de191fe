/**
 * OpenSSH `sshd` (and `sshd-session`/`sshd-auth` of OpenSSH >= 9.8): log lines of auth2.c/auth.c,
 * sshd.c and packet.c -> Authentication (3002), daemon start/stop -> Application Lifecycle (6002).
 *
 * Repeat marking (docs/ocsf.md): one attempt is counted on its `Failed <method> for ...` line (or an
 * `Accepted ...` line for a logon). `Invalid user`, `input_userauth_request`, `maximum authentication
 * attempts exceeded`, `Too many authentication failures`, `PAM N more authentication failures`, and the
 * PAM lines of sshd are the same attempt seen again: they carry `repeat_of: 'sshd'`.
 * Decisions for the open choices of ocsf-mapping.md: logon_type_id 10 (Remote Interactive) for every SSH
 * logon; auth_protocol_id 99 (Other) with auth_protocol = the method (`password`, `publickey`, ...).
 */
import type { FamilyInput, Mapping, Rule } from '../mapping.js';
import { endpoint, runRules, user } from '../mapping.js';
import { AUTH_PROTOCOL_OTHER, LOGON_TYPE, type StatusId } from '../ocsf.js';
import { toInt } from '../text.js';

const PRODUCT = 'OpenSSH';
const SERVICE = Object.freeze({ name: 'sshd' });

interface SshFields {
  name?: string | undefined;
  addr?: string | undefined;
  port?: string | undefined;
  method?: string | undefined;
  detail?: string | undefined;
  repeat?: boolean;
  activityName?: string;
  unmapped?: Record<string, unknown>;
}

/** Builds a 3002 event for sshd with the attributes every sshd line shares. */
export function sshAuth(rule: string, input: FamilyInput, activity: number, status: StatusId, f: SshFields): Mapping {
  const attrs: Record<string, unknown> = {};
  if (f.name) attrs.user = user(f.name);
  attrs.service = SERVICE;
  attrs.is_remote = true;
  if (activity === 1 || activity === 2) attrs.logon_type_id = LOGON_TYPE.remoteInteractive;
  if (f.method) {
    attrs.auth_protocol_id = AUTH_PROTOCOL_OTHER;
    attrs.auth_protocol = f.method;
  }
  const src = endpoint(f.addr, f.port);
  if (src !== undefined) attrs.src_endpoint = src;
  const pid = toInt(input.pid);
  if (pid !== undefined) attrs.actor = { process: { name: input.program || 'sshd', pid } };
  const m: Mapping = { rule, class_uid: 3002, activity_id: activity, status_id: status, product: PRODUCT, attrs };
  if (f.activityName !== undefined) m.activity_name = f.activityName;
  if (f.detail) m.status_detail = f.detail;
  if (f.repeat) m.repeat_of = 'sshd';
  if (f.unmapped !== undefined) m.unmapped = f.unmapped;
  return m;
}

function lifecycle(rule: string, activity: number, status: StatusId, detail?: string, unmapped?: Record<string, unknown>): Mapping {
  const m: Mapping = { rule, class_uid: 6002, activity_id: activity, status_id: status, product: PRODUCT, attrs: { app: { name: 'sshd' } } };
  if (detail) m.status_detail = detail;
  if (unmapped) m.unmapped = unmapped;
  return m;
}

const CONNECT = 'Connect';
const DISCONNECT = 'Disconnect';
const BREAK_IN = 'Reverse Mapping Check';

/** SSH disconnect reason 14: SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE (RFC 4253 11.1). */
const NO_MORE_AUTH_METHODS = '14';

/** Ordered by frequency in brute-force-heavy logs (loghub OpenSSH_2k), most common first. */
const RULES: readonly Rule[] = [
  {
    id: 'sshd.failed',
    prefix: 'Failed ',
    re: /^Failed (\S+) for (invalid user )?(.*) from (\S+) port (\d+)(?: (ssh2?))?(?:: (.*))?$/,
    map: (m, i) =>
      sshAuth('sshd.failed', i, 1, 2, {
        name: m[3], addr: m[4], port: m[5], method: m[1],
        detail: m[2] ? `Failed ${m[1]} for invalid user` : `Failed ${m[1]}`,
        ...(m[7] ? { unmapped: { ssh_signature: m[7] } } : {}),
      }),
  },
  {
    id: 'sshd.disconnect_received',
    prefix: 'Received disconnect from ',
    re: /^Received disconnect from (\S+?)(?: port (\d+))?:\s?(\d+): (.*?)( \[preauth\])?$/,
    map: (m, i) => receivedDisconnect(m, i),
  },
  {
    id: 'sshd.invalid_user',
    prefix: 'Invalid user ',
    re: /^Invalid user (.*) from (\S+?)(?: port (\d+))?\s*$/,
    map: (m, i) => sshAuth('sshd.invalid_user', i, 1, 2, { name: m[1], addr: m[2], port: m[3], detail: 'Invalid user', repeat: true }),
  },
  {
    id: 'sshd.input_userauth_request',
    prefix: 'input_userauth_request: ',
    re: /^input_userauth_request: (?:invalid|illegal) user (.*?)(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.input_userauth_request', i, 1, 2, { name: m[1], detail: 'Invalid user', repeat: true }),
  },
  {
    id: 'sshd.reverse_mapping',
    prefix: 'reverse mapping checking getaddrinfo for ',
    re: /^reverse mapping checking getaddrinfo for (\S+) \[(\S+)\] failed(?: - POSSIBLE BREAK-IN ATTEMPT!)?\s*$/,
    map: (m, i) => {
      const ev = sshAuth('sshd.reverse_mapping', i, 99, 2, { addr: m[2], activityName: BREAK_IN, detail: 'POSSIBLE BREAK-IN ATTEMPT' });
      const src = ev.attrs.src_endpoint as Record<string, unknown> | undefined;
      if (src !== undefined && src.hostname === undefined) src.hostname = m[1];
      return ev;
    },
  },
  {
    id: 'sshd.accepted',
    prefix: 'Accepted ',
    re: /^Accepted (\S+) for (.*) from (\S+) port (\d+)(?: (ssh2?))?(?:: (.*))?$/,
    map: (m, i) =>
      sshAuth('sshd.accepted', i, 1, 1, {
        name: m[2], addr: m[3], port: m[4], method: m[1],
        ...(m[6] ? { unmapped: { ssh_signature: m[6] } } : {}),
      }),
  },
  {
    id: 'sshd.error_disconnect_received',
    prefix: 'error: Received disconnect from ',
    re: /^error: Received disconnect from (\S+?)(?: port (\d+))?:\s?(\d+): (.*?)( \[preauth\])?$/,
    map: (m, i) => receivedDisconnect(m, i),
  },
  {
    id: 'sshd.connection_closed',
    prefix: 'Connection ',
    re: /^Connection (closed|reset) by (?:(invalid|authenticating) user (.*?) )?([^\s[]\S*?)(?: port (\d+))?( \[preauth\])?\s*$/,
    map: (m, i) =>
      sshAuth('sshd.connection_closed', i, 99, m[1] === 'reset' ? 2 : 0, {
        name: m[3], addr: m[4], port: m[5], activityName: DISCONNECT, detail: `Connection ${m[1]}${m[6] ? ' [preauth]' : ''}`,
      }),
  },
  {
    id: 'sshd.connection_from',
    prefix: 'Connection from ',
    re: /^Connection from (\S+) port (\d+)(?: on (\S+) port (\d+))?/,
    map: (m, i) => {
      const ev = sshAuth('sshd.connection_from', i, 99, 0, { addr: m[1], port: m[2], activityName: CONNECT });
      const dst = endpoint(m[3], m[4]);
      if (dst !== undefined) ev.attrs.dst_endpoint = dst;
      return ev;
    },
  },
  {
    id: 'sshd.disconnected',
    prefix: 'Disconnected from ',
    re: /^Disconnected from (?:(invalid|authenticating) user (.*) |user (.*) )?(\S+) port (\d+)( \[preauth\])?\s*$/,
    map: (m, i) =>
      m[3] !== undefined
        ? sshAuth('sshd.disconnected', i, 2, 1, { name: m[3], addr: m[4], port: m[5] })
        : sshAuth('sshd.disconnected', i, 99, 0, { name: m[2], addr: m[4], port: m[5], activityName: DISCONNECT, detail: m[6] ? 'Disconnected [preauth]' : 'Disconnected' }),
  },
  {
    id: 'sshd.pam_more_failures',
    prefix: 'PAM ',
    re: /^PAM (\d+) more authentication failures?; (.*)$/,
    map: (m, i) => {
      const kv = pamKv(m[2]!);
      return sshAuth('sshd.pam_more_failures', i, 1, 2, { name: kv.user, addr: kv.rhost, detail: `${m[1]} more authentication failures`, repeat: true });
    },
  },
  {
    id: 'sshd.pam_ignoring_max_retries',
    prefix: 'PAM service(',
    re: /^PAM service\((\S+)\) ignoring max retries; (\d+) > (\d+)$/,
    map: (m, i) => sshAuth('sshd.pam_ignoring_max_retries', i, 1, 2, { detail: `ignoring max retries; ${m[2]} > ${m[3]}`, repeat: true }),
  },
  {
    id: 'sshd.too_many_failures',
    prefix: 'Disconnecting',
    re: /^Disconnecting(?: (?:invalid|authenticating) user (.*) (\S+) port (\d+))?: Too many authentication failures(?: for (?:invalid user )?(.*?))?(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.too_many_failures', i, 1, 2, { name: m[1] ?? m[4], addr: m[2], port: m[3], detail: 'Too many authentication failures', repeat: true }),
  },
  {
    id: 'sshd.max_auth_attempts',
    prefix: 'error: maximum authentication attempts exceeded for ',
    re: /^error: maximum authentication attempts exceeded for (invalid user )?(.*) from (\S+) port (\d+)(?: (ssh2?))?(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.max_auth_attempts', i, 1, 2, { name: m[2], addr: m[3], port: m[4], detail: 'maximum authentication attempts exceeded', repeat: true }),
  },
  {
    id: 'sshd.no_identification',
    prefix: 'Did not receive identification string from ',
    re: /^Did not receive identification string from (\S+?)(?: port (\d+))?\s*$/,
    map: (m, i) => sshAuth('sshd.no_identification', i, 99, 2, { addr: m[1], port: m[2], activityName: CONNECT, detail: 'Did not receive identification string' }),
  },
  {
    id: 'sshd.illegal_user',
    prefix: 'Illegal user ',
    re: /^Illegal user (.*) from (\S+?)(?: port (\d+))?\s*$/,
    map: (m, i) => sshAuth('sshd.illegal_user', i, 1, 2, { name: m[1], addr: m[2], port: m[3], detail: 'Invalid user', repeat: true }),
  },
  {
    id: 'sshd.user_not_allowed',
    prefix: 'User ',
    re: /^User (.*?) from (\S+?)(?: not allowed because (.+))?\s*$/,
    map: (m, i) => sshAuth('sshd.user_not_allowed', i, 1, 2, { name: m[1], addr: m[2], detail: m[3] ? `not allowed because ${m[3]}` : 'not allowed', repeat: true }),
  },
  {
    id: 'sshd.postponed',
    re: /^(Postponed|Partial) (\S+) for (invalid user )?(.*) from (\S+) port (\d+)(?: (ssh2?))?(?: \[preauth\])?$/,
    prefix: 'P',
    map: (m, i) => sshAuth('sshd.postponed', i, 1, 99, { name: m[4], addr: m[5], port: m[6], method: m[2], detail: m[1], repeat: true }),
  },
  {
    id: 'sshd.pam_error',
    re: /^(?:error: )?PAM: (.*?) for (?:(?:illegal|invalid) user )?(.*) from (\S+)$/,
    map: (m, i) => sshAuth('sshd.pam_error', i, 1, 2, { name: m[2], addr: m[3], detail: m[1], repeat: true }),
  },
  {
    id: 'sshd.bad_protocol',
    prefix: 'Bad protocol version identification ',
    re: /^Bad protocol version identification '(.*)' from (\S+?)(?: port (\d+))?\s*$/,
    map: (m, i) => sshAuth('sshd.bad_protocol', i, 99, 2, { addr: m[2], port: m[3], activityName: CONNECT, detail: 'Bad protocol version identification', unmapped: { client_version: m[1] } }),
  },
  {
    id: 'sshd.unable_to_negotiate',
    re: /^(?:fatal: )?Unable to negotiate with (\S+?)(?: port (\d+))?: (.*?)(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.unable_to_negotiate', i, 99, 2, { addr: m[1], port: m[2], activityName: CONNECT, detail: m[3] }),
  },
  {
    id: 'sshd.refused_connect',
    prefix: 'refused connect from ',
    re: /^refused connect from (\S+) \((\S+)\)\s*$/,
    map: (m, i) => {
      const ev = sshAuth('sshd.refused_connect', i, 99, 2, { addr: m[2], activityName: CONNECT, detail: 'refused connect (tcp_wrappers)' });
      const src = ev.attrs.src_endpoint as Record<string, unknown> | undefined;
      if (src !== undefined && src.hostname === undefined && m[1] !== m[2]) src.hostname = m[1];
      return ev;
    },
  },
  {
    id: 'sshd.address_maps',
    prefix: 'Address ',
    re: /^Address (\S+) maps to (\S+), but this does not map back to the address(?: - POSSIBLE BREAK-IN ATTEMPT!)?\s*$/,
    map: (m, i) => {
      const ev = sshAuth('sshd.address_maps', i, 99, 2, { addr: m[1], activityName: BREAK_IN, detail: 'POSSIBLE BREAK-IN ATTEMPT' });
      const src = ev.attrs.src_endpoint as Record<string, unknown> | undefined;
      if (src !== undefined && src.hostname === undefined) src.hostname = m[2];
      return ev;
    },
  },
  {
    id: 'sshd.read_error',
    prefix: 'Read error from remote host ',
    re: /^Read error from remote host (\S+?)(?: port (\d+))?: (.*?)(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.read_error', i, 99, 2, { addr: m[1], port: m[2], activityName: DISCONNECT, detail: m[3] }),
  },
  {
    id: 'sshd.timeout',
    prefix: 'Timeout, client not responding',
    re: /^Timeout, client not responding(?: from (?:user (.*) )?(\S+) port (\d+))?/,
    map: (m, i) => sshAuth('sshd.timeout', i, 99, 2, { name: m[1], addr: m[2], port: m[3], activityName: DISCONNECT, detail: 'Timeout, client not responding' }),
  },
  {
    id: 'sshd.write_failed',
    re: /^(?:fatal: )?(?:Write|Read from socket) failed: (.*?)(?: \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.write_failed', i, 99, 2, { activityName: DISCONNECT, detail: m[1] }),
  },
  {
    id: 'sshd.protocol_error',
    re: /^(Corrupted MAC on input|Bad packet length \d+|Disconnecting: (?!Too many)[^:]*|(?:fatal: )?Unable to negotiate a key exchange method|(?:fatal: )?ssh_dispatch_run_fatal: .*?|(?:fatal: )?Connection reset by peer)\.?( \[preauth\])?$/,
    map: (m, i) => sshAuth('sshd.protocol_error', i, 99, 2, { activityName: DISCONNECT, detail: m[1] }),
  },
  {
    id: 'sshd.session_start',
    prefix: 'Starting session: ',
    re: /^Starting session: (.*?) for (.*) from (\S+) port (\d+)(?: id (\d+))?$/,
    map: (m, i) => {
      const ev = sshAuth('sshd.session_start', i, 1, 1, { name: m[2], addr: m[3], port: m[4], repeat: true, unmapped: { session_type: m[1] } });
      if (m[5] !== undefined) ev.attrs.session = { uid: m[5] };
      return ev;
    },
  },
  {
    id: 'sshd.scanned',
    prefix: 'scanned from ',
    re: /^scanned from (\S+) with (.*)$/,
    map: (m, i) => sshAuth('sshd.scanned', i, 99, 2, { addr: m[1], activityName: CONNECT, detail: 'scanned', unmapped: { client_version: m[2] } }),
  },
  {
    id: 'sshd.auth_refused',
    prefix: 'Authentication refused: ',
    re: /^Authentication refused: (.*)$/,
    map: (m, i) => sshAuth('sshd.auth_refused', i, 1, 2, { detail: m[1] }),
  },
  {
    id: 'sshd.subsystem_failed',
    prefix: 'subsystem request for ',
    re: /^subsystem request for (\S+) by user (.*) failed(?:, (.*))?$/,
    map: (m, i) => sshAuth('sshd.subsystem_failed', i, 99, 2, { name: m[2], activityName: 'Subsystem Request', detail: m[3] ?? 'failed', unmapped: { subsystem: m[1] } }),
  },
  {
    id: 'sshd.listening',
    prefix: 'Server listening on ',
    re: /^Server listening on (\S+) port (\d+)\.?\s*$/,
    map: (m) => lifecycle('sshd.listening', 3, 1, undefined, { listen_address: m[1], listen_port: +m[2]! }),
  },
  {
    id: 'sshd.signal_terminating',
    prefix: 'Received signal ',
    re: /^Received signal (\d+); terminating\.?$/,
    map: (m) => lifecycle('sshd.signal_terminating', 4, 1, `signal ${m[1]}`),
  },
  {
    id: 'sshd.bind_failed',
    re: /^(?:error: )?Bind to port (\d+) on (\S+) failed: (.*)$/,
    map: (m) => lifecycle('sshd.bind_failed', 3, 2, m[3], { listen_address: m[2], listen_port: +m[1]! }),
  },
  {
    id: 'sshd.cannot_bind',
    re: /^(?:fatal: )?Cannot bind any address\.?$/,
    map: () => lifecycle('sshd.cannot_bind', 3, 2, 'Cannot bind any address'),
  },
  {
    id: 'sshd.host_key',
    re: /^(?:error: )?Could not load host key: (.*)$/,
    map: (m) => lifecycle('sshd.host_key', 3, 2, 'Could not load host key', { host_key: m[1] }),
  },
  {
    id: 'sshd.pam_ldap_bind',
    prefix: 'pam_ldap: ',
    re: /^pam_ldap: error trying to bind as user "(.*)" \((.*)\)$/,
    map: (m, i) => {
      const rdn = /^(?:uid|cn)=([^,]+)/i.exec(m[1]!);
      return sshAuth('sshd.pam_ldap_bind', i, 1, 2, { name: rdn ? rdn[1] : m[1], detail: m[2], repeat: true, unmapped: { bind_dn: m[1] } });
    },
  },
];

function receivedDisconnect(m: RegExpExecArray, i: FamilyInput): Mapping {
  const code = m[3]!;
  const preauth = m[5] !== undefined;
  const unmapped = { disconnect_code: +code, disconnect_reason: m[4] };
  if (code === NO_MORE_AUTH_METHODS || (preauth && /auth fail/i.test(m[4]!))) {
    // The client gave up after failed attempts already logged as `Failed ...`.
    return sshAuth('sshd.disconnect_auth_exhausted', i, 1, 2, { addr: m[1], port: m[2], detail: m[4], repeat: true, unmapped });
  }
  if (preauth) return sshAuth('sshd.disconnect_preauth', i, 99, 0, { addr: m[1], port: m[2], activityName: DISCONNECT, detail: m[4], unmapped });
  return sshAuth('sshd.logoff', i, 2, 1, { addr: m[1], port: m[2], detail: m[4], unmapped });
}

/** `key=value` pairs of a PAM message tail (`logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root`). */
export function pamKv(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const n = s.length;
  let i = 0;
  while (i < n) {
    let end = s.indexOf(' ', i);
    if (end === -1) end = n;
    const eq = s.indexOf('=', i);
    if (eq > i && eq < end - 1) out[s.slice(i, eq)] = s.slice(eq + 1, end);
    i = end + 1;
  }
  return out;
}

const USER_HINT = /\b(?:for|by|invalid|illegal|authenticating) user "?([^\s"]+)"?|\buser="?([^\s"]+)/;

/** sshd family entry point. */
export function sshd(input: FamilyInput): Mapping {
  const hit = runRules(RULES, input);
  if (hit !== null) return hit;
  // Catch-all: every sshd line belongs to a remote-login connection or the daemon serving them.
  const msg = input.msg;
  const failed = msg.startsWith('error:') || msg.startsWith('fatal:');
  const u = USER_HINT.exec(msg);
  return sshAuth('sshd.other', input, 99, failed ? 2 : 0, { name: u ? (u[1] ?? u[2]) : undefined, activityName: 'Other' });
}
