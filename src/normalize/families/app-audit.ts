/**
 * The seed's application audit records (`AuditLogger.log_event`: timestamp, service, event_type, user,
 * resource, action, result, source_ip, metadata, prev_hash, hash), by event_type:
 *   authentication -> Authentication 3002 (logout -> 2 Logoff; password change/reset -> Account Change 3001/3, 4)
 *   authorization  -> Authorize Session 3003 (1 Assign Privileges, 2 Assign Groups, 3 Assign Roles)
 *   data_access    -> API Activity 6003 (Create/Read/Update/Delete from the action verb)
 *   operation      -> API Activity 6003 (the `audit_trail` decorator: action = function name)
 *   administrative -> Entity Management 3004 (Account Change 3001 for user/account actions)
 *   system, other  -> Base Event 0
 * `metadata.product.name` = service. The record is kept whole in `unmapped.app_audit` (with the app's
 * own prev_hash/hash chain), so nothing in it is lost. Field names and their aliases (user/username/
 * actor, src_ip/source_ip/client_ip/ip, action/event_type/event, result/outcome/status,
 * @timestamp/timestamp/time): parsing/audit-fields.ts. A record without `event_type` whose action
 * says login/logout/password/MFA is an authentication; without a result, "failed"/"success" in the
 * action give the status.
 */
import { AUDIT_FIELD_KEYS, auditField, firstString } from '../../parsing/audit-fields.js';
import type { AppAuditRecord } from '../../parsing/types.js';
import type { FamilyInput, Mapping } from '../mapping.js';
import { endpoint, statusOf, user } from '../mapping.js';
import type { ClassUid, StatusId } from '../ocsf.js';
import { clean, cleanJson } from '../text.js';
import { rfc3339ToMs } from '../time.js';

/** The seed's five categories plus the decorator's `operation`. */
export const APP_EVENT_TYPES = ['authentication', 'authorization', 'data_access', 'administrative', 'system', 'operation'] as const;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? clean(v) : undefined;
}

/** CRUD activity (1 Create, 2 Read, 3 Update, 4 Delete, 99 Other) from an action or function name. */
export function crudActivity(action: string): number {
  const a = action.toLowerCase();
  if (/(^|[^a-z])(delete|remove|purge|destroy|drop|erase)/.test(a)) return 4;
  if (/(^|[^a-z])(create|add|insert|post|upload|write|new|register)/.test(a)) return 1;
  if (/(^|[^a-z])(update|modify|patch|put|edit|change|set|rename)/.test(a)) return 3;
  if (/(^|[^a-z])(read|get|list|view|select|search|query|export|download|fetch|show|find)/.test(a)) return 2;
  return 99;
}

function withActivity(m: Mapping, activity: number, other: string): Mapping {
  m.activity_id = activity;
  if (activity === 99) m.activity_name = other;
  return m;
}

/** Words of an action that make a record without `event_type` an authentication. */
const AUTHENTICATION_WORDS = /(log_?in|log_?on|sign_?in|log_?out|log_?off|sign_?out|authenticat|password|passwd|mfa|2fa|otp)/;

/**
 * The seed's category: `event_type`; a record without one (or whose event_type is its action,
 * `{"event_type":"login"}` with no `action`) gets it from the action's words.
 */
function categoryOf(rec: AppAuditRecord, actionLc: string): string {
  const type = (str(rec.event_type) ?? '').toLowerCase();
  if ((APP_EVENT_TYPES as readonly string[]).includes(type)) return type;
  const typeIsAction = type === '' || str(rec.action) === undefined;
  if (typeIsAction && AUTHENTICATION_WORDS.test(actionLc)) return 'authentication';
  return type;
}

/** The action: `action`, else `event_type` when it is not a category (`"event_type":"login"`), else `event`. */
function actionOf(rec: AppAuditRecord): string {
  const keys = AUDIT_FIELD_KEYS.action.filter((k) => k !== 'event_type' || !(APP_EVENT_TYPES as readonly string[]).includes(String(rec.event_type).toLowerCase()));
  return clean(firstString(rec, keys) ?? '');
}

