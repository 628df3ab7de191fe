/**
 * Ledger format v3 on the write side: a record becomes a row that stores each fact once
 * (docs/ledger-format.md, "Version 3"). The OCSF event is split into what the columns, `raw` and the
 * connection already hold (derived again by the view `ocsf_events`, migrations/009_ledger_v3.sql,
 * and by deriveEvent() below: the two must agree) and what only the mapping knows (stored as `ocsf`).
 *
 * The split is checked on every row: the event assembled from the columns and the stored part must
 * be exactly the event (same canonical JSON), else the row stores the whole event in `event` and no
 * `ocsf` (the server's own records always do). So the view gives back today's event for every row.
 */
import type { PeerIdentity } from '../listener/identity.js';
import { ACTIVITIES, CATEGORIES, CLASSES, SEVERITY_NAMES, STATUS_NAMES } from '../normalize/ocsf.js';
import { clean, cleanJson } from '../normalize/text.js';
import type { OcsfEvent } from '../normalize/types.js';
import { canonicalJson, chainedRow, ledgerColumns, quotedKey, sortedKeys } from './canonical.js';
import { isoMicros } from './copy.js';
import type { CopyBuffer } from './copy-binary.js';
import { sha256 } from './sha256.js';
import { connectionBytes, encodeV3, encodeV3Linked, encodeV3Tail, V3_COLUMNS, v3TailMaxSize, type Connection, type V3Json, type V3Values } from './row.js';
import type { ChainedRecord, LedgerRecord } from './types.js';

/**
 * `metadata.version` as the view derives it. Fixed: were OCSF_VERSION to change, events claiming
 * another version keep theirs in `ocsf` (the split sees it differ), and old rows stay right.
 */
export const V3_OCSF_VERSION = '1.7.0';

/** syslog facility keywords, as the normalizer names them (metadata.log_name). */
export const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5',
  'local6', 'local7',
] as const;

/** The connection record of a peer identity (stored once in ledger_connections). */
export function connectionOf(peer: PeerIdentity): Connection {
  return {
    transport: peer.transport ?? (peer.address === 'internal' ? 'internal' : 'tls'),
    peer_addr: clean(peer.address),
    peer_cn: peer.cn === null ? null : clean(peer.cn),
    peer_sans: peer.sans.map(clean),
    peer_subject: clean(peer.subject),
    peer_fingerprint: clean(peer.fingerprint),
  };
}

const peerMembers = new WeakMap<Connection, Record<string, unknown>>();

/** `metadata.peer` as the normalizer writes it, from a connection record (built once per connection, frozen). */
export function peerMember(c: Connection): Record<string, unknown> {
  const cached = peerMembers.get(c);
  if (cached !== undefined) return cached;
  const q: Record<string, unknown> = {};
  if (c.peer_cn) q.cn = c.peer_cn;
  q.sans = c.peer_sans;
  if (c.peer_subject) q.subject = c.peer_subject;
  if (c.peer_fingerprint) q.fingerprint = c.peer_fingerprint;
  if (c.peer_addr) q.address = c.peer_addr;
  Object.freeze(q);
  peerMembers.set(c, q);
  return q;
}

/** Where the body of `raw` ends: before one trailing LF or CRLF (the framer's `body`). */
export function bodyEnd(raw: Buffer): number {
  const n = raw.length;
  if (n >= 2 && raw[n - 2] === 13 && raw[n - 1] === 10) return n - 2;
  if (n >= 1 && raw[n - 1] === 10) return n - 1;
  return n;
}

/** The text of `raw` from `at` to the body's end (what the view shows as `message`). */
export function messageOf(raw: Buffer, at: number): string {
  return raw.toString('utf8', at, bodyEnd(raw));
}

