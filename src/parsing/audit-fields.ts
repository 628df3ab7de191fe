/**
 * Application audit records come with the seed's field names (`AuditLogger`: event_type, user,
 * action, result, source_ip, timestamp) and with the spellings other loggers use. Each field is read
 * from the first of its keys that holds a non-empty string, in this order (docs/ocsf.md):
 *
 *   user       <- user, username, actor
 *   src_ip     <- src_ip, source_ip, client_ip, ip
 *   action     <- action, event_type (when it is not one of the seed's categories), event
 *   result     <- result, outcome, status
 *   timestamp  <- @timestamp, timestamp, time   (as for any JSON frame, json.ts; the event's time is
 *                 the syslog header's when the frame has one, as with rsyslog's json-audit template)
 *
 * `event_type` is the seed's category (authentication, authorization, ...); a record without one
 * gets its category from the words of its action (normalize/families/app-audit.ts).
 */
export const AUDIT_FIELD_KEYS = {
  user: ['user', 'username', 'actor'],
  src_ip: ['src_ip', 'source_ip', 'client_ip', 'ip'],
  action: ['action', 'event_type', 'event'],
  result: ['result', 'outcome', 'status'],
  timestamp: ['@timestamp', 'timestamp', 'time'],
} as const;
export type AuditField = keyof typeof AUDIT_FIELD_KEYS;

/** The value of the first key of `keys` that `rec` has as a non-empty string. */
export function firstString(rec: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    if (!Object.hasOwn(rec, k)) continue;
    const v = rec[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

export function auditField(rec: Record<string, unknown>, field: AuditField): string | undefined {
  return firstString(rec, AUDIT_FIELD_KEYS[field]);
}

/**
 * An audit record: the seed's (`event_type` plus one of user, action, result, resource), or any
 * object that says what happened (an action key) and who did it or how it ended (a user or result key).
 */
export function isAuditRecordShape(v: Record<string, unknown>): boolean {
  if (typeof v.event_type === 'string' && ('user' in v || 'action' in v || 'result' in v || 'resource' in v)) return true;
  return auditField(v, 'action') !== undefined && (auditField(v, 'user') !== undefined || auditField(v, 'result') !== undefined);
}
