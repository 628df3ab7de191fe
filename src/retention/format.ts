/**
 * The archive format, version 1 (docs/retention.md, "Archive format"): two files per partition,
 *
 *   <partition>.jsonl.gz        gzip (RFC 1952) of JSON lines, one ledger row per line, ordered by chain then seq
 *   <partition>.manifest.json   what the file holds and how to check it with only the public key
 *
 * A row line keeps every column, so a restored row equals the original byte for byte: the raw frame
 * in base64, the syslog fields and event as JSON, the lifted columns as PostgreSQL printed them,
 * hashes in hex. The manifest names, per chain, the seq range, the first prev_hash and the last
 * hash, the Merkle frontier before and after the range, and the signed checkpoint that covers it
 * (with the row hashes between the range's end and the checkpoint, so its root can be recomputed).
 */
import { LEDGER_ROW_SELECT, ledgerRowFrom, ledgerRowSelect, toStored, type DbRow } from '../verify/verify.js';
import type { V3Document } from '../ledger/row.js';
import type { RowFieldsJson } from '../ledger/db.js';
import type { LiftedColumns } from '../normalize/types.js';
import { v3FromJson, v3ToJson } from '../ledger/v3.js';
import { basename, dirname, join } from 'node:path';
import type { Checkpoint } from '../checkpoints/checkpoint.js';
import { isoMicros } from '../ledger/copy.js';
import type { ChainedRecord } from '../ledger/types.js';
import { liftedOf } from '../verify/reference.js';
import type { StoredRow } from '../verify/verify.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { SyslogFields } from '../parsing/types.js';
import type { SourceClass } from './policy.js';

export const MANIFEST_TYPE = 'syslog-ledger/archive-manifest';
export const ARCHIVE_VERSION = 1;
export const DATA_SUFFIX = '.jsonl.gz';
export const MANIFEST_SUFFIX = '.manifest.json';

/**
 * One ledger row, as a line of the archive: the row's fields (RowFieldsJson, from the ledger's
 * Database), its lifted columns as PostgreSQL printed them (a netmask in src_ip only when not a
 * single host's), the syslog fields and event as JSON, hashes in hex.
 */
export type ArchiveRow = RowFieldsJson &
  LiftedColumns & {
    /** `received_at_us` as RFC 3339, for readers. */
    received_at: string;
    syslog: SyslogFields;
    event: OcsfEvent;
    prev_hash: string;
    hash: string;
    /**
     * A row in canonical form version 3: its stored columns and its connection, which the hash
     * covers; the fields above are then shown (peer_* from the connection, `event` assembled,
     * `syslog` only facility and severity, `prev_hash` the previous row's hash).
     */
    v3?: V3Document;
  };

/** A frontier (RFC 9162 compact range [0, size)), hex. */
export interface FrontierJson {
  size: number;
  hashes: string[];
}

/** One chain's rows in the archive. */
export interface ChainRange {
  chain: string;
  first_seq: number;
  last_seq: number;
  rows: number;
  /** prev_hash of row first_seq (zero for seq 1). */
  first_prev_hash: string;
  first_hash: string;
  last_hash: string;
  /** Merkle frontier of rows 1..first_seq-1, and of rows 1..last_seq. */
  frontier_before: FrontierJson;
  frontier_after: FrontierJson;
  /** Merkle root of rows 1..last_seq. */
  merkle_root: string;
  /** The first signed checkpoint at or after last_seq. */
  checkpoint: Checkpoint;
  /** Row hashes of last_seq+1..checkpoint.seq (empty when the checkpoint is at last_seq). */
  checkpoint_tail: string[];
}

export interface ArchiveManifest {
  type: typeof MANIFEST_TYPE;
  v: typeof ARCHIVE_VERSION;
  ledger_id: string;
  canonical_version: number;
  partition: { name: string; from: string; to: string };
  created_at: string;
  /** The retention policy it was archived under, and what that policy requires. */
  policy: { spec: string; archive_at: string; expires_at: string; hot_rule: string; total_rule: string };
  file: { name: string; compression: 'gzip'; format: 'jsonl'; bytes: number; sha256: string; rows: number };
  /** Rows per source class (docs/retention.md, "Source classes"). */
  classes: Partial<Record<SourceClass, number>>;
  chains: ChainRange[];
}

