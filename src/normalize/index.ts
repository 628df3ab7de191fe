/**
 * ParsedMessage -> OCSF-like event (docs/ocsf.md). One call per frame on the ingest hot path:
 * dispatch on the program name first (programs.ts), then a few anchored regexes in that family's
 * module; programs no family claims cost one Map lookup and a couple of startsWith checks before
 * they become a Base Event (class 0). Nothing is ever dropped, and the result depends only on the
 * frame and its context (no state between calls), so the ledger can re-derive it at verify time.
 */
import type { ParsedMessage } from '../parsing/types.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { NormalizeContext, OcsfEvent } from './types.js';
import type { FamilyInput, Mapping } from './mapping.js';
import { ACTIVITIES, CATEGORIES, CLASSES, MAPPING_VERSION, OCSF_VERSION, SEVERITY_NAMES, STATUS_NAMES } from './ocsf.js';
import { severityOf } from './severity.js';
import { rfc3339ToMs } from './time.js';
import { clean, cleanJson } from './text.js';
import { familyFor, fallback } from './programs.js';
import { appAudit } from './families/app-audit.js';

export { liftColumns } from './columns.js';
export type { NormalizeContext, OcsfEvent, LiftedColumns, Normalizer } from './types.js';

/** syslog facility keywords (RFC 5424 table 1, with the names rsyslog uses), for `metadata.log_name`. */
const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5',
  'local6', 'local7',
] as const;

const REPEATED_RE = /^message repeated (\d+) times?: \[ ?(.*)\]$/s;

/** Normalizes one parsed frame. Never throws for any ParsedMessage the parsers can produce. */
export function normalize(parsed: ParsedMessage, ctx: NormalizeContext): OcsfEvent {
  // Each text is cleaned once here (the parsers already promise storable text; this keeps the
  // event safe even for a ParsedMessage built by hand) and shared by prepare() and envelope().
  const s = parsed.syslog;
  const text: CleanText = {
    message: s.message === null || s.message === undefined ? null : clean(s.message),
    host: s.hostname === null || s.hostname === undefined ? null : clean(s.hostname),
    raw: clean(ctx.rawText),
  };
  const input = prepare(parsed, text);
  let mapping: Mapping | null = null;
  let count: number | undefined;
  if (parsed.audit !== undefined && parsed.audit !== null) {
    mapping = appAudit(input ?? bareInput(parsed, text), parsed.audit);
  } else if (input !== null) {
    let inp = input;
    if (inp.msg.startsWith('message repeated ')) {
      // rsyslog's "$RepeatedMsgReduction": the inner line happened N more times.
      const m = REPEATED_RE.exec(inp.msg);
      if (m) {
        count = +m[1]!;
        inp = { ...inp, msg: m[2]! };
      }
    }
    const family = familyFor(inp.program);
    if (family !== undefined) mapping = family(inp);
    if (mapping === null) mapping = fallback(inp, text.raw);
  } else {
    mapping = fallback(bareInput(parsed, text), text.raw);
  }
  const ev = envelope(parsed, ctx, mapping, input, text);
  if (count !== undefined && ev.count === undefined) ev.count = count;
  return ev;
}

interface CleanText {
  readonly message: string | null;
  readonly host: string | null;
  readonly raw: string;
}

/** The program/message view the families work on; null when the frame has no message at all. */
function prepare(parsed: ParsedMessage, text: CleanText): FamilyInput | null {
  const s = parsed.syslog;
  let msg = text.message;
  if (msg === null) return null;
  if (msg.charCodeAt(0) === 32 || msg.charCodeAt(0) === 9) msg = msg.trimStart();
  if (msg.startsWith('[ID ')) {
    // Solaris: "[ID 800047 auth.notice] Failed none for root ..."
    const end = msg.indexOf('] ');
    if (end > 0) msg = msg.slice(end + 2);
  }
  let program = '';
  let sub: string | null = null;
  let pid = s.procid;
  const app = s.app_name;
  if (app) {
    let end = app.length;
    if (app.charCodeAt(end - 1) === 58 /* : */) end--;
    const bracket = app.indexOf('[');
    if (bracket > 0 && bracket < end) {
      if (pid === null) {
        const close = app.indexOf(']', bracket);
        if (close > bracket + 1) pid = app.slice(bracket + 1, close);
      }
      end = bracket;
    }
    const paren = app.indexOf('(');
    if (paren > 0 && paren < end && app.charCodeAt(end - 1) === 41 /* ) */) {
      sub = app.slice(paren + 1, end - 1);
      end = paren;
    }
    program = clean(end === app.length ? app : app.slice(0, end));
    if (program.indexOf('/') !== -1) program = program.slice(program.lastIndexOf('/') + 1);
    if (sub !== null) sub = clean(sub);
  }
  return { msg, program, sub, pid: pid === null ? null : clean(pid), host: text.host, parsed };
}

