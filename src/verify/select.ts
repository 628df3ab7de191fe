/**
 * The stored ledger row as the read side selects it, defined once: selectRow() (Kysely, typed from
 * the ledger's Database) gives its columns and DbRow is its result type. verify's reference reader,
 * prove, export and the retention archive read this shape; LEDGER_ROW_SELECT (src/verify/verify.ts)
 * is the same select as SQL text over any ledger table (a partition, a restored schema), and
 * test/ledger/v3.test.ts checks that the two give the same rows.
 */
import { sql, type InferResult, type SelectQueryBuilder } from 'kysely';
import { db, type Database } from '../ledger/db.js';
import type { ConnectionsTable } from '../ledger/row.js';

/** A connection as to_json() of its ledger_connections row gives it (conn as a JSON number). */
export type ConnectionJson = Omit<ConnectionsTable, 'conn'> & { conn: number | string };

/**
 * The columns of a row as verify reads them (src/verify/verify.ts LEDGER_ROW_SELECT): every column
 * as text or bytes, `event_time` as UTC with six digits, `src_ip` as abbrev().
 */
export function selectRow<O>(q: SelectQueryBuilder<Database, 'ledger', O>) {
  return q.select([
    'chain',
    sql<string>`seq::text`.as('seq'),
    sql<string>`(extract(epoch FROM received_at) * 1000000)::bigint::text`.as('us'),
    'peer_cn',
    'peer_sans',
    'peer_addr',
    'format',
    'truncated',
    'parse_error',
    'raw',
    sql<string | null>`syslog::text`.as('syslog'),
    sql<string | null>`event::text`.as('event'),
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
    'msg_at',
    'facility',
    'severity',
    'procid',
    'msgid',
    sql<string | null>`ledger.sd::text`.as('sd'),
    sql<string | null>`ledger.ocsf::text`.as('ocsf'),
    sql<string | null>`(extract(epoch FROM ledger.event_time) * 1000000)::bigint::text`.as('event_time_us'),
    sql<ConnectionJson | null>`(SELECT to_json(c) FROM ledger_connections c WHERE c.chain = ledger.chain AND c.conn = ledger.conn)`.as('c_json'),
    // For the CSV only: PostgreSQL reads the member (a JSON.parse per row here cost ~13 % of export's CPU).
    sql<string | null>`CASE WHEN ledger.conn IS NULL THEN event ->> 'message' WHEN ledger.msg_at IS NOT NULL THEN ledger_message(ledger.raw, ledger.msg_at) ELSE coalesce(ledger.ocsf, ledger.event) ->> 'message' END`.as('message'),
  ]);
}

const rowQuery = () => selectRow(db.selectFrom('ledger'));

/** A row read with selectRow() or LEDGER_ROW_SELECT (every column as text or bytes; `message` only from selectRow). */
export type DbRow = Omit<InferResult<ReturnType<typeof rowQuery>>[number], 'message'>;
