/**
 * The one place the read side turns stored ledger rows into evidence lines. Today's rows are
 * canonical form version 2 (or 1, written before it): the full OCSF record is the stored `event`
 * (raw_data and metadata.peer included). When the stored row changes shape (a later format with an
 * `ocsf_events` view), this module is what changes: `selections` and `lineText`.
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import { canonicalLifted, chainHash, type CanonicalRow } from '../ledger/canonical.js';
import { isoMicros } from '../ledger/copy.js';
import { recomputeHash, type StoredRow } from '../ledger/verify-reference.js';
import type { LedgerDatabase } from './sql.js';

/**
 * The columns of a row as verify reads them (src/ledger/verify.ts LEDGER_ROW_SELECT): every column
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
    sql<Buffer>`prev_hash`.as('prev_hash'),
    'hash',
    // For the CSV only: PostgreSQL reads the member (a JSON.parse per row here cost ~13 % of export's CPU).
    sql<string | null>`event ->> 'message'`.as('message'),
  ]);
}


/**
 * The canonical form version whose hash is the row's stored hash, or null when none is (the row was
 * changed: the export stops). Fast path: the stored JSON texts are the canonical bytes (migration
 * 007); rows stored before it go through the reference code.
 */
export function rowVersion(r: StoredRow): 1 | 2 | null {
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
export function lineText(r: StoredRow, version: 1 | 2, inRange: boolean): string {
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