function bareInput(parsed: ParsedMessage, text: CleanText): FamilyInput {
  return { msg: text.message ?? '', program: '', sub: null, pid: null, host: text.host, parsed };
}

const peerCache = new WeakMap<PeerIdentity, Record<string, unknown>>();

/**
 * `metadata.peer`: the x509 identity the frame arrived with. Built once per identity object and
 * shared by that connection's events, so it is frozen.
 */
function peerOf(peer: PeerIdentity): Record<string, unknown> {
  let p = peerCache.get(peer);
  if (p === undefined) {
    const q: Record<string, unknown> = {};
    if (peer.cn) q.cn = clean(peer.cn);
    q.sans = Object.freeze(peer.sans.map(clean));
    if (peer.subject) q.subject = clean(peer.subject);
    if (peer.fingerprint) q.fingerprint = clean(peer.fingerprint);
    if (peer.address) q.address = clean(peer.address);
    p = Object.freeze(q);
    peerCache.set(peer, p);
  }
  return p;
}

function envelope(parsed: ParsedMessage, ctx: NormalizeContext, m: Mapping, input: FamilyInput | null, text: CleanText): OcsfEvent {
  const s = parsed.syslog;
  const classUid = m.class_uid;
  const cls = CLASSES[classUid];
  const ts = s.timestamp;
  const tsMs = ts ? rfc3339ToMs(ts) : null;
  const time = tsMs ?? m.time ?? ctx.receivedAtMs;

  const metadata: Record<string, unknown> = {
    version: OCSF_VERSION,
    product: { name: m.product },
    mapping: { version: MAPPING_VERSION, rule: m.rule },
  };
  const fac = s.facility;
  if (fac !== null && fac >= 0 && fac < FACILITIES.length) metadata.log_name = FACILITIES[fac];
  if (s.app_name) metadata.log_provider = clean(s.app_name);
  const original = s.timestamp_original ?? ts;
  if (original) metadata.original_time = clean(original);
  metadata.logged_time = ctx.receivedAtMs;
  // host:program[pid] groups the lines of one process (one SSH connection, one su): `sshd[7]` and
  // `sshd(pam_unix)[7]` share it. Views use it to count an attempt once (docs/ocsf.md).
  const corr = m.correlation_uid ?? (input !== null && input.pid ? `${text.host ?? ''}:${input.program}[${input.pid}]` : undefined);
  if (corr !== undefined) metadata.correlation_uid = corr;
  metadata.peer = peerOf(ctx.peer);

  const activityName = m.activity_name ?? ACTIVITIES[classUid]?.[m.activity_id] ?? (m.activity_id === 0 ? 'Unknown' : 'Other');
  const severityId = severityOf(s.severity, m.status_id);
  const ev: OcsfEvent = {
    class_uid: classUid,
    class_name: cls.name,
    category_uid: cls.category,
    category_name: CATEGORIES[cls.category],
    activity_id: m.activity_id,
    activity_name: activityName,
    type_uid: classUid * 100 + m.activity_id,
    severity_id: severityId,
    severity: SEVERITY_NAMES[severityId],
    status_id: m.status_id,
    status: STATUS_NAMES[m.status_id],
    time,
    metadata,
  };
  if (m.status_detail) ev.status_detail = m.status_detail;
  if (m.count !== undefined) ev.count = m.count;
  if (tsMs !== null && ts) ev.time_dt = ts;
  ev.message = text.message ?? (parsed.format === 'unparsed' ? text.raw : '');
  const host = text.host || m.hostname;
  if (host) ev.device = { hostname: host };
  const attrs = m.attrs;
  for (const k in attrs) ev[k] = attrs[k];
  ev.raw_data = text.raw;

  const unmapped: Record<string, unknown> = m.unmapped ?? {};
  if (m.repeat_of !== undefined) unmapped.repeat_of = m.repeat_of;
  if (classUid === 0) {
    const sys: Record<string, unknown> = {};
    if (s.facility !== null) sys.facility = s.facility;
    if (s.severity !== null) sys.severity = s.severity;
    if (s.app_name) sys.app_name = clean(s.app_name);
    if (s.procid) sys.procid = clean(s.procid);
    if (s.msgid) sys.msgid = clean(s.msgid);
    if (s.structured_data) sys.structured_data = cleanJson(s.structured_data);
    unmapped.syslog = sys;
  }
  if (parsed.parse_error) unmapped.parse_error = clean(parsed.parse_error);
  if (parsed.extra !== undefined && parsed.extra !== null) unmapped.extra = cleanJson(parsed.extra);
  ev.unmapped = unmapped;
  return ev;
}