/** The members the view derives from a v3 row's columns and connection (same as the SQL). */
export function deriveEvent(v: V3Values, conn: Connection, message: string | null): OcsfEvent {
  const ev: Record<string, unknown> = {};
  for (const k of DERIVED_MEMBERS) {
    const x = derivedMember(v, message, k);
    if (x !== ABSENT) ev[k] = x;
  }
  const md: Record<string, unknown> = {};
  for (const k of DERIVED_METADATA) {
    const x = derivedMeta(v, conn, k);
    if (x !== ABSENT) md[k] = x;
  }
  ev.metadata = md;
  const un: Record<string, unknown> = {};
  if (keepsSyslog(v)) {
    // A Base Event keeps its syslog header fields (derivedUnmapped: the same, as canonical JSON).
    const sys: Record<string, unknown> = {};
    if (v.facility !== null) sys.facility = v.facility;
    if (v.severity !== null) sys.severity = v.severity;
    if (v.app_name !== null) sys.app_name = v.app_name;
    if (v.procid) sys.procid = v.procid;
    if (v.msgid) sys.msgid = v.msgid;
    if (v.sd !== null) sys.structured_data = JSON.parse(v.sd);
    un.syslog = sys;
  }
  ev.unmapped = un;
  return ev as OcsfEvent;
}

/** The top-level members the view derives besides metadata and unmapped, in the event's order (derivedMember). */
const DERIVED_MEMBERS = ['class_uid', 'class_name', 'category_uid', 'category_name', 'activity_id', 'activity_name', 'type_uid', 'severity_id', 'severity', 'status_id', 'status', 'time', 'time_dt', 'message', 'device'] as const;
/** The metadata members the view derives, in the event's order (derivedMeta). */
const DERIVED_METADATA = ['version', 'log_name', 'log_provider', 'original_time', 'logged_time', 'correlation_uid', 'peer', 'mapping', 'product'] as const;

/** The full event from the derived members and the stored part (the view's merge, in JS). */
export function assembleEvent(derived: OcsfEvent, stored: Record<string, unknown>, rawData: string | undefined): OcsfEvent {
  const ev: Record<string, unknown> = { ...derived, ...stored };
  if (!('raw_data' in stored) && rawData !== undefined) ev.raw_data = rawData;
  ev.metadata = { ...derived.metadata, ...((stored.metadata as Record<string, unknown> | undefined) ?? {}) };
  ev.unmapped = { ...(derived.unmapped ?? {}), ...((stored.unmapped as Record<string, unknown> | undefined) ?? {}) };
  return ev as OcsfEvent;
}

/** Canonical JSON of frozen objects (the normalizer's metadata.peer, the derived one), once each. */
const frozenJson = new WeakMap<object, string>();
function canonicalOf(o: object): string {
  if (!Object.isFrozen(o)) return canonicalJson(o);
  let j = frozenJson.get(o);
  if (j === undefined) {
    j = canonicalJson(o);
    frozenJson.set(o, j);
  }
  return j;
}

/**
 * Same canonical JSON. Strict structural equality (same own keys, values === or equal in turn)
 * implies it and costs no string; only objects that differ structurally are serialized to decide
 * (a member whose value is `undefined` on one side only, say).
 */
const same = (a: unknown, b: unknown): boolean => a === b || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && objectsSame(a, b));

/**
 * Two frozen objects found equal once (the normalizer's metadata.peer and the connection's, each
 * made once per peer) are equal still: not walked again for every row.
 */
