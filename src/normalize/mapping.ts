/**
 * What a program-family module returns: the OCSF classification of one message plus its
 * class-specific attributes. `normalize` (index.ts) wraps it in the common envelope (time, metadata,
 * device, peer, raw_data, message, severity), so a family only says what the line means.
 */
import type { ParsedMessage } from '../parsing/types.js';
import type { ClassUid, StatusId } from './ocsf.js';
import { isIpAddress, toInt } from './text.js';

/** The message a family looks at, with the syslog header fields it may need. */
export interface FamilyInput {
  /** MSG with leading blanks and a Solaris `[ID n facility.level]` tag removed. */
  readonly msg: string;
  /** Program name: APP-NAME without `[pid]`, a trailing `:` or a `(pam_unix)` suffix. */
  readonly program: string;
  /** The `(sub)` part of `program(sub)[pid]` tags, e.g. `pam_unix` in `su(pam_unix)[123]`. */
  readonly sub: string | null;
  readonly pid: string | null;
  readonly host: string | null;
  readonly parsed: ParsedMessage;
}

export interface Mapping {
  /** Stable id of the rule that matched (`sshd.failed`); `<family>.other` for a family's catch-all. */
  rule: string;
  class_uid: ClassUid;
  activity_id: number;
  status_id: StatusId;
  /** Caption when activity_id is 99 (Other); otherwise taken from the class's activity list. */
  activity_name?: string;
  status_detail?: string;
  /** `metadata.product.name`. */
  product: string;
  /** OCSF `count`: how many occurrences one line stands for (`message repeated 5 times`, sudo `3 incorrect password attempts`). */
  count?: number;
  /**
   * Names the record that counts this same attempt, when this line is secondary evidence of it
   * (see docs/ocsf.md, "Repeated lines of one attempt"). Written to `unmapped.repeat_of`.
   */
  repeat_of?: string;
  /** Class-specific OCSF attributes (user, actor, src_endpoint, process, group, ...). */
  attrs: Record<string, unknown>;
  unmapped?: Record<string, unknown>;
  /** Event time (ms) from the record itself, used when the syslog header has none (auditd, app records). */
  time?: number;
  /** `metadata.correlation_uid` when the family knows better than `host:program[pid]` (auditd event id). */
  correlation_uid?: string;
  /** `device.hostname` when the syslog header has none (auditd `node=`). */
  hostname?: string;
}

export type Family = (input: FamilyInput) => Mapping | null;

/** One data-driven rule: a cheap prefix test, then an anchored regex, then a builder. */
export interface Rule {
  readonly id: string;
  /** The message must start with this (checked before the regex); omit only when no prefix is fixed. */
  readonly prefix?: string;
  readonly re: RegExp;
  readonly map: (m: RegExpExecArray, input: FamilyInput) => Mapping;
}

/** First rule whose prefix and regex match, mapped; null when none does. */
export function runRules(rules: readonly Rule[], input: FamilyInput): Mapping | null {
  const msg = input.msg;
  for (const rule of rules) {
    if (rule.prefix !== undefined && !msg.startsWith(rule.prefix)) continue;
    const m = rule.re.exec(msg);
    if (m) return rule.map(m, input);
  }
  return null;
}

/** OCSF user object; omits what is unknown. */
export function user(name?: string | null, uid?: string | null): Record<string, unknown> {
  const u: Record<string, unknown> = {};
  if (name) u.name = name;
  if (uid) u.uid = uid;
  return u;
}

/** OCSF network endpoint from an address that may be an IP or a host name, and an optional port. */
export function endpoint(addr: string | null | undefined, port?: string | null): Record<string, unknown> | undefined {
  const ep: Record<string, unknown> = {};
  if (addr && addr !== '?' && addr !== '(null)' && addr !== 'UNKNOWN') {
    if (isIpAddress(addr)) ep.ip = addr;
    else ep.hostname = addr;
  }
  const p = toInt(port);
  if (p !== undefined && p >= 0 && p <= 65535) ep.port = p;
  return ep.ip !== undefined || ep.hostname !== undefined || ep.port !== undefined ? ep : undefined;
}

/** Sets `obj[key] = value` only when value is not undefined/null/empty string. */
export function put(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined && value !== null && value !== '') obj[key] = value;
}

/** Status from an outcome word (`success`, `failed`, `yes`, `no`, `1`, `0`, `denied`, ...). */
export function statusOf(res: string | null | undefined): StatusId {
  if (!res) return 0;
  switch (res.toLowerCase()) {
    case 'success':
    case 'succeeded':
    case 'successful':
    case 'yes':
    case '1':
    case 'ok':
    case 'allowed':
    case 'granted':
    case 'true':
      return 1;
    case 'failed':
    case 'failure':
    case 'fail':
    case 'no':
    case '0':
    case 'denied':
    case 'error':
    case 'false':
    case 'refused':
    case 'rejected':
      return 2;
    default:
      return 0;
  }
}
