/**
 * The reference row checks of `verify`, written for clarity rather than speed: a stored row's hash
 * recomputed with the writer's own code (JSON.parse of the stored JSON text, canonicalJson, chainHash)
 * in canonical form version 2, or version 1 for rows written before it, whose lifted columns the hash
 * does not cover and are re-derived with liftColumns(). The fast path (verify-range.ts) falls back to
 * these whenever it does not agree with the stored row, so every finding is confirmed here.
 */
import { liftColumns } from '../normalize/columns.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { Format, ParsedMessage, SyslogFields } from '../parsing/types.js';
import { canonicalJson, canonicalLifted, chainHash, type CanonicalRow } from '../ledger/canonical.js';
import { rfc3339ToUtcMicros } from '../ledger/time.js';
import type { Connection, V3Values } from '../ledger/row.js';
import { v3EventOf, v3Hash } from '../ledger/v3.js';
import { isoMicros } from '../ledger/copy.js';

export const FINDING_KINDS = [
  'hash_mismatch', 'broken_link', 'seq_gap', 'seq_order', 'column_mismatch', 'head_mismatch', 'unreadable_row',
  'checkpoint_mismatch', 'checkpoint_signature', 'checkpoint_truncation', 'checkpoint_file',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  readonly chain: string;
  readonly seq: number;
  readonly kind: FindingKind;
  readonly detail: string;
}

/** A row as verify reads it back. */
export interface StoredRow {
  chain: string;
  seq: number;
  receivedAtUs: number;
  peerCn: string | null;
  peerSans: string[];
  peerAddr: string;
  format: string;
  truncated: boolean;
  parseError: string | null;
  raw: Buffer;
  syslogText: string;
  eventText: string;
  /**
   * The lifted columns as stored: `event_time` as `to_char(event_time AT TIME ZONE 'UTC',
   * 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, `src_ip` as `abbrev(src_ip)` (the address, and a netmask only
   * when it is not a single host's: a tampered column).
   */
  lifted: LiftedColumns;
  prevHash: Buffer;
  hash: Buffer;
  /**
   * A version 3 row: its values and its connection (null when the connection row is missing). For
   * such a row, peer*, eventText (the assembled event) are for display; the hash covers `v3`, and
   * prevHash is the previous row's stored hash (v3 stores none).
   */
  v3?: { values: V3Values; conn: Connection | null } | undefined;
}

/** The lifted columns of a row read under the columns' own names (verify's DbRow, the archive's ArchiveRow). */
export function liftedOf(r: LiftedColumns): LiftedColumns {
  const { event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip } = r;
  return { event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip };
}

/**
 * The recomputed hash of a stored row, given the prev_hash to chain from: in the version whose hash
 * is the stored one (2, then 1), else in version 2 when the columns can be version 2's.
 */
export function recomputeHash(prevHash: Buffer, row: StoredRow): { hash: Buffer; version: 1 | 2 | 3; syslog: SyslogFields; event: OcsfEvent } {
  if (row.v3 !== undefined) {
    const { values, conn } = row.v3;
    if (conn === null) return { hash: Buffer.alloc(32), version: 3, syslog: null as unknown as SyslogFields, event: {} as OcsfEvent };
    return { hash: v3Hash(prevHash, values, conn), version: 3, syslog: null as unknown as SyslogFields, event: v3EventOf(values, conn) };
  }
  const syslog = JSON.parse(row.syslogText) as SyslogFields;
  const event = JSON.parse(row.eventText) as OcsfEvent;
  const fields: CanonicalRow = {
    chain: row.chain,
    seq: row.seq,
    receivedAtUs: row.receivedAtUs,
    peerCn: row.peerCn,
    peerSans: row.peerSans,
    peerAddr: row.peerAddr,
    format: row.format,
    truncated: row.truncated,
    parseError: row.parseError,
    raw: row.raw,
    syslogJson: canonicalJson(syslog),
    eventJson: canonicalJson(event),
  };
  const lifted = canonicalLifted(row.lifted);
  if (lifted !== null) {
    const hash = chainHash(prevHash, { ...fields, lifted });
    if (hash.equals(row.hash)) return { hash, version: 2, syslog, event };
  }
  const v1 = chainHash(prevHash, fields);
  if (v1.equals(row.hash) || lifted === null) return { hash: v1, version: 1, syslog, event };
  return { hash: chainHash(prevHash, { ...fields, lifted }), version: 2, syslog, event };
}

