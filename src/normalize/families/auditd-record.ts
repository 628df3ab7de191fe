/**
 * Linux audit records as auditd writes them (`type=T msg=audit(SEC.MS:SERIAL): k=v ... msg='k=v ...'`),
 * as audisp/syslog forwards them (`node=N type=...`), and as the kernel prints them when auditd is not
 * running (`audit: type=1112 audit(SEC.MS:SERIAL): ...`).
 *
 * Untrusted string fields are written hex-encoded when they contain a space, quote or control
 * character (`acct=28696E76616C6964207573657229` is `(invalid user)`); quoted values are literal.
 * Fields are decoded here, so families only see text. Enriched fields (`AUID="alice"`, after a 0x1D
 * separator, sometimes lost in transport) are kept under their upper-case names.
 */
import { decodeHex, looksHex, setOwn } from '../text.js';

export interface AuditRecord {
  readonly type: string;
  readonly node: string | undefined;
  /** Event time, ms since the epoch, from `audit(SEC.MS:SERIAL)`. */
  readonly timeMs: number;
  /** `SEC.MS:SERIAL`: shared by every record of one audit event. */
  readonly id: string;
  /** Fields, decoded. Nested `msg='...'` fields are merged in. */
  readonly f: Record<string, string>;
}

const HEAD = /^(?:node=(\S+) )?type=([A-Z0-9_]+) msg=audit\((\d+)\.(\d+):(\d+)\):\s?/;
const KERNEL_HEAD = /^(?:\[\s*\d+\.\d+\] )?audit: type=(\d+) audit\((\d+)\.(\d+):(\d+)\):\s?/;

/** Kernel numeric record types (linux/audit.h, libaudit.h) for `audit: type=NNNN` lines. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  1006: 'LOGIN', 1100: 'USER_AUTH', 1101: 'USER_ACCT', 1102: 'USER_MGMT', 1103: 'CRED_ACQ', 1104: 'CRED_DISP',
  1105: 'USER_START', 1106: 'USER_END', 1107: 'USER_AVC', 1108: 'USER_CHAUTHTOK', 1109: 'USER_ERR', 1110: 'CRED_REFR',
  1111: 'USYS_CONFIG', 1112: 'USER_LOGIN', 1113: 'USER_LOGOUT', 1114: 'ADD_USER', 1115: 'DEL_USER', 1116: 'ADD_GROUP',
  1117: 'DEL_GROUP', 1123: 'USER_CMD', 1124: 'USER_TTY', 1127: 'SYSTEM_BOOT', 1128: 'SYSTEM_SHUTDOWN',
  1129: 'SYSTEM_RUNLEVEL', 1130: 'SERVICE_START', 1131: 'SERVICE_STOP', 1132: 'GRP_MGMT', 1200: 'DAEMON_START',
  1201: 'DAEMON_END', 1300: 'SYSCALL', 1302: 'PATH', 1305: 'CONFIG_CHANGE', 1306: 'SOCKADDR', 1307: 'CWD',
  1309: 'EXECVE', 1319: 'TTY', 1320: 'EOE', 1325: 'NETFILTER_CFG', 1326: 'SECCOMP', 1327: 'PROCTITLE',
  1400: 'AVC', 1700: 'ANOM_PROMISCUOUS', 1701: 'ANOM_ABEND',
};

/** Fields auditd may hex-encode (auparse's "untrusted string" fields). */
const HEX_FIELDS = new Set([
  'acct', 'cmd', 'comm', 'cwd', 'data', 'dir', 'exe', 'file', 'grp', 'key', 'name', 'new', 'ocomm', 'old',
  'path', 'proctitle', 'root_dir', 'sw', 'watch', 'vm', 'cgroup', 'device', 'new_group', 'old_group',
]);

/** Parses a record starting at the beginning of `text`; null when it is not one. */
export function parseAuditRecord(text: string): AuditRecord | null {
  let type: string;
  let node: string | undefined;
  let sec: string, ms: string, serial: string;
  let rest: string;
  const m = HEAD.exec(text);
  if (m !== null) {
    node = m[1];
    type = m[2]!;
    sec = m[3]!;
    ms = m[4]!;
    serial = m[5]!;
    rest = text.slice(m[0].length);
  } else {
    const k = KERNEL_HEAD.exec(text);
    if (k === null) return null;
    type = TYPE_NAMES[k[1]!] ?? k[1]!;
    sec = k[2]!;
    ms = k[3]!;
    serial = k[4]!;
    rest = text.slice(k[0].length);
  }
  const f: Record<string, string> = {};
  parseFields(rest, type === 'EXECVE', f);
  const timeMs = +sec * 1000 + +(ms.length >= 3 ? ms.slice(0, 3) : ms.padEnd(3, '0'));
  return { type, node, timeMs, id: `${sec}.${ms}:${serial}`, f };
}

function isKeyChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45;
}