/** A record with no result field: failure or success when the action's words say so. */
function statusFromAction(actionLc: string): StatusId {
  if (/(fail|denied|reject|invalid|refused)/.test(actionLc)) return 2;
  if (/(success|succeeded)/.test(actionLc)) return 1;
  return 0;
}

export function appAudit(input: FamilyInput, rec: AppAuditRecord): Mapping {
  const service = str(rec.service) ?? (input.program || 'application');
  const action = actionOf(rec);
  const actionLc = action.toLowerCase();
  const type = categoryOf(rec, actionLc);
  const who = str(auditField(rec, 'user'));
  const resource = str(rec.resource);
  const result = str(auditField(rec, 'result'));
  const status = result !== undefined ? statusOf(result) : statusFromAction(actionLc);
  const src = endpoint(str(auditField(rec, 'src_ip')));
  const ts = str(auditField(rec, 'timestamp'));
  const unmapped: Record<string, unknown> = { app_audit: cleanJson(rec) };
  const m: Mapping = { rule: `app.${type || 'unknown'}`, class_uid: 0, activity_id: 0, status_id: status, product: service, attrs: {}, unmapped };
  if (ts !== undefined) {
    const t = rfc3339ToMs(ts);
    if (t !== null) m.time = t;
  }
  const attrs = m.attrs;
  if (src !== undefined) attrs.src_endpoint = src;
  if (status === 2 && result !== undefined) m.status_detail = result;
  const setClass = (cls: ClassUid): void => {
    m.class_uid = cls;
  };

  switch (type) {
    case 'authentication': {
      if (/password/.test(actionLc)) {
        setClass(3001);
        if (who) attrs.user = user(who);
        return withActivity(m, /reset/.test(actionLc) ? 4 : 3, action);
      }
      if (/(mfa|2fa|otp|totp|factor)/.test(actionLc) && /(enrol|enable|register|add)/.test(actionLc)) {
        setClass(3001);
        if (who) attrs.user = user(who);
        return withActivity(m, 10, action);
      }
      setClass(3002);
      if (who) attrs.user = user(who);
      attrs.service = { name: service };
      const meta = rec.metadata;
      if (meta && typeof meta === 'object' && typeof (meta as Record<string, unknown>).mfa_used === 'boolean') attrs.is_mfa = (meta as Record<string, unknown>).mfa_used;
      if (/(logout|logoff|sign_?out|signout|session_end|end_session)/.test(actionLc)) return withActivity(m, 2, action);
      if (/(token|api_?key)/.test(actionLc)) return withActivity(m, 99, action);
      if (/(renew|refresh)/.test(actionLc)) return withActivity(m, 99, action);
      return withActivity(m, 1, action);
    }
    case 'authorization': {
      setClass(3003);
      if (who) attrs.user = user(who);
      if (action) attrs.privileges = [action];
      if (resource) unmapped.resource = resource;
      const act = /role/.test(actionLc) ? 3 : /group/.test(actionLc) ? 2 : 1;
      return withActivity(m, act, action);
    }
    case 'data_access':
    case 'operation': {
      setClass(6003);
      if (who) attrs.actor = { user: user(who) };
      const api: Record<string, unknown> = { service: { name: service } };
      if (action) api.operation = action;
      attrs.api = api;
      if (resource) attrs.resources = [{ name: resource }];
      return withActivity(m, crudActivity(action), action || 'Other');
    }
    case 'administrative': {
      if (who) attrs.actor = { user: user(who) };
      if (/(user|account)/.test(actionLc)) {
        setClass(3001);
        if (resource) attrs.user = user(resource);
        const act = /(delete|remove)/.test(actionLc) ? 6 : /(create|add)/.test(actionLc) ? 1 : /unlock|enable/.test(actionLc) ? 2 : /disable/.test(actionLc) ? 5 : /lock/.test(actionLc) ? 9 : 99;
        return withActivity(m, act, action || 'Other');
      }
      setClass(3004);
      attrs.entity = { name: resource ?? (action || 'unknown') };
      return withActivity(m, crudActivity(action), action || 'Other');
    }
    default:
      // `system` and unknown types: Base Event, with the actor kept for queries on who.
      m.rule = type === 'system' ? 'app.system' : 'app.other';
      if (who) unmapped.user = who;
      return m;
  }
}