const frozenPairs = new WeakMap<object, object>();
function objectsSame(a: object, b: object): boolean {
  if (frozenPairs.get(a) === b) return true;
  if (deepEqual(a, b)) {
    if (Object.isFrozen(a) && Object.isFrozen(b)) frozenPairs.set(a, b);
    return true;
  }
  return canonicalOf(a) === canonicalOf(b);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false;
  const aa = Array.isArray(a);
  if (aa !== Array.isArray(b)) return false;
  if (aa) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * The part of `event` to store beside the columns, or null when the event cannot be assembled back
 * exactly (then the whole event is stored). Exact by construction: every member the view derives
 * must be in the event (else null), and every member of the event is either derived equal
 * (canonical JSON) or stored; so the view's merge gives the event back, member for member.
 * test/ledger/v3.test.ts checks the view against the events themselves.
 */
export function splitEvent(event: OcsfEvent, derived: OcsfEvent, rawData: string | undefined): Record<string, unknown> | null {
  const stored: Record<string, unknown> = {};
  const d = derived as Record<string, unknown>;
  for (const k of Object.keys(event)) {
    const x = event[k];
    if (x === undefined) continue;
    if (k === 'metadata' || k === 'unmapped') {
      const dx = (d[k] ?? {}) as Record<string, unknown>;
      const sub: Record<string, unknown> = {};
      let any = false;
      if (typeof x !== 'object' || x === null || Array.isArray(x)) return null;
      for (const kk of Object.keys(x)) {
        const y = (x as Record<string, unknown>)[kk];
        if (y === undefined) continue;
        if (!Object.hasOwn(dx, kk) || !same(y, dx[kk])) {
          sub[kk] = y;
          any = true;
        }
      }
      if (any) stored[k] = sub;
    } else if (k === 'raw_data') {
      if (x !== rawData) stored[k] = x;
    } else if (!Object.hasOwn(d, k) || !same(x, d[k])) stored[k] = x;
  }
  if (!('metadata' in event) || !('unmapped' in event) || !('raw_data' in event)) return null;
  // Every derived member must be one of the event's (the view would add it otherwise).
  for (const k of Object.keys(d)) if (!has(event, k)) return null;
  for (const k of ['metadata', 'unmapped'] as const) {
    const x = event[k] as Record<string, unknown>;
    for (const kk of Object.keys((d[k] ?? {}) as object)) if (!has(x, kk)) return null;
  }
  return stored;
}

const has = (o: Record<string, unknown>, k: string): boolean => Object.hasOwn(o, k) && o[k] !== undefined;

/** Not a member of the derived event. */
const ABSENT = Symbol('absent');

/**
 * The derived event's top-level member `k` other than metadata and unmapped, or ABSENT: deriveEvent
 * is made of these, and the writer's split (storedJson) computes only those the event has.
 */
function derivedMember(v: V3Values, message: string | null, k: string): unknown {
  const c = v.class_uid;
  const cls = (CLASSES as Record<number, { name: string; category: number } | undefined>)[c];
  switch (k) {
    case 'class_uid':
      return c;
    case 'class_name':
      return cls === undefined ? ABSENT : cls.name;
    case 'category_uid':
      return cls === undefined ? ABSENT : cls.category;
    case 'category_name':
      return cls === undefined ? ABSENT : (CATEGORIES[cls.category] ?? ABSENT);
    case 'activity_id':
      return v.activity_id;
    case 'activity_name':
      return ACTIVITIES[c]?.[v.activity_id] ?? (v.activity_id === 0 ? 'Unknown' : 'Other');
    case 'type_uid':
      return c * 100 + v.activity_id;
    case 'severity_id':
      return v.severity_id;
    case 'severity':
      return SEVERITY_NAMES[v.severity_id] ?? ABSENT;
    case 'status_id':
      return v.status_id;
    case 'status':
      return STATUS_NAMES[v.status_id] ?? ABSENT;
    case 'time':
      return Math.floor((v.event_time ?? v.received_at) / 1000);
    case 'time_dt':
      return v.event_time === null ? ABSENT : isoMicros(v.event_time);
    case 'message':
      return message ?? ABSENT;
    case 'device':
      return v.hostname === null ? ABSENT : { hostname: v.hostname };
    default:
      return ABSENT;
  }
}

/**
 * How many members the derived event has at the top (metadata and unmapped included) and in its
 * metadata: counted from the same member functions deriveEvent is made of, never restated.
 */
function derivedCounts(v: V3Values, conn: Connection, message: string | null): { top: number; metadata: number } {
  let top = 2;
  for (const k of DERIVED_MEMBERS) if (derivedMember(v, message, k) !== ABSENT) top++;
  let metadata = 0;
  for (const k of DERIVED_METADATA) if (derivedMeta(v, conn, k) !== ABSENT) metadata++;
  return { top, metadata };
}

const validFacility = (f: number | null): f is number => f !== null && f >= 0 && f < FACILITIES.length;
const correlated = (v: V3Values): boolean => v.hostname !== null && v.app_name !== null && !!v.procid;

/** The derived event's metadata member `k`, or ABSENT. */
function derivedMeta(v: V3Values, conn: Connection, k: string): unknown {
  switch (k) {
    case 'version':
      return V3_OCSF_VERSION;
    case 'log_name':
      return validFacility(v.facility) ? FACILITIES[v.facility] : ABSENT;
    case 'log_provider':
      return v.app_name ?? ABSENT;
    case 'original_time':
      return v.event_time === null ? ABSENT : isoMicros(v.event_time);
    case 'logged_time':
      return Math.floor(v.received_at / 1000);
    case 'correlation_uid':
      return correlated(v) ? `${v.hostname}:${v.app_name}[${v.procid}]` : ABSENT;
    case 'peer':
      return peerMember(conn);
    case 'mapping':
      return v.class_uid === 0 ? { rule: 'base', version: 1 } : ABSENT;
    case 'product':
      return v.class_uid === 0 ? { name: v.app_name ?? 'unknown' } : ABSENT;
    default:
      return ABSENT;
  }
}


/** Whether the derived event has unmapped.syslog: a Base Event's (deriveEvent, derivedUnmapped). */
const keepsSyslog = (v: V3Values): boolean => v.class_uid === 0;

/** A derived member given as its canonical JSON (compared as such: same() is canonical equality). */
class Canonical {
  constructor(readonly json: string) {}
}

/**
 * deriveEvent(...).unmapped[k], or ABSENT: only a Base Event's `syslog`, as its canonical JSON
 * (keys in canonical order; `sd` is canonical JSON already), not parsed back into objects.
 */
function derivedUnmapped(v: V3Values, k: string): unknown {
  if (k !== 'syslog' || !keepsSyslog(v)) return ABSENT;
  let j = '';
  const add = (key: string, x: string | number): void => {
    j += `${j === '' ? '' : ','}"${key}":${JSON.stringify(x)}`;
  };
  if (v.app_name !== null) add('app_name', v.app_name);
  if (v.facility !== null) add('facility', v.facility);
  if (v.msgid) add('msgid', v.msgid);
  if (v.procid) add('procid', v.procid);
  if (v.severity !== null) add('severity', v.severity);
  if (v.sd !== null) j += `${j === '' ? '' : ','}"structured_data":${v.sd}`;
  return new Canonical(`{${j}}`);
}

/** same(x, d), where d may be given as its canonical JSON. */
const sameAs = (x: unknown, d: unknown): boolean => (d instanceof Canonical ? typeof x === 'object' && x !== null && canonicalOf(x) === d.json : same(x, d));

/**
 * The sub-object `x` (the event's metadata or unmapped) as storedJson writes it (splitEvent's sub-object): '' when no
 * member is stored, else `"k":{...}`; null when a derived member is missing from it.
 */
function storedPart(k: string, x: unknown, derived: (kk: string) => unknown, count: number): string | null {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return null;
  const xo = x as Record<string, unknown>;
  const keys = sortedKeys(xo);
  let sub = '';
  let any = false;
  let found = 0;
  for (let j = 0; j < keys.length; j++) {
    const kk = keys[j]!;
    const y = xo[kk];
    if (y === undefined) continue;
    const d = derived(kk);
    if (d !== ABSENT) {
      found++;
      if (sameAs(y, d)) continue;
    }
    any = true;
    if (typeof y !== 'function') sub += (sub === '' ? '' : ',') + quotedKey(kk) + canonicalJson(y);
  }
  if (found < count) return null;
  // splitEvent stores the sub-object when any member differs, even one canonicalJson omits (a function): then `{}`.
  return any ? `${quotedKey(k)}{${sub}}` : '';
}

/**
 * canonicalJson(splitEvent(event, deriveEvent(v, conn, message), rawData)) in one pass, without
 * building the derived event or the stored object: the event's keys are walked in canonical order,
 * each derived member is computed only for the event member it is compared with, and counting the
 * derived members found stands for checking that each is there. The writer's path; splitEvent is
 * its reference (test/ledger/copy-binary.test.ts compares the two over the fixture corpora).
 */
export function storedJson(event: OcsfEvent, v: V3Values, conn: Connection, message: string | null, rawData: string | undefined): string | null {
  if (!has(event, 'metadata') || !has(event, 'unmapped') || !('raw_data' in event)) return null;
  const e = event as Record<string, unknown>;
  const keys = sortedKeys(e);
  let out = '{';
  let found = 0;
  let counts: { top: number; metadata: number } | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const x = e[k];
    if (x === undefined) continue;
    let part: string | null;
    if (k === 'metadata') {
      found++;
      part = storedPart(k, x, (kk) => derivedMeta(v, conn, kk), (counts ??= derivedCounts(v, conn, message)).metadata);
    } else if (k === 'unmapped') {
      found++;
      part = storedPart(k, x, (kk) => derivedUnmapped(v, kk), keepsSyslog(v) ? 1 : 0);
    } else {
      const d = derivedMember(v, message, k);
      if (d !== ABSENT) found++; // present, even as a function (which is not stored)
      if (typeof x === 'function') continue;
      if (k === 'raw_data' ? x === rawData : d !== ABSENT && same(x, d)) continue;
      part = quotedKey(k) + canonicalJson(x);
    }
    if (part === null) return null;
    if (part !== '') out += (out === '{' ? '' : ',') + part;
  }
  return found < (counts ??= derivedCounts(v, conn, message)).top ? null : out + '}';
}

