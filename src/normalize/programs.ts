/**
 * Dispatch: program name -> family module. To support a new program, write a module in families/
 * (a Rule[] and an entry function) and add its names here; docs/ocsf.md lists the rules.
 */
import type { AppAuditRecord } from '../parsing/types.js';
import { isAuditRecordShape } from '../parsing/audit-fields.js';
import type { Family, FamilyInput, Mapping } from './mapping.js';
import { clean } from './text.js';
import { appAudit } from './families/app-audit.js';
import { auditd, auditRecord, kernel } from './families/auditd.js';
import { dropbear, login } from './families/login.js';
import { logind, systemd } from './families/logind.js';
import { pam, pamLegacy, unixChkpwd } from './families/pam.js';
import { shadow } from './families/shadow.js';
import { sshd } from './families/sshd.js';
import { su } from './families/su.js';
import { sudo } from './families/sudo.js';

const SHADOW_PROGRAMS = [
  'useradd', 'userdel', 'usermod', 'groupadd', 'groupdel', 'groupmod', 'passwd', 'chpasswd', 'gpasswd', 'chage',
  'chfn', 'chsh', 'newusers', 'adduser', 'deluser', 'addgroup', 'delgroup', 'grpck', 'pwck', 'vipw', 'vigr',
] as const;

/** Wraps a family so that `pam_x(svc:type): ...` and `svc(pam_unix)` lines go to the PAM module first. */
function withPam(family: Family): Family {
  return (input) => {
    if (input.sub !== null && input.sub.startsWith('pam_')) return pamLegacy(input) ?? family(input);
    const msg = input.msg;
    if (msg.charCodeAt(0) === 112 /* p */ && msg.startsWith('pam_')) return pam(input) ?? family(input);
    if (msg.charCodeAt(0) === 40 /* ( */ && msg.startsWith('(pam_')) return pamLegacy(input) ?? family(input);
    return family(input);
  };
}

const TABLE = new Map<string, Family>();
const add = (names: readonly string[], family: Family): void => {
  for (const n of names) TABLE.set(n, family);
};
add(['sshd', 'sshd-session', 'sshd-auth'], withPam(sshd));
add(['dropbear'], withPam(dropbear));
add(['sudo'], withPam(sudo));
add(['su', 'su-l'], withPam(su));
add(['login'], withPam(login));
add(SHADOW_PROGRAMS, withPam(shadow));
add(['systemd-logind'], withPam(logind));
add(['systemd'], systemd);
add(['auditd', 'audit', 'audispd', 'audisp-syslog', 'audisp', 'go-audit'], auditd);
add(['kernel'], kernel);
add(['unix_chkpwd'], unixChkpwd);

/** The family for a program name, if one is registered. */
export function familyFor(program: string): Family | undefined {
  return TABLE.get(program);
}

/** Names with a registered family (docs, coverage script). */
export function knownPrograms(): string[] {
  return [...TABLE.keys()];
}

// An RFC 3164 line carried whole as MSG (rsyslog imfile with Tag="auth", as in the seed config).
const EMBEDDED = /^(?:[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})) (\S+) ([^\s[:]+)(?:\[(\d+)\])?: ?(.*)$/s;

const AUDIT_START = /(^|[\s>:])(?:node=\S+ )?type=[A-Z0-9_]+ msg=audit\(/;

/**
 * For frames no family claimed: PAM lines of any program, audit records wherever they appear,
 * a whole syslog line carried as MSG; otherwise a Base Event. Never returns null.
 */
export function fallback(input: FamilyInput, rawText: string): Mapping {
  const msg = input.msg;
  if (input.sub !== null && input.sub.startsWith('pam_')) {
    const m = pamLegacy(input);
    if (m !== null) return m;
  }
  if (msg.startsWith('pam_')) {
    const m = pam(input);
    if (m !== null) return m;
  }
  if (msg.startsWith('type=') || msg.startsWith('node=') || msg.startsWith('audit: ')) {
    const m = auditRecord(msg, input);
    if (m !== null) return m;
  }
  const c = msg.charCodeAt(0);
  if (c === 123 /* { */ && (msg.indexOf('"event_type"') !== -1 || msg.indexOf('"action"') !== -1 || msg.indexOf('"event"') !== -1)) {
    // An audit record carried as plain MSG (rsyslog imfile, Tag="app-audit", non-JSON template).
    const rec = jsonRecord(msg);
    if (rec !== null) return appAudit(input, rec);
  }
  if ((c >= 65 && c <= 90) || (c >= 48 && c <= 57)) {
    const e = EMBEDDED.exec(msg);
    if (e !== null) {
      const inner: FamilyInput = { msg: e[4]!, program: e[2]!, sub: null, pid: e[3] ?? null, host: e[1]!, parsed: input.parsed };
      const family = familyFor(inner.program);
      const m = family !== undefined ? family(inner) : inner.msg.startsWith('pam_') ? pam(inner) : null;
      if (m !== null) {
        const u = m.unmapped ?? (m.unmapped = {});
        u.embedded = { hostname: e[1], program: e[2], ...(e[3] ? { pid: e[3] } : {}) };
        if (e[3] !== undefined && m.correlation_uid === undefined) m.correlation_uid = `${e[1]}:${e[2]}[${e[3]}]`;
        return m;
      }
    }
  }
  // An audit record the parser did not take as MSG (a bare `type=... msg=audit(...)` file line).
  if (rawText.indexOf('msg=audit(') !== -1) {
    const a = AUDIT_START.exec(rawText);
    if (a !== null) {
      const m = auditRecord(clean(rawText.slice(a.index + a[1]!.length).replace(/[\r\n]+$/, '')), input);
      if (m !== null) return m;
    }
  }
  return base(input);
}

function jsonRecord(msg: string): AppAuditRecord | null {
  try {
    const v: unknown = JSON.parse(msg);
    return v !== null && typeof v === 'object' && !Array.isArray(v) && isAuditRecordShape(v as Record<string, unknown>) ? (v as AppAuditRecord) : null;
  } catch {
    return null;
  }
}

/** Base Event (class 0): the syslog fields are added by the envelope under `unmapped.syslog`. */
export function base(input: FamilyInput): Mapping {
  return { rule: 'base', class_uid: 0, activity_id: 0, status_id: 0, product: input.program || 'unknown', attrs: {} };
}
