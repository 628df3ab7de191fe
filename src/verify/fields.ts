/**
 * The fields of a binary COPY row (verify-copy.ts) as verify's fast path needs them: pieces of the
 * canonical form written straight from the field bytes, the lifted columns compared without decoding
 * them, and the whole row decoded for the reference code when the fast path has a doubt.
 */
import type { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import { isoMicros } from '../ledger/copy.js';
import { get32, get64, put32 } from '../ledger/bytes.js';
import { inetBytes, inetText, pgInetBytes, pgInetInto } from '../ledger/inet.js';
import { PG_EPOCH_US, rfc3339Micros, rfc3339ToUtcMicros } from '../ledger/time.js';
import { F, type CopyRow } from './copy.js';
import type { StoredRow } from './reference.js';
import { MalformedDataError, NotCanonicalizable } from '../errors.js';


/** The whole event, parsed (when liftColumns reads more than LIFT_WANT). */
export function eventOf(row: CopyRow): OcsfEvent {
  return JSON.parse(jsonText(row.buf, row.start[F.event] as number, row.len[F.event] as number)) as OcsfEvent;
}

/**
 * The text of a json field; also of a jsonb field (a ledger read before migration 007 ran: binary
 * jsonb is a version byte 1, then the text; JSON text never starts with byte 1).
 */
export function jsonText(b: Buffer, start: number, len: number): string {
  if (len < 1) throw new MalformedDataError('json field is NULL or empty');
  const v = b[start] === 1 ? 1 : 0;
  return b.toString('utf8', start + v, start + len);
}

export function same32(a: Buffer, as: number, b: Uint8Array, bs: number): boolean {
  for (let k = 0; k < 32; k++) if (a[as + k] !== b[bs + k]) return false;
  return true;
}

/** A text field as a canonical str: 4-byte length and the bytes, or 0xFFFFFFFF for NULL. */
export function copyStr(b: Buffer, s: number, len: number, o: Buffer, w: number, nullable: boolean): number {
  if (len < 0) {
    if (!nullable) throw new NotCanonicalizable('unexpected NULL');
    return put32(o, w, 0xffffffff);
  }
  w = put32(o, w, len);
  if (len < 48) for (let k = 0; k < len; k++) o[w + k] = b[s + k] as number;
  else b.copy(o, w, s, s + len);
  return w + len;
}

/**
 * peer_sans (text[], binary array format: ndim, flags, element type, then per dimension size and
 * lower bound, then each element as a 4-byte length, -1 for NULL, and its bytes) as the canonical
 * count followed by each element as a str: the element encoding is the same bytes.
 */
export function copySans(b: Buffer, s: number, len: number, o: Buffer, w: number): number {
  if (len < 12) throw new NotCanonicalizable('peer_sans is NULL');
  const ndim = get32(b, s);
  if (ndim === 0) return put32(o, w, 0);
  if (ndim !== 1) throw new NotCanonicalizable('peer_sans is multidimensional');
  w = put32(o, w, get32(b, s + 12));
  return w + b.copy(o, w, s + 20, s + len);
}

/** Whether the stored lifted columns equal `want`, without decoding them (compareLifted's semantics). */
export function liftedEqual(row: CopyRow, want: ReturnType<typeof liftColumns>): boolean {
  const b = row.buf;
  const st = row.start;
  const ln = row.len;
  if (ln[F.eventTime] === 8) {
    if (want.event_time === null) return false;
    const gotUs = get64(b, st[F.eventTime] as number) + PG_EPOCH_US;
    const wantUs = rfc3339Micros(want.event_time);
    // A time a double cannot hold to the µs (a version 1 row, whose event_time PostgreSQL read
    // from the text, can have one): compared as UTC text instead.
    if (wantUs === undefined || !Number.isSafeInteger(gotUs)) {
      if (rfc3339ToUtcMicros(want.event_time) !== isoMicros(gotUs)) return false;
    } else if (wantUs !== gotUs) return false;
  }
  return (
    textEquals(want.hostname, b, st[F.hostname] as number, ln[F.hostname] as number) &&
    textEquals(want.app_name, b, st[F.appName] as number, ln[F.appName] as number) &&
    ln[F.classUid] === 4 && want.class_uid === b.readInt32BE(st[F.classUid] as number) &&
    ln[F.activityId] === 4 && want.activity_id === b.readInt32BE(st[F.activityId] as number) &&
    ln[F.statusId] === 4 && want.status_id === b.readInt32BE(st[F.statusId] as number) &&
    ln[F.severityId] === 4 && want.severity_id === b.readInt32BE(st[F.severityId] as number) &&
    textEquals(want.user_name, b, st[F.userName] as number, ln[F.userName] as number) &&
    textEquals(want.actor_user, b, st[F.actorUser] as number, ln[F.actorUser] as number) &&
    ((ln[F.srcIp] as number) < 0 || ipEquals(want.src_ip, b, st[F.srcIp] as number, ln[F.srcIp] as number))
  );
}

/** Whether a binary inet field holds the address `s` (a netmask in the column makes it differ). */
function ipEquals(s: string | null, b: Buffer, at: number, len: number): boolean {
  const want = s === null ? null : inetBytes(s);
  return want !== null && pgInetInto(b, at, len, IP_SCRATCH, 0) === want.length && want.equals(IP_SCRATCH.subarray(0, want.length));
}
const IP_SCRATCH = Buffer.alloc(18);

/** Whether a text field holds exactly `s` (ASCII compared in place; anything else decoded). */
function textEquals(s: string | null, b: Buffer, at: number, len: number): boolean {
  if (len < 0 || s === null) return len < 0 && s === null;
  if (s.length === len) {
    let k = 0;
    while (k < len && s.charCodeAt(k) === b[at + k] && s.charCodeAt(k) < 0x80) k++;
    if (k === len) return true;
  }
  return b.toString('utf8', at, at + len) === s;
}

/** The row decoded for the reference code, shaped as the text cursor of readChain() returns it. */
export function storedRow(row: CopyRow): StoredRow {
  const b = row.buf;
  const st = row.start;
  const ln = row.len;
  const text = (f: number): string | null => ((ln[f] as number) < 0 ? null : b.toString('utf8', st[f], (st[f] as number) + (ln[f] as number)));
  const int = (f: number): number => ((ln[f] as number) === 4 ? b.readInt32BE(st[f] as number) : Number.NaN);
  const bytes = (f: number): Buffer => Buffer.from(b.subarray(st[f], (st[f] as number) + Math.max(0, ln[f] as number)));
  const json = (f: number): string => jsonText(b, st[f] as number, ln[f] as number);
  return {
    chain: text(F.chain) ?? '',
    seq: get64(b, st[F.seq] as number),
    receivedAtUs: get64(b, st[F.receivedAt] as number) + PG_EPOCH_US,
    peerCn: text(F.peerCn),
    peerSans: sans(b, st[F.peerSans] as number, ln[F.peerSans] as number),
    peerAddr: text(F.peerAddr) ?? '',
    format: text(F.format) ?? '',
    truncated: (ln[F.truncated] as number) === 1 && b[st[F.truncated] as number] === 1,
    parseError: text(F.parseError),
    raw: bytes(F.raw),
    syslogText: json(F.syslog),
    eventText: json(F.event),
    lifted: {
      event_time: (ln[F.eventTime] as number) === 8 ? isoMicros(get64(b, st[F.eventTime] as number) + PG_EPOCH_US) : null,
      hostname: text(F.hostname),
      app_name: text(F.appName),
      class_uid: int(F.classUid),
      activity_id: int(F.activityId),
      status_id: int(F.statusId),
      severity_id: int(F.severityId),
      user_name: text(F.userName),
      actor_user: text(F.actorUser),
      src_ip: srcIpText(b, st[F.srcIp] as number, ln[F.srcIp] as number),
    },
    prevHash: bytes(F.prevHash),
    hash: bytes(F.hash),
  };
}

/** A binary inet as abbrev(src_ip) would show it (address, and a netmask when not a single host's). */
function srcIpText(b: Buffer, at: number, len: number): string | null {
  if (len < 0) return null;
  const ip = pgInetBytes(b, at, len);
  if (ip === null) throw new MalformedDataError('src_ip is not an inet value');
  return inetText(ip);
}

/** A text[] in binary array format, flattened (a multidimensional one cannot hash right anyway). */
function sans(b: Buffer, s: number, len: number): string[] {
  if (len < 12) return [];
  const ndim = b.readInt32BE(s);
  let p = s + 12 + 8 * ndim;
  const out: string[] = [];
  while (p + 4 <= s + len) {
    const n = b.readInt32BE(p);
    p += 4;
    out.push(n < 0 ? (null as unknown as string) : b.toString('utf8', p, p + n));
    if (n > 0) p += n;
  }
  return out;
}