/** The message's byte offset in `raw`, when the event's message is the body's tail exactly; else null. */
export function messageOffset(raw: Buffer, message: unknown): number | null {
  if (typeof message !== 'string') return null;
  const end = bodyEnd(raw);
  const m = utf8Scratch(message);
  const at = end - m;
  if (at < 0) return null;
  return raw.compare(textScratch, 0, m, at, end) === 0 ? at : null;
}

/** Scratch for a string's UTF-8 bytes, compared with `raw` without allocating a Buffer per event. */
let textScratch = Buffer.allocUnsafe(16 * 1024);

/** Writes `s` as UTF-8 at textScratch[0]; returns its byte length. */
function utf8Scratch(s: string): number {
  if (textScratch.length < s.length * 3) textScratch = Buffer.allocUnsafe(s.length * 3);
  return textScratch.write(s, 0, 'utf8');
}

/** Whether `body` (raw up to bodyEnd) is exactly the UTF-8 of `s`. */
function bodyIs(raw: Buffer, end: number, s: string): boolean {
  if (s.length > end * 3 || s.length * 3 < end) {
    // quick rejects: a UTF-16 unit is 1 to 3 bytes of UTF-8 (a surrogate pair: 2 units, 4 bytes)
    return false;
  }
  const n = utf8Scratch(s);
  return n === end && raw.compare(textScratch, 0, n, 0, end) === 0;
}