/**
 * The findings of one stored row, chained on `prevHash`: its hash, and its lifted columns when the
 * hash does not cover them (version 1) or does not match (then they tell which column changed).
 */
export function rowFindings(prevHash: Buffer, row: StoredRow): { hashOk: boolean; badColumns: string[] } {
  const re = recomputeHash(prevHash, row);
  const hashOk = re.hash.equals(row.hash);
  // Version 3 hashes every column it stores: a changed column is a hash_mismatch; the diagnosis
  // names the lifted columns that disagree with the event the row gives.
  if (re.version === 3) return { hashOk, badColumns: hashOk || !row.v3?.conn ? [] : v3ColumnMismatches(row.v3.values, row.v3.conn) };
  if (hashOk) return { hashOk, badColumns: re.version === 2 ? [] : liftedMismatches(row, re.syslog, re.event) };
  // Only a diagnosis (which column changed) beside the hash_mismatch: an event liftColumns cannot read gives none.
  let badColumns: string[] = [];
  try {
    badColumns = liftedMismatches(row, re.syslog, re.event);
  } catch {
    // the hash_mismatch stands alone
  }
  return { hashOk, badColumns };
}

/**
 * The lifted columns of a v3 row that disagree with the event it gives (a diagnosis beside its
 * hash_mismatch: the user, actor and source address live in the stored OCSF part too).
 */
export function v3ColumnMismatches(v: V3Values, conn: Connection): string[] {
  try {
    const lifted: LiftedColumns = {
      event_time: v.event_time === null ? null : isoMicros(v.event_time), hostname: v.hostname, app_name: v.app_name, class_uid: v.class_uid,
      activity_id: v.activity_id, status_id: v.status_id, severity_id: v.severity_id, user_name: v.user_name, actor_user: v.actor_user, src_ip: v.src_ip,
    };
    const parsed = { format: v.format as Format, syslog: null, parse_error: v.parse_error, parse_error_reason: null } as unknown as ParsedMessage;
    return compareLifted(lifted, liftColumns(v3EventOf(v, conn), parsed));
  } catch {
    return [];
  }
}

/** Compares the stored lifted columns with what the event gives; returns the names that differ. */
export function liftedMismatches(row: StoredRow, syslog: SyslogFields | null, event: OcsfEvent): string[] {
  const parsed = { format: row.format as Format, syslog, parse_error: row.parseError, parse_error_reason: null } as ParsedMessage;
  return compareLifted(row.lifted, liftColumns(event, parsed));
}

/** The comparison itself, shared with the fast path. */
export function compareLifted(got: LiftedColumns, want: LiftedColumns): string[] {
  const bad: string[] = [];
  if (got.event_time !== null) {
    // A lifted time PostgreSQL refused is written as NULL (writer's data-error fallback); not tampering.
    // The stored form is already UTC with six digits, so equal text needs no conversion.
    if (want.event_time !== got.event_time && (want.event_time === null || rfc3339ToUtcMicros(want.event_time) !== got.event_time)) bad.push('event_time');
  }
  if (want.hostname !== got.hostname) bad.push('hostname');
  if (want.app_name !== got.app_name) bad.push('app_name');
  if (want.class_uid !== got.class_uid) bad.push('class_uid');
  if (want.activity_id !== got.activity_id) bad.push('activity_id');
  if (want.status_id !== got.status_id) bad.push('status_id');
  if (want.severity_id !== got.severity_id) bad.push('severity_id');
  if (want.user_name !== got.user_name) bad.push('user_name');
  if (want.actor_user !== got.actor_user) bad.push('actor_user');
  if (got.src_ip !== null && (want.src_ip === null || !sameIp(want.src_ip, got.src_ip))) bad.push('src_ip');
  return bad;
}

export function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  return a.includes(':') && b.includes(':') && expandV6(a) === expandV6(b);
}

function expandV6(ip: string): string {
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = ip.includes('::') ? new Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}
