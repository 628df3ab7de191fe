/**
 * What an export selects: the filters of `syslog-ledger export`, their absolute form (as the manifest
 * states them), and the one SQL predicate every query of the export is built from (built with the ledger's Kysely builder, src/ledger/db.ts).
 */
import { sql, type Expression, type ExpressionBuilder, type ExpressionWrapper, type SqlBool } from 'kysely';
import { ConfigError } from '../errors.js';
import type { Database as LedgerDatabase } from '../ledger/db.js';

export const TIME_BASES = ['event', 'received'] as const;
export type TimeBase = (typeof TIME_BASES)[number];

/** The query of an export, absolute: what the manifest signs. */
export interface EvidenceQuery {
  /** Which time --from/--to apply to: the event's own time (`event_time`) or the receive time. */
  readonly by: TimeBase;
  /** Inclusive lower bound, RFC 3339 UTC; null: from the beginning. */
  readonly from: string | null;
  /** Exclusive upper bound, RFC 3339 UTC (the export's start when not given). */
  readonly to: string;
  /** The values as given on the command line (relative ones included). */
  readonly given: { readonly from: string | null; readonly to: string | null };
  readonly host: string | null;
  /** Matches `user_name` or `actor_user`. */
  readonly user: string | null;
  readonly class_uid: number | null;
  readonly status_id: number | null;
  readonly chain: string | null;
}

/** Whether anything but time and chain narrows the export: then it is a filtered one (no completeness claim). */
export function isFiltered(q: EvidenceQuery): boolean {
  return q.host !== null || q.user !== null || q.class_uid !== null || q.status_id !== null;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RELATIVE = /^(?:now)?-?(\d+)\s*(s|m|h|d|w)(?:\s*ago)?$/;
const ABSOLUTE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A time as given: RFC 3339 / ISO 8601 (a date alone is midnight UTC; a time without zone is UTC),
 * `now`, or relative to `now` (`24h`, `-7d`, `now-30m`, `2w ago`). Returns RFC 3339 UTC.
 */
export function absoluteTime(option: string, text: string, nowMs: number): string {
  const t = text.trim();
  if (t === 'now') return new Date(nowMs).toISOString();
  const rel = RELATIVE.exec(t);
  if (rel) return new Date(nowMs - Number(rel[1]) * UNITS[rel[2] as string]!).toISOString();
  if (ABSOLUTE.test(t)) {
    const zoned = /T|\s/.test(t) ? (/(Z|[+-]\d{2}:?\d{2})$/i.test(t) ? t : `${t}Z`) : `${t}T00:00:00Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  throw new ConfigError(option, `expects an RFC 3339 time (2026-01-31T00:00:00Z), "now", or a time ago (24h, 7d, 30m), got "${text}"`);
}

const STATUS_NAMES: Record<string, number> = { unknown: 0, success: 1, failure: 2, other: 99 };

/** Status as given: an OCSF status_id, or its name. */
export function statusId(text: string): number {
  const n = STATUS_NAMES[text.toLowerCase()] ?? (/^\d+$/.test(text) ? Number(text) : undefined);
  if (n === undefined) throw new ConfigError('--status', `expects success, failure, unknown, other or an OCSF status_id, got "${text}"`);
  return n;
}

/** The predicate of the query, for any query on `ledger`. */
export function predicate(eb: ExpressionBuilder<LedgerDatabase, 'ledger'>, q: EvidenceQuery): ExpressionWrapper<LedgerDatabase, 'ledger', SqlBool> {
  const parts: Expression<SqlBool>[] = [];
  const column = q.by === 'event' ? 'event_time' : 'received_at';
  if (q.from !== null) parts.push(eb(column, '>=', sql<Date>`${q.from}::timestamptz`));
  parts.push(eb(column, '<', sql<Date>`${q.to}::timestamptz`));
  if (q.chain !== null) parts.push(eb('chain', '=', q.chain));
  if (q.host !== null) parts.push(eb('hostname', '=', q.host));
  if (q.user !== null) parts.push(eb.or([eb('user_name', '=', q.user), eb('actor_user', '=', q.user)]));
  if (q.class_uid !== null) parts.push(eb('class_uid', '=', q.class_uid));
  if (q.status_id !== null) parts.push(eb('status_id', '=', q.status_id));
  return eb.and(parts);
}

/** The predicate in words, for the manifest and for people. */
export function describeQuery(q: EvidenceQuery): string {
  const col = q.by === 'event' ? 'event_time' : 'received_at';
  const parts = [q.from === null ? `${col} < ${q.to}` : `${q.from} <= ${col} < ${q.to}`];
  if (q.chain !== null) parts.push(`chain = ${JSON.stringify(q.chain)}`);
  if (q.host !== null) parts.push(`hostname = ${JSON.stringify(q.host)}`);
  if (q.user !== null) parts.push(`(user_name = ${JSON.stringify(q.user)} OR actor_user = ${JSON.stringify(q.user)})`);
  if (q.class_uid !== null) parts.push(`class_uid = ${q.class_uid}`);
  if (q.status_id !== null) parts.push(`status_id = ${q.status_id}`);
  return parts.join(' AND ');
}