/** A connection as the writer knows it: its id in the chain (the seq of its first row) and its canonical bytes. */
export interface ChainConnection {
  readonly id: number;
  readonly record: Connection;
  readonly bytes: Buffer;
}

export function chainConnection(id: number, peer: PeerIdentity): ChainConnection {
  const record = connectionOf(peer);
  return { id, record, bytes: connectionBytes(record) };
}

const NO_HASH = Buffer.alloc(0);

/** The v3 column values of a record placed at `seq` in `chain`, sent by `conn`. */
export function v3Values(record: LedgerRecord, chain: string, seq: number, conn: ChainConnection): { values: V3Values; columns: ChainedRecord['columns'] } {
  const s = record.syslog;
  const { columns, lifted } = ledgerColumns(record.columns);
  const event = record.event;
  const msgAt = record.format === 'internal' ? null : messageOffset(record.raw, event.message);
  const small = (n: number | null): number | null => (n !== null && Number.isInteger(n) && n >= -32768 && n <= 32767 ? n : null);
  const v: V3Values = {
    chain,
    seq,
    received_at: record.receivedAtUs,
    conn: conn.id,
    format: record.format,
    truncated: record.truncated,
    parse_error: record.parseError,
    raw: record.raw,
    msg_at: msgAt,
    facility: small(s.facility),
    severity: small(s.severity),
    procid: s.procid === null ? null : clean(s.procid),
    msgid: s.msgid === null ? null : clean(s.msgid),
    sd: s.structured_data ? canonicalJson(cleanJson(s.structured_data)) : null,
    event_time: lifted?.eventTimeUs ?? null,
    hostname: columns.hostname,
    app_name: columns.app_name,
    class_uid: columns.class_uid,
    activity_id: columns.activity_id,
    status_id: columns.status_id,
    severity_id: columns.severity_id,
    user_name: columns.user_name,
    actor_user: columns.actor_user,
    src_ip: columns.src_ip,
    ocsf: null,
    event: null,
    hash: NO_HASH,
  };
  let stored: string | null = null;
  if (record.format !== 'internal') {
    const rawData = typeof event.raw_data === 'string' && bodyIs(record.raw, bodyEnd(record.raw), event.raw_data) ? event.raw_data : undefined;
    const message = msgAt === null ? null : (event.message as string);
    stored = storedJson(event, v, conn.record, message, rawData);
  }
  if (stored === null) v.event = canonicalJson(event);
  else v.ocsf = stored;
  return { values: v, columns };
}

