/**
 * A deterministic, realistic mix of syslog frames for the benchmarks (~200 bytes each on average):
 *   40 % RFC 5424 with structured data (application and web server events),
 *   25 % RFC 3164 sshd lines (accepted / failed / invalid user / pam session),
 *   10 % RFC 3164 sudo lines,
 *   25 % rsyslog `json-audit` template JSON (the seed config: ../shared/seed/audit-logging-skill.txt),
 * framed octet-counted (RFC 5425 §4.3), LF-terminated (RFC 6587 §3.4.2), or mixed per frame.
 * Same seed, same frames: runs are comparable.
 */

export const FRAMINGS = ['octet', 'lf', 'mixed'] as const;
export type Framing = (typeof FRAMINGS)[number];

export const MIX_KINDS = ['rfc5424', 'sshd', 'sudo', 'json'] as const;
export type MixKind = (typeof MIX_KINDS)[number];

/** Small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTS = ['web-01', 'web-02', 'web-03', 'db-01', 'db-02', 'bastion-01', 'ci-runner-7', 'mail-01'];
const USERS = ['alice', 'bob', 'carol', 'deploy', 'root', 'postgres', 'jenkins', 'mallory'];
const APPS = ['billing-api', 'nginx', 'auth-svc', 'orders', 'kubelet'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const COMMANDS = ['/usr/bin/systemctl restart nginx', '/bin/cat /var/log/auth.log', '/usr/bin/apt-get upgrade -y', '/bin/ls /root', '/usr/bin/journalctl -u sshd --since today'];
const AGENTS = ['curl/8.5.0', 'Go-http-client/1.1', 'python-requests/2.31.0', 'Mozilla/5.0'];
const PATHS = ['/api/v1/orders', '/api/v1/invoices/42', '/login', '/static/app.js', '/api/v1/users/search?q=smith'];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const ip = (r: () => number): string => `10.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 1, 254)}`;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const fingerprint = (r: () => number): string => Array.from({ length: 43 }, () => B64[Math.floor(r() * 64)]).join('');
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** One message (without framing) of the given kind; `i` makes it unique. */
export function message(kind: MixKind, i: number, r: () => number): string {
  const base = Date.UTC(2026, 10, 28, 12, 0, 0) + i * 7;
  const d = new Date(base);
  const host = pick(r, HOSTS);
  const user = pick(r, USERS);
  switch (kind) {
    case 'rfc5424': {
      const ts = `${d.toISOString().slice(0, 23)}${pad2(int(r, 0, 99))}${int(r, 0, 9)}Z`;
      const app = pick(r, APPS);
      if (r() < 0.5) {
        return (
          `<134>1 ${ts} ${host}.example.com ${app} ${int(r, 100, 65000)} ACCESS ` +
          `[request@32473 method="GET" path="${pick(r, PATHS)}" status="${pick(r, ['200', '200', '304', '404', '500'])}"]` +
          `[origin ip="${ip(r)}" software="${pick(r, AGENTS)}"] user=${user} bytes=${int(r, 100, 90000)} req=${i}`
        );
      }
      return (
        `<86>1 ${ts} ${host}.example.com ${app} ${int(r, 100, 65000)} AUDIT ` +
        `[audit@32473 user="${user}" action="${pick(r, ['login', 'logout', 'update', 'delete'])}" result="${pick(r, ['success', 'failure'])}"] ` +
        `\u{FEFF}user ${user} changed record ${i} from ${ip(r)}`
      );
    }
    case 'sshd': {
      const ts = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
      const pid = int(r, 1000, 60000);
      const x = r();
      const body =
        x < 0.35
          ? `Accepted publickey for ${user} from ${ip(r)} port ${int(r, 1024, 65535)} ssh2: ED25519 SHA256:${fingerprint(r)}`
          : x < 0.65
            ? `Failed password for ${r() < 0.3 ? 'invalid user ' : ''}${user} from ${ip(r)} port ${int(r, 1024, 65535)} ssh2`
            : x < 0.8
              ? `Invalid user ${user}${int(r, 1, 99)} from ${ip(r)} port ${int(r, 1024, 65535)}`
              : `pam_unix(sshd:session): session opened for user ${user}(uid=${int(r, 0, 2000)}) by (uid=0)`;
      return `<38>${ts} ${host} sshd[${pid}]: ${body}`;
    }
    case 'sudo': {
      const ts = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
      return `<85>${ts} ${host} sudo: ${user.padStart(8, ' ')} : TTY=pts/${int(r, 0, 9)} ; PWD=/home/${user} ; USER=root ; COMMAND=${pick(r, COMMANDS)}`;
    }
    case 'json': {
      const ts = `${d.toISOString().slice(0, 19)}.${String(d.getUTCMilliseconds()).padStart(3, '0')}${int(r, 100, 999)}+00:00`;
      const pid = int(r, 1000, 60000);
      const msg =
        r() < 0.6
          ? `Accepted password for ${user} from ${ip(r)} port ${int(r, 1024, 65535)} ssh2`
          : `pam_unix(sudo:session): session opened for user root(uid=0) by ${user}(uid=${int(r, 1000, 2000)})`;
      const tag = msg.startsWith('pam_unix(sudo') ? 'sudo:' : `sshd[${pid}]:`;
      return `{"@timestamp":"${ts}","host":"${host}","severity":"info","facility":"authpriv","tag":"${tag}","message":"${msg}"}`;
    }
  }
}

