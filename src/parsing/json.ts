/**
 * JSON object frames (RFC 8259), first of all rsyslog's `json-audit` template from the seed
 * configuration:
 *
 *   {"@timestamp":"<rfc3339>","host":"..","severity":"info","facility":"local0",
 *    "tag":"app-audit:","message":"<msg, JSON-escaped>"}
 *
 * Field mapping (first key present wins; values of the wrong type stay in `extra`):
 *   timestamp  <- @timestamp, timestamp, time   (RFC 3339 text, or epoch seconds / ms)
 *   hostname   <- host, hostname
 *   severity   <- severity, syslogseverity, syslogseverity-text   (number or name: `info`)
 *   facility   <- facility, syslogfacility, syslogfacility-text   (number or name: `local0`)
 *   app_name   <- app_name, appname, programname, else split from tag / syslogtag
 *   procid     <- procid, pid, else split from the tag (`sshd[77]:`)
 *   msgid      <- msgid
 *   message    <- message, msg   (leading spaces removed, as rsyslog's %msg% starts with one)
 *   structured_data <- structured_data, when shaped {sdid: {param: "value"}}
 * Every other top-level field goes to `extra`.
 *
 * An application audit record (the seed's `AuditLogger`: event_type, user, resource, action,
 * result, source_ip, metadata, prev_hash, hash, or the usual aliases of those names: audit-fields.ts)
 * is recognised inside `message` (a JSON string) or as the frame itself, and returned as `audit`.
 */
import { isAuditRecordShape } from './audit-fields.js';
import { findJsonSyntaxError, JsonTooDeep, sanitizeJson } from './json-scan.js';
import { emptyFields, parsed, unparsed } from './result.js';
import { setOwn } from './structured-data.js';
import { facilityFrom, severityFrom } from './syslog-names.js';
import { splitTag } from './tag.js';
import { beginFrame, escapeControls, frameText, storable } from './text.js';
import { Zone, formatEpochMs, formatOffset, newTimestampScan, pad2, pad4, scanRfc3339 } from './timestamp.js';
import type { AppAuditRecord, ParseContext, ParsedMessage, StructuredData, SyslogFields } from './types.js';

/** Deepest nesting accepted (PostgreSQL's jsonb is recursive; real audit records are shallow). */
export const MAX_JSON_DEPTH = 64;

const MAX_HOSTNAME = 255;
const MAX_APP = 255;
const MAX_PROCID = 128;
const MAX_MSGID = 255;

const TIMESTAMP_KEYS = ['@timestamp', 'timestamp', 'time'] as const;
const HOST_KEYS = ['host', 'hostname'] as const;
const SEVERITY_KEYS = ['severity', 'syslogseverity', 'syslogseverity-text'] as const;
const FACILITY_KEYS = ['facility', 'syslogfacility', 'syslogfacility-text'] as const;
const APP_KEYS = ['app_name', 'appname', 'programname'] as const;
const TAG_KEYS = ['tag', 'syslogtag'] as const;
const PROCID_KEYS = ['procid', 'pid'] as const;
const MESSAGE_KEYS = ['message', 'msg'] as const;

const tsScan = newTimestampScan();

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** First key of `keys` that `obj` has with a usable value; marks it consumed. */
function take(obj: Json, keys: readonly string[], used: Set<string>, accept: (v: unknown) => boolean): unknown {
  for (const k of keys) {
    if (Object.hasOwn(obj, k) && accept(obj[k])) {
      used.add(k);
      return obj[k];
    }
  }
  return undefined;
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isStringOrInt = (v: unknown): boolean => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));

function short(max: number) {
  return (v: unknown): boolean => (typeof v === 'string' && v.length > 0 && v.length <= max) || (typeof v === 'number' && Number.isInteger(v));
}

/** An application audit record: the seed's AuditLogger fields or their usual aliases (audit-fields.ts). */
function isAuditRecord(v: unknown): v is AppAuditRecord {
  return isObject(v) && isAuditRecordShape(v);
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7e || s.charCodeAt(k) < 0x20) return false;
  return true;
}

/** RFC 3339 text for a JSON timestamp value, or null when it is not one. */
function timestampOf(value: unknown, ctx: ParseContext): string | null {
  if (typeof value === 'number') {
    // epoch seconds or milliseconds; beyond 1e11 seconds is year 5138, so it must be ms
    return formatEpochMs(Math.abs(value) >= 1e11 ? value : value * 1000);
  }
  if (typeof value !== 'string' || value.length > 80 || !isAscii(value)) return null;
  const b = Buffer.from(value, 'latin1');
  const end = scanRfc3339(b, 0, b.length, false, tsScan);
  if (end !== b.length) return null;
  const s = tsScan;
  const frac = s.fracEnd > s.fracStart ? `.${value.slice(s.fracStart, Math.min(s.fracEnd, s.fracStart + 6))}` : '';
  const suffix = s.hasOffset
    ? s.offsetMinutes === 0 && (b[end - 1]! | 0x20) === 0x7a
      ? 'Z'
      : formatOffset(s.offsetMinutes)
    : Zone.of(ctx.timeZone).suffixForLocal(s.year, s.month, s.day, s.hour, s.minute);
  return `${pad4(s.year)}-${pad2(s.month)}-${pad2(s.day)}T${pad2(s.hour)}:${pad2(s.minute)}:${pad2(s.second)}${frac}${suffix}`;
}