/**
 * Gives a record its place in a chain as a v3 row (its values and hash) and writes the row's binary
 * COPY into `out` (the writer's inline path; a stage worker's rows take CopyBuffer.linked, the
 * same bytes: test/ledger/copy-binary.test.ts).
 */
export function chainRecordV3Into(record: LedgerRecord, chain: string, seq: number, prevHash: Buffer, conn: ChainConnection, out: CopyBuffer): ChainedRecord {
  const { values, columns } = v3Values(record, chain, seq, conn);
  // The canonical tail once, for the hash and the COPY row both (as a stage worker's rows).
  const need = v3TailMaxSize(values);
  if (tailScratch.length < need) tailScratch = Buffer.allocUnsafe(need * 2);
  const end = encodeV3Tail(values, tailScratch, 0);
  const hash = sha256(encodeV3Linked(prevHash, chain, seq, values.received_at, conn.id, conn.bytes, tailScratch, 0, end));
  values.hash = hash;
  out.linked(chain, seq, values.received_at, conn.id, tailScratch, 0, end, hash);
  return chainedRow(record, columns, chain, seq, prevHash, hash);
}

/** The inline path's canonical tail (valid until the next row). */
let tailScratch = Buffer.allocUnsafe(16 * 1024);

/** A v3 row's values as JSON (proofs, exports, archives): bytea as base64; the rest as they are. */
export function v3ToJson(v: V3Values): V3Json {
  const o: Record<string, unknown> = {};
  for (const c of V3_COLUMNS) {
    const x = (v as Record<string, unknown>)[c.name];
    o[c.name] = c.kind === 'bytea' && x !== null ? (x as Buffer).toString('base64') : x;
  }
  return o as V3Json;
}

/** The inverse of v3ToJson. */
export function v3FromJson(o: V3Json): V3Values {
  const v: Record<string, unknown> = {};
  for (const c of V3_COLUMNS) {
    const x = (o as Record<string, unknown>)[c.name] ?? null;
    v[c.name] = c.kind === 'bytea' && x !== null ? Buffer.from(x as string, 'base64') : x;
  }
  return v as unknown as V3Values;
}

/** hash = SHA-256(prev || canonical_v3(values, connection)). */
export function v3Hash(prev: Buffer, v: V3Values, conn: Connection): Buffer {
  return sha256(encodeV3(prev, v, connectionBytes(conn)));
}

/** The full OCSF event of a stored v3 row (what the view ocsf_events gives, computed here). */
export function v3EventOf(v: V3Values, conn: Connection): OcsfEvent {
  if (v.ocsf === null) return JSON.parse(v.event ?? 'null') as OcsfEvent;
  const stored = JSON.parse(v.ocsf) as Record<string, unknown>;
  const message = v.msg_at === null ? null : messageOf(v.raw, v.msg_at);
  const rawData = 'raw_data' in stored ? undefined : v.raw.toString('utf8', 0, bodyEnd(v.raw));
  return assembleEvent(deriveEvent(v, conn, message), stored, rawData);
}