/** Which kind frame `i` is, by the 40/25/10/25 weights (deterministic in `r`). */
export function kindOf(r: () => number): MixKind {
  const x = r();
  return x < 0.4 ? 'rfc5424' : x < 0.65 ? 'sshd' : x < 0.75 ? 'sudo' : 'json';
}

/** `count` messages of the mix (no framing), starting at index `start`. */
export function messages(count: number, seed = 1, start = 0): Array<{ kind: MixKind; text: string }> {
  const r = prng(seed);
  const out = new Array<{ kind: MixKind; text: string }>(count);
  for (let k = 0; k < count; k++) {
    const kind = kindOf(r);
    out[k] = { kind, text: message(kind, start + k, r) };
  }
  return out;
}

/** Frames one message. JSON keeps the template's trailing LF when octet-counted, as rsyslog sends it. */
export function frame(kind: MixKind, text: string, framing: 'octet' | 'lf'): string {
  if (framing === 'lf') return `${text}\n`;
  const body = kind === 'json' ? `${text}\n` : text;
  return `${Buffer.byteLength(body)} ${body}`;
}

/** A stream of framed messages in one buffer, with each frame's end offset (for paced sending). */
export interface FramedStream {
  readonly buffer: Buffer;
  /** ends[i] = offset just past frame i. */
  readonly ends: Uint32Array;
  readonly frames: number;
  readonly kinds: Record<MixKind, number>;
}

/** Builds `count` frames (messages `start`..) as one buffer; `mixed` draws octet or LF per frame. */
export function framedStream(count: number, framing: Framing, seed = 1, start = 0): FramedStream {
  const msgs = messages(count, seed, start);
  const r = prng(seed ^ 0x5bd1e995);
  const parts: Buffer[] = new Array(count);
  const ends = new Uint32Array(count);
  const kinds: Record<MixKind, number> = { rfc5424: 0, sshd: 0, sudo: 0, json: 0 };
  let off = 0;
  for (let k = 0; k < count; k++) {
    const m = msgs[k]!;
    const f = framing === 'mixed' ? (r() < 0.5 ? 'octet' : 'lf') : framing;
    const b = Buffer.from(frame(m.kind, m.text, f), 'utf8');
    parts[k] = b;
    off += b.length;
    ends[k] = off;
    kinds[m.kind]++;
  }
  return { buffer: Buffer.concat(parts, off), ends, frames: count, kinds };
}
