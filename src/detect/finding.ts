/**
 * A detection as a ledger event: OCSF 2004 Detection Finding, activity 1 Create (as the monitor's
 * pipeline findings, src/monitoring/findings.ts), status 1 New. The events that triggered it are named
 * by chain and seq twice: as OCSF `finding_info.related_events[].uid` (`chain:seq`), and as
 * `unmapped.syslog_ledger_detection.refs` ([{chain, seq}], for SQL joins; docs/detections.md).
 */
import { createHash } from 'node:crypto';
import { FINDING_CLASS_UID, FINDING_OCSF_VERSION } from '../monitoring/findings.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { Ref } from './event.js';

/** Detection rules: the `rule` label of `syslog_ledger_detections_total` and `finding_info.types[0]`. */
export const DETECTION_RULES = [
  'brute_force_user',
  'brute_force_source',
  'password_spraying',
  'success_after_failures',
  'new_root_user',
  'privileged_group_add',
  'bulk_export',
  'bulk_reads',
  'outside_change_window',
  'service_account_interactive',
  'service_account_new_source',
  'new_login_network',
] as const;
export type DetectionRule = (typeof DETECTION_RULES)[number];

/** What a rule found. */
export interface Detection {
  readonly rule: DetectionRule;
  /** What the finding is about, unique per rule (a user, a source IP, `user@network`): the cool-down key. */
  readonly key: string;
  readonly title: string;
  /** One sentence, for people. */
  readonly message: string;
  /** OCSF severity_id: 2 Low, 3 Medium, 4 High. */
  readonly severityId: 2 | 3 | 4;
  /** Time (ms) of the last triggering event. */
  readonly time: number;
  /** Time (ms) of the first triggering event. */
  readonly firstTime: number;
  readonly host: string | null;
  /** Triggering rows, oldest first (at most `max_refs`). */
  readonly refs: readonly Ref[];
  /** How many occurrences the rule counted (attempts, reads, users), when it counts. */
  readonly count?: number;
  readonly user?: string | null;
  readonly actor?: string | null;
  readonly ip?: string | null;
  /** Rule-specific facts (threshold, window, network, group, schedule...). */
  readonly details: Record<string, unknown>;
}

const SEVERITY_NAMES: Record<number, string> = { 2: 'Low', 3: 'Medium', 4: 'High' };
const CATEGORY_UID = 2;
const ACTIVITY_CREATE = 1;

/** The ledger event of a detection. Deterministic: the same detection gives the same event. */
export function detectionToEvent(d: Detection): OcsfEvent {
  const refs = d.refs.map((r) => ({ chain: r.chain, seq: r.seq }));
  const evidence: Record<string, unknown> = {};
  if (d.user) evidence.user = { name: d.user };
  if (d.actor) evidence.actor = { user: { name: d.actor } };
  if (d.ip) evidence.src_endpoint = { ip: d.ip };
  const first = refs[0];
  const uid = createHash('sha256')
    .update(`${d.rule}\0${d.key}\0${first ? `${first.chain}:${first.seq}` : ''}\0${d.time}`)
    .digest('hex')
    .slice(0, 32);
  const event: OcsfEvent = {
    class_uid: FINDING_CLASS_UID,
    class_name: 'Detection Finding',
    category_uid: CATEGORY_UID,
    category_name: 'Findings',
    activity_id: ACTIVITY_CREATE,
    activity_name: 'Create',
    type_uid: FINDING_CLASS_UID * 100 + ACTIVITY_CREATE,
    type_name: 'Detection Finding: Create',
    severity_id: d.severityId,
    severity: SEVERITY_NAMES[d.severityId],
    status_id: 1,
    status: 'New',
    time: d.time,
    is_alert: true,
    message: d.message,
    finding_info: {
      uid,
      title: d.title,
      types: [d.rule],
      first_seen_time: d.firstTime,
      last_seen_time: d.time,
      analytic: { uid: d.rule, name: `syslog-ledger detection ${d.rule}`, type_id: 1, type: 'Rule' },
      related_events: refs.map((r) => ({ uid: `${r.chain}:${r.seq}`, product_uid: 'syslog-ledger' })),
    },
    metadata: {
      version: FINDING_OCSF_VERSION,
      product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' },
      log_provider: 'syslog-ledger',
    },
    unmapped: {
      syslog_ledger_detection: { rule: d.rule, key: d.key, ...(d.count !== undefined ? { count: d.count } : {}), refs, ...d.details },
    },
  };
  if (Object.keys(evidence).length > 0) event.evidences = [evidence];
  if (d.host) event.device = { hostname: d.host };
  return event;
}

/** The detection rule and key a finding event records (for rebuilding cool-downs), or null for other events. */
export function detectionOf(event: OcsfEvent): { rule: string; key: string } | null {
  if (event.class_uid !== FINDING_CLASS_UID) return null;
  const u = event.unmapped as { syslog_ledger_detection?: { rule?: unknown; key?: unknown } } | undefined;
  const det = u?.syslog_ledger_detection;
  return det !== undefined && typeof det.rule === 'string' && typeof det.key === 'string' ? { rule: det.rule, key: det.key } : null;
}