function parseFields(s: string, execve: boolean, out: Record<string, string>): void {
  const n = s.length;
  let i = 0;
  while (i < n) {
    let c = s.charCodeAt(i);
    // blanks and the punctuation of the old `(hostname=?, addr=?, ...)` layout
    if (c === 32 || c === 40 || c === 44 || c === 0x1d || c === 9) {
      i++;
      continue;
    }
    let k = i;
    while (k < n && isKeyChar(s.charCodeAt(k))) k++;
    if (k === i || k >= n || s.charCodeAt(k) !== 61 /* = */) {
      // a word that is not key=value ("user", "PAM:", "login", ":"): skip it
      while (i < n && s.charCodeAt(i) !== 32) i++;
      continue;
    }
    const key = s.slice(i, k);
    const j = k + 1;
    c = j < n ? s.charCodeAt(j) : 32;
    if (c === 34 /* " */) {
      const e = s.indexOf('"', j + 1);
      setOwn(out, key, s.slice(j + 1, e < 0 ? n : e));
      i = e < 0 ? n : e + 1;
    } else if (c === 39 /* ' */) {
      // the user-space payload msg='...': merge its fields
      let e = s.lastIndexOf("'");
      if (e <= j) e = n;
      parseFields(s.slice(j + 1, e), execve, out);
      i = e + 1;
    } else {
      let e = j;
      while (e < n) {
        const d = s.charCodeAt(e);
        if (d === 32 || d === 0x1d) break;
        e++;
      }
      let v = s.slice(j, e);
      i = e;
      if (v.charCodeAt(0) === 40 /* ( */) {
        // "(none)", "(null)"; "(null)ARCH=x86_64" when the 0x1D separator was lost: resume after ')'
        const close = v.indexOf(')');
        if (close > 0 && close < v.length - 1) {
          i = j + close + 1;
          v = v.slice(0, close + 1);
        }
      } else {
        while (v.length > 0 && (v.endsWith(',') || v.endsWith(')') || v.endsWith("'"))) v = v.slice(0, -1);
      }
      if ((HEX_FIELDS.has(key) || (execve && key.charCodeAt(0) === 97 && /^a\d+$/.test(key))) && looksHex(v)) {
        const d = decodeHex(v);
        if (d !== null) v = key === 'key' ? d.replaceAll('\x01', ',') : d;
      }
      setOwn(out, key, v);
    }
  }
}

/** A field value, or undefined for auditd's "no value" spellings. */
export function val(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  switch (v) {
    case '':
    case '?':
    case '(none)':
    case '(null)':
    case 'unset':
    case '4294967295':
    case '-1':
      return undefined;
    default:
      return v;
  }
}

/** x86_64 (c000003e) and aarch64 (c00000b7) system call names for the calls audit rules usually watch. */
const X86_64: Readonly<Record<string, string>> = {
  0: 'read', 1: 'write', 2: 'open', 3: 'close', 4: 'stat', 13: 'rt_sigaction', 14: 'rt_sigprocmask', 16: 'ioctl',
  23: 'select', 41: 'socket', 42: 'connect', 43: 'accept', 44: 'sendto', 49: 'bind', 50: 'listen',
  51: 'getsockname', 52: 'getpeername', 54: 'setsockopt', 56: 'clone', 57: 'fork', 58: 'vfork', 59: 'execve',
  60: 'exit', 62: 'kill', 82: 'rename', 83: 'mkdir', 84: 'rmdir', 86: 'link', 87: 'unlink', 88: 'symlink',
  90: 'chmod', 92: 'chown', 101: 'ptrace', 105: 'setuid', 106: 'setgid', 133: 'mknod', 159: 'adjtimex',
  161: 'chroot', 164: 'settimeofday', 165: 'mount', 166: 'umount2', 175: 'init_module', 176: 'delete_module',
  200: 'tkill', 227: 'clock_settime', 228: 'clock_gettime', 234: 'tgkill', 257: 'openat', 263: 'unlinkat',
  264: 'renameat', 265: 'linkat', 268: 'fchmodat', 288: 'accept4', 305: 'clock_adjtime', 313: 'finit_module',
  322: 'execveat',
};
const AARCH64: Readonly<Record<string, string>> = {
  35: 'unlinkat', 37: 'linkat', 56: 'openat', 129: 'kill', 221: 'execve', 281: 'execveat',
};

export function syscallName(arch: string | undefined, nr: string | undefined): string | undefined {
  if (nr === undefined) return undefined;
  if (arch === 'c000003e') return X86_64[nr];
  if (arch === 'c00000b7') return AARCH64[nr];
  return undefined;
}

/** Decodes a SOCKADDR `saddr` (hex struct sockaddr): AF_INET, AF_INET6 and AF_UNIX. */
export function decodeSockaddr(hex: string): { ip?: string; port?: number; path?: string; family: number } | undefined {
  if (!looksHex(hex) || hex.length < 4) return undefined;
  const b = Buffer.from(hex, 'hex');
  const family = b.readUInt16LE(0);
  if (family === 2 && b.length >= 8) {
    return { family, port: b.readUInt16BE(2), ip: `${b[4]}.${b[5]}.${b[6]}.${b[7]}` };
  }
  if (family === 10 && b.length >= 24) {
    const parts: string[] = [];
    for (let k = 8; k < 24; k += 2) parts.push(b.readUInt16BE(k).toString(16));
    return { family, port: b.readUInt16BE(2), ip: compressV6(parts) };
  }
  if (family === 1) {
    // abstract sockets start with NUL: shown as @name, as ss(8) does
    const abstract = b.length > 2 && b[2] === 0;
    const start = abstract ? 3 : 2;
    let end = b.indexOf(0, start);
    if (end < 0) end = b.length;
    const name = b.subarray(start, end).toString('utf8');
    return { family, path: abstract ? `@${name}` : name };
  }
  return { family };
}

function compressV6(parts: string[]): string {
  // RFC 5952: collapse the longest run (>= 2) of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (parts[k] !== '0') {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && parts[e] === '0') e++;
    if (e - k > bestLen && e - k >= 2) {
      best = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}