/** `structured_data` when it has the RFC 5424 shape, else null. */
function structuredDataOf(v: unknown): StructuredData | null {
  if (!isObject(v)) return null;
  for (const params of Object.values(v)) {
    if (!isObject(params)) return null;
    for (const p of Object.values(params)) if (typeof p !== 'string') return null;
  }
  return v as StructuredData;
}

function trimLeadingSpaces(s: string): string {
  let k = 0;
  while (k < s.length && s.charCodeAt(k) === 0x20) k++;
  return k === 0 ? s : s.slice(k);
}

/** An audit record inside a message string, or undefined. */
function auditInMessage(message: string): AppAuditRecord | undefined {
  const t = message.trim();
  if (t.length < 2 || t.charCodeAt(0) !== 0x7b || t.charCodeAt(t.length - 1) !== 0x7d) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  // strings from the outer frame are storable, but \u0000 escapes inside `message` decode here
  const safe = sanitizeJson(v, MAX_JSON_DEPTH);
  if (safe instanceof JsonTooDeep) return undefined;
  return isAuditRecord(safe) ? safe : undefined;
}

function failure(buf: Buffer, reason: 'json_syntax' | 'json_not_object' | 'json_depth', error: string): ParsedMessage {
  beginFrame(buf);
  const fields = emptyFields();
  fields.message = frameText();
  return unparsed(reason, error, fields);
}

/** Parses one frame as a JSON object. Never throws. */
export function parseJson(buf: Buffer, ctx: ParseContext): ParsedMessage {
  if (buf.length === 0) return unparsed('empty', 'JSON: empty frame', emptyFields());
  let root: unknown;
  try {
    root = JSON.parse(buf.toString('utf8'));
  } catch {
    const e = findJsonSyntaxError(buf);
    const where = e === null ? 'JSON: syntax error' : `JSON: syntax error at byte ${e.pos}: ${e.detail}`;
    return failure(buf, 'json_syntax', where);
  }
  if (!isObject(root)) {
    const kind = root === null ? 'null' : Array.isArray(root) ? 'an array' : `a ${typeof root}`;
    return failure(buf, 'json_not_object', `JSON: expected an object at the top level, found ${kind}`);
  }
  const safe = sanitizeJson(root, MAX_JSON_DEPTH);
  if (safe instanceof JsonTooDeep) {
    return failure(buf, 'json_depth', `JSON: nesting deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return mapObject(root, ctx);
}

function mapObject(obj: Json, ctx: ParseContext): ParsedMessage {
  const used = new Set<string>();
  const fields: SyslogFields = emptyFields();
  const frameIsAudit = isAuditRecord(obj);

  const ts = take(obj, TIMESTAMP_KEYS, used, (v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)));
  if (ts !== undefined) {
    fields.timestamp = timestampOf(ts, ctx);
    fields.timestamp_original = storable(String(ts));
  }

  const host = take(obj, HOST_KEYS, used, short(MAX_HOSTNAME));
  if (host !== undefined) fields.hostname = escapeControls(String(host));

  const sev = take(obj, SEVERITY_KEYS, used, (v) => severityFrom(v) !== null);
  if (sev !== undefined) fields.severity = severityFrom(sev);
  const fac = take(obj, FACILITY_KEYS, used, (v) => facilityFrom(v) !== null);
  if (fac !== undefined) fields.facility = facilityFrom(fac);

  const tag = take(obj, TAG_KEYS, used, isString) as string | undefined;
  const split = tag !== undefined ? splitTag(tag) : null;
  const app = take(obj, APP_KEYS, used, short(MAX_APP));
  if (app !== undefined) fields.app_name = escapeControls(String(app));
  else if (split !== null) fields.app_name = split.app === null ? null : escapeControls(split.app);
  else if (frameIsAudit && typeof obj.service === 'string' && obj.service.length <= MAX_APP) fields.app_name = escapeControls(obj.service);

  const procid = take(obj, PROCID_KEYS, used, short(MAX_PROCID));
  if (procid !== undefined) fields.procid = escapeControls(String(procid));
  else if (split !== null) fields.procid = split.procid === null ? null : escapeControls(split.procid);

  const msgid = take(obj, ['msgid'], used, short(MAX_MSGID));
  if (msgid !== undefined) fields.msgid = escapeControls(String(msgid));

  const sd = take(obj, ['structured_data'], used, (v) => structuredDataOf(v) !== null);
  if (sd !== undefined) fields.structured_data = sd as StructuredData;

  const message = take(obj, MESSAGE_KEYS, used, isStringOrInt);
  if (message !== undefined) fields.message = trimLeadingSpaces(String(message));

  const result = parsed('json', fields);
  if (frameIsAudit) {
    result.audit = obj as AppAuditRecord;
    return result;
  }
  if (typeof fields.message === 'string') {
    const audit = auditInMessage(fields.message);
    if (audit !== undefined) result.audit = audit;
  }
  let extra: Json | null = null;
  for (const k of Object.keys(obj)) {
    if (used.has(k)) continue;
    extra ??= {};
    setOwn(extra, k, obj[k]);
  }
  if (extra !== null) result.extra = extra;
  return result;
}
