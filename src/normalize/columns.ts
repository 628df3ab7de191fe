/**
 * The filter columns lifted out of an event (migrations/001_ledger.sql, docs/ocsf.md "Lifted columns").
 * Derived from the event only, so `verify` can recompute them from the stored event and compare.
 */
import type { ParsedMessage } from '../parsing/types.js';
import type { LiftedColumns, OcsfEvent } from './types.js';
import { isIpAddress } from './text.js';
import { rfc3339ToMs } from './time.js';

/**
 * Longest text kept in a lifted column (UTF-16 code units). B-tree index entries are limited to about
 * 2.7 kB; a hostile 8 kB "Invalid user" name must not make an INSERT fail. The event keeps it whole.
 */
export const MAX_COLUMN_TEXT = 256;

export function liftColumns(event: OcsfEvent, _parsed?: ParsedMessage): LiftedColumns {
  const ts = event.time_dt;
  const device = event.device as { hostname?: unknown } | undefined;
  const user = event.user as { name?: unknown } | undefined;
  const actor = event.actor as { user?: { name?: unknown } } | undefined;
  const src = event.src_endpoint as { ip?: unknown } | undefined;
  const ip = src?.ip;
  return {
    event_time: typeof ts === 'string' && rfc3339ToMs(ts) !== null ? ts : null,
    hostname: text(device?.hostname),
    app_name: text(event.metadata.log_provider),
    class_uid: event.class_uid,
    activity_id: event.activity_id,
    status_id: event.status_id,
    severity_id: event.severity_id,
    user_name: text(user?.name),
    actor_user: text(actor?.user?.name),
    src_ip: typeof ip === 'string' && isIpAddress(ip) ? ip : null,
  };
}

function text(v: unknown): string | null {
  if (typeof v !== 'string' || v.length === 0) return null;
  if (v.length <= MAX_COLUMN_TEXT) return v;
  let end = MAX_COLUMN_TEXT;
  const c = v.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // do not split a surrogate pair
  return v.slice(0, end);
}
