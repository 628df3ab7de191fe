/**
 * The one place the read side turns stored ledger rows into evidence lines. Today's rows are
 * canonical form version 2 (or 1, written before it): the full OCSF record is the stored `event`
 * (raw_data and metadata.peer included). When the stored row changes shape (a later format with an
 * `ocsf_events` view), this module is what changes: `selections` and `lineText`.
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import { canonicalLifted, chainHash, type CanonicalRow } from '../ledger/canonical.js';
import { isoMicros } from '../ledger/copy.js';
import { recomputeHash, type StoredRow } from '../verify/reference.js';
import type { LedgerDatabase } from './sql.js';
import { v3Hash, v3ToJson } from '../ledger/v3.js';

/**
 * The columns of a row as verify reads them (src/verify/verify.ts LEDGER_ROW_SELECT): every column
 * as text or bytes, `event_time` as UTC with six digits, `src_ip` as abbrev().
 */
export function selectRow<O>(q: SelectQueryBuilder<LedgerDatabase, 'ledger', O>) {
  return q.select([
    'chain',
    sql<string>`seq::text`.as('seq'),
    sql<string>`(extract(epoch FROM received_at) * 1000000)::bigint::text`.as('us'),
    'peer_cn',
    sql<string[]>`peer_sans`.as('peer_sans'),
    sql<string>`peer_addr`.as('peer_addr'),
    'format',
    sql<boolean>`truncated`.as('truncated'),
    sql<string | null>`parse_error`.as('parse_error'),
    sql<Buffer>`raw`.as('raw'),
    sql<string>`syslog::text`.as('syslog'),
    sql<string>`event::text`.as('event'),
    sql<string | null>`to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('event_time'),
    'hostname',
    'app_name',
    'class_uid',
    'activity_id',
    'status_id',
    'severity_id',
    'user_name',
    'actor_user',
    sql<string | null>`abbrev(src_ip)`.as('src_ip'),
    // A version 3 row stores no prev_hash: the stored hash of the row before it.
    sql<Buffer | null>`CASE WHEN ledger.conn IS NULL THEN ledger.prev_hash ELSE (SELECT p.hash FROM ledger p WHERE p.chain = ledger.chain AND p.seq < ledger.seq ORDER BY p.seq DESC LIMIT 1) END`.as('prev_hash'),
    'hash',
    // Version 3 (src/ledger/row.ts): the row's own columns and its connection.
    sql<string | null>`ledger.conn::text`.as('conn'),
    sql<number | null>`ledger.msg_at`.as('msg_at'),
    sql<number | null>`ledger.facility`.as('facility'),
    sql<number | null>`ledger.severity`.as('severity'),
    sql<string | null>`ledger.procid`.as('procid'),
    sql<string | null>`ledger.msgid`.as('msgid'),
    sql<string | null>`ledger.sd::text`.as('sd'),
    sql<string | null>`ledger.ocsf::text`.as('ocsf'),
    sql<string | null>`(extract(epoch FROM ledger.event_time) * 1000000)::bigint::text`.as('event_time_us'),
    sql<Record<string, unknown> | null>`(SELECT to_json(c) FROM ledger_connections c WHERE c.chain = ledger.chain AND c.conn = ledger.conn)`.as('c_json'),
    // For the CSV only: PostgreSQL reads the member (a JSON.parse per row here cost ~13 % of export's CPU).
    sql<string | null>`CASE WHEN ledger.conn IS NULL THEN event ->> 'message' WHEN ledger.msg_at IS NOT NULL THEN ledger_message(ledger.raw, ledger.msg_at) ELSE coalesce(ledger.ocsf, ledger.event) ->> 'message' END`.as('message'),
  ]);
}


/**
 * The canonical form version whose hash is the row's stored hash, or null when none is (the row was
 * changed: the export stops). Fast path: the stored JSON texts are the canonical bytes (migration
 * 007); rows stored before it go through the reference code.
 */
export function rowVersion(r: StoredRow): 1 | 2 | 3 | null {
  if (r.v3 !== undefined) return r.v3.conn !== null && v3Hash(r.prevHash, r.v3.values, r.v3.conn).equals(r.hash) ? 3 : null;
  const fields: CanonicalRow = {
    chain: r.chain, seq: r.seq, receivedAtUs: r.receivedAtUs, peerCn: r.peerCn, peerSans: r.peerSans, peerAddr: r.peerAddr,
    format: r.format, truncated: r.truncated, parseError: r.parseError, raw: r.raw, syslogJson: r.syslogText, eventJson: r.eventText,
  };
  const lifted = canonicalLifted(r.lifted);
  if (lifted !== null && chainHash(r.prevHash, { ...fields, lifted }).equals(r.hash)) return 2;
  if (chainHash(r.prevHash, fields).equals(r.hash)) return 1;
  try {
    const re = recomputeHash(r.prevHash, r);
    return re.hash.equals(r.hash) ? re.version : null;
  } catch {
    return null;
  }
}

/**
 * The events.jsonl line of a row (without LF). Built as text: the stored JSON texts are valid JSON
 * and go in as they are (no parse, no re-serialization per row).
 */
export function lineText(r: StoredRow, version: 1 | 2 | 3, inRange: boolean): string {
  if (r.v3 !== undefined) {
    return (
      `{"chain":${JSON.stringify(r.chain)},"seq":${r.seq},"received_at":"${isoMicros(r.receivedAtUs)}","event":${r.eventText},` +
      `"leaf":{"v":3,"prev_hash":"${r.prevHash.toString('hex')}","hash":"${r.hash.toString('hex')}","received_at_us":${r.receivedAtUs},` +
      `"peer_cn":${JSON.stringify(r.peerCn)},"peer_sans":${JSON.stringify(r.peerSans)},"peer_addr":${JSON.stringify(r.peerAddr)},` +
      `"row":${JSON.stringify(v3ToJson(r.v3.values))},"connection":${JSON.stringify(r.v3.conn)}}${inRange ? '' : ',"in_range":false'}}`
    );
  }
  const l = r.lifted;
  const columns =
    version === 2
      ? `,"columns":${JSON.stringify({
          event_time: l.event_time, hostname: l.hostname, app_name: l.app_name, class_uid: l.class_uid, activity_id: l.activity_id,
          status_id: l.status_id, severity_id: l.severity_id, user_name: l.user_name, actor_user: l.actor_user, src_ip: l.src_ip,
        })}`
      : '';
  return (
    `{"chain":${JSON.stringify(r.chain)},"seq":${r.seq},"received_at":"${isoMicros(r.receivedAtUs)}","event":${r.eventText},` +
    `"leaf":{"v":${version},"prev_hash":"${r.prevHash.toString('hex')}","hash":"${r.hash.toString('hex')}","received_at_us":${r.receivedAtUs},` +
    `"peer_cn":${JSON.stringify(r.peerCn)},"peer_sans":${JSON.stringify(r.peerSans)},"peer_addr":${JSON.stringify(r.peerAddr)},` +
    `"format":${JSON.stringify(r.format)},"truncated":${r.truncated},"parse_error":${JSON.stringify(r.parseError)},` +
    `"raw_base64":"${r.raw.toString('base64')}","syslog":${r.syslogText}${columns}}${inRange ? '' : ',"in_range":false'}}`
  );
}