/** The two file names of an archive, from either of them (or from the data name without suffix). */
export function archivePaths(file: string): { data: string; manifest: string; base: string } {
  const dir = dirname(file);
  let name = basename(file);
  if (name.endsWith(MANIFEST_SUFFIX)) name = name.slice(0, -MANIFEST_SUFFIX.length);
  else if (name.endsWith(DATA_SUFFIX)) name = name.slice(0, -DATA_SUFFIX.length);
  return { data: join(dir, name + DATA_SUFFIX), manifest: join(dir, name + MANIFEST_SUFFIX), base: name };
}

/** The row as verify's StoredRow (for recomputeHash and liftedMismatches of src/verify/verify.ts). */
export function toStoredRow(r: ArchiveRow, syslogText: string, eventText: string): StoredRow {
  const v3 = r.v3 === undefined ? undefined : { values: v3FromJson(r.v3.row), conn: r.v3.connection };
  return {
    v3,
    chain: r.chain,
    seq: r.seq,
    receivedAtUs: r.received_at_us,
    peerCn: r.peer_cn,
    peerSans: r.peer_sans,
    peerAddr: r.peer_addr,
    format: r.format,
    truncated: r.truncated,
    parseError: r.parse_error,
    raw: Buffer.from(r.raw_base64, 'base64'),
    syslogText,
    eventText,
    lifted: liftedOf(r),
    prevHash: Buffer.from(r.prev_hash, 'hex'),
    hash: Buffer.from(r.hash, 'hex'),
  };
}

/** The row as the writer's ChainedRecord, for a COPY line (src/ledger/copy.ts) when restoring. */
export function toChainedRecord(r: ArchiveRow): ChainedRecord {
  return {
    chain: r.chain,
    seq: r.seq,
    receivedAtUs: r.received_at_us,
    peer: { cn: r.peer_cn, sans: r.peer_sans, subject: '', fingerprint: '', address: r.peer_addr },
    raw: Buffer.from(r.raw_base64, 'base64'),
    truncated: r.truncated,
    format: r.format as ChainedRecord['format'],
    parseError: r.parse_error,
    syslog: r.syslog,
    event: r.event,
    columns: liftedOf(r),
    prevHash: Buffer.from(r.prev_hash, 'hex'),
    hash: Buffer.from(r.hash, 'hex'),
  };
}

/** Columns read from a partition (or a restored table) for an archive line: the ledger's row select. */
export const ROW_SELECT = LEDGER_ROW_SELECT;
export { ledgerRowFrom, ledgerRowSelect };

/** A partition row read with ROW_SELECT. */
export type DbArchiveRow = DbRow;

export function fromDbRow(r: DbArchiveRow): ArchiveRow {
  const us = Number(r.us);
  const s = toStored(r);
  if (s.v3 !== undefined) {
    const v = s.v3.values;
    return {
      chain: r.chain, seq: s.seq, received_at_us: us, received_at: isoMicros(us), peer_cn: s.peerCn, peer_sans: s.peerSans, peer_addr: s.peerAddr,
      format: r.format, truncated: r.truncated, parse_error: r.parse_error, raw_base64: r.raw.toString('base64'),
      syslog: { facility: v.facility, severity: v.severity } as SyslogFields, event: JSON.parse(s.eventText) as OcsfEvent,
      event_time: r.event_time, hostname: r.hostname, app_name: r.app_name, class_uid: r.class_uid, activity_id: r.activity_id,
      status_id: r.status_id, severity_id: r.severity_id, user_name: r.user_name, actor_user: r.actor_user, src_ip: r.src_ip,
      prev_hash: s.prevHash.toString('hex'), hash: r.hash.toString('hex'),
      v3: { row: v3ToJson(v), connection: s.v3.conn },
    };
  }
  return {
    chain: r.chain,
    seq: Number(r.seq),
    received_at_us: us,
    received_at: isoMicros(us),
    peer_cn: r.peer_cn,
    peer_sans: r.peer_sans ?? [],
    peer_addr: r.peer_addr ?? '',
    format: r.format,
    truncated: r.truncated,
    parse_error: r.parse_error,
    raw_base64: r.raw.toString('base64'),
    syslog: JSON.parse(r.syslog ?? 'null') as SyslogFields,
    event: JSON.parse(r.event ?? 'null') as OcsfEvent,
    event_time: r.event_time,
    hostname: r.hostname,
    app_name: r.app_name,
    class_uid: r.class_uid,
    activity_id: r.activity_id,
    status_id: r.status_id,
    severity_id: r.severity_id,
    user_name: r.user_name,
    actor_user: r.actor_user,
    src_ip: r.src_ip,
    prev_hash: (r.prev_hash ?? Buffer.alloc(0)).toString('hex'),
    hash: r.hash.toString('hex'),
  };
}
