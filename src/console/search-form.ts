/**
 * The search form, read from a query string into a bounded query. Times are UTC (RFC 3339, a date,
 * `now`, or a time ago: what `export --from/--to` accept) and are made absolute, so the links of the
 * next pages and the export name the same rows. A search must be bounded: the range is required
 * (24 hours back when empty) and at most MAX_RANGE_DAYS long, at most MAX_TEXT_RANGE_DAYS with a
 * message text (which no index serves).
 */
import { absoluteTime, statusId, type EvidenceQuery } from '../evidence/query.js';
import { ConfigError } from '../errors.js';
import type { SearchQuery } from './queries.js';

export const MAX_RANGE_DAYS = 31;
export const MAX_TEXT_RANGE_DAYS = 7;
export const PAGE_SIZES = [10, 25, 50, 100, 200] as const;
export const DEFAULT_PAGE_SIZE = 50;

/** The form's fields, as typed (echoed back into the form, escaped). */
export interface SearchFields {
  readonly from: string;
  readonly to: string;
  readonly host: string;
  readonly user: string;
  readonly class: string;
  readonly status: string;
  readonly text: string;
  readonly n: string;
}

export const FIELD_NAMES = ['from', 'to', 'host', 'user', 'class', 'status', 'text', 'n'] as const;

export interface ParsedSearch {
  readonly fields: SearchFields;
  /** The query, or why there is none (safe to show: the user's own input, escaped by the page). */
  readonly search?: SearchQuery;
  readonly errors: readonly string[];
  readonly limit: number;
  readonly after: { chain: string; seq: number } | null;
  readonly page: number;
}

export function readFields(params: URLSearchParams): SearchFields {
  const f = (k: string): string => (params.get(k) ?? '').slice(0, 512);
  return { from: f('from'), to: f('to'), host: f('host'), user: f('user'), class: f('class'), status: f('status'), text: f('text'), n: f('n') };
}

export function parseSearch(params: URLSearchParams, nowMs: number): ParsedSearch {
  const fields = readFields(params);
  const errors: string[] = [];
  const field = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (err) {
      errors.push(err instanceof ConfigError ? err.message.replace(/^--/, '') : String(err));
      return null;
    }
  };
  const from = field(() => absoluteTime('--from', fields.from.trim() || '24h', nowMs));
  const to = field(() => absoluteTime('--to', fields.to.trim() || 'now', nowMs));
  const classUid = fields.class.trim() === '' ? null : field(() => {
    if (!/^\d{1,9}$/.test(fields.class.trim())) throw new ConfigError('--class', `expects an OCSF class_uid (a number such as 3002), got "${fields.class}"`);
    return Number(fields.class.trim());
  });
  const status = fields.status.trim() === '' ? null : field(() => statusId(fields.status.trim()));
  const n = Number(fields.n || DEFAULT_PAGE_SIZE);
  const limit = (PAGE_SIZES as readonly number[]).includes(n) ? n : DEFAULT_PAGE_SIZE;
  const text = fields.text === '' ? null : fields.text;
  if (from !== null && to !== null) {
    const days = (Date.parse(to) - Date.parse(from)) / 86_400_000;
    if (days <= 0) errors.push('to must be after from');
    else if (days > MAX_RANGE_DAYS) errors.push(`the time range is ${days.toFixed(1)} days: a search covers at most ${MAX_RANGE_DAYS} days (narrow from/to, or use syslog-ledger export, which streams any range)`);
    else if (text !== null && days > MAX_TEXT_RANGE_DAYS) errors.push(`a message-text search reads every frame of the range: it covers at most ${MAX_TEXT_RANGE_DAYS} days (this one is ${days.toFixed(1)})`);
  }
  const afterRaw = params.get('after');
  let after: { chain: string; seq: number } | null = null;
  if (afterRaw) {
    const i = afterRaw.lastIndexOf(':');
    const seq = Number(afterRaw.slice(i + 1));
    if (i > 0 && Number.isSafeInteger(seq) && seq >= 0) after = { chain: afterRaw.slice(0, i), seq };
    else errors.push('after: not a page key');
  }
  const pageNo = Math.max(1, Math.min(1_000_000, Math.floor(Number(params.get('page') ?? '1')) || 1));
  if (errors.length > 0 || from === null || to === null) return { fields, errors, limit, after, page: pageNo };
  const query: EvidenceQuery = {
    by: 'received',
    from,
    to,
    given: { from: fields.from || '24h', to: fields.to || 'now' },
    host: fields.host === '' ? null : fields.host,
    user: fields.user === '' ? null : fields.user,
    class_uid: classUid,
    status_id: status,
    chain: null,
  };
  // The absolute times go back into the form: the next page and the export read the same range.
  return { fields: { ...fields, from, to }, search: { query, text }, errors, limit, after, page: pageNo };
}
