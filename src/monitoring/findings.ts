import { createHash } from 'node:crypto';
import type { OcsfEvent } from '../normalize/types.js';
import type { SequenceFinding, SequenceSummary } from './sequence.js';
import type { SourceFinding } from './sources.js';

/**
 * Pipeline findings as ledger events, so a hole in the audit trail is itself part of the trail.
 *
 * Class choice (docs/metrics.md, "Findings in the ledger"): OCSF 2004 Detection Finding,
 * activity 1 Create. A gap is something syslog-ledger detected about a sender, not an action on a
 * log (1008 Event Log Activity describes clear/disable/rotate by someone), and Base Event (0) would
 * hide the rows from anyone querying the Findings category. `status_id` is the finding's triage
 * status (1 New), not success/failure as in activity classes.
 */
export type Finding = SequenceFinding | SequenceSummary | SourceFinding;

export const FINDING_CLASS_UID = 2004;
const CATEGORY_UID = 2;
const ACTIVITY_CREATE = 1;
/** OCSF schema version the finding events follow. */
export const FINDING_OCSF_VERSION = '1.3.0';

const SEVERITY: Record<Finding['kind'], { id: number; name: string }> = {
  reset: { id: 1, name: 'Informational' },
  resumed: { id: 1, name: 'Informational' },
  forgotten: { id: 1, name: 'Informational' },
  duplicate: { id: 2, name: 'Low' },
  gap: { id: 3, name: 'Medium' },
  silent: { id: 3, name: 'Medium' },
  chain_break: { id: 4, name: 'High' },
  sequence_summary: { id: 2, name: 'Low' },
};

const ALERTING: ReadonlySet<Finding['kind']> = new Set(['gap', 'chain_break', 'silent']);

/** The ledger event for a finding (OCSF 2004 Detection Finding / Create). Deterministic: same finding, same event. */
export function findingToEvent(finding: Finding): OcsfEvent {
  const severity = finding.kind === 'sequence_summary' && (finding.counts.gap ?? 0) + (finding.counts.chain_break ?? 0) > 0 ? SEVERITY.gap : SEVERITY[finding.kind];
  const title = titleOf(finding);
  const details = detailsOf(finding);
  return {
    class_uid: FINDING_CLASS_UID,
    class_name: 'Detection Finding',
    category_uid: CATEGORY_UID,
    category_name: 'Findings',
    activity_id: ACTIVITY_CREATE,
    activity_name: 'Create',
    type_uid: FINDING_CLASS_UID * 100 + ACTIVITY_CREATE,
    type_name: 'Detection Finding: Create',
    severity_id: severity.id,
    severity: severity.name,
    status_id: 1,
    status: 'New',
    time: finding.atMs,
    is_alert: ALERTING.has(finding.kind),
    message: messageOf(finding),
    device: { hostname: 'stream' in finding && finding.stream !== null ? finding.stream : finding.source },
    finding_info: {
      uid: createHash('sha256').update(JSON.stringify(details)).digest('hex').slice(0, 32),
      title,
      types: [findingType(finding)],
      ...(finding.kind === 'sequence_summary' ? { first_seen_time: finding.firstAtMs, last_seen_time: finding.lastAtMs } : {}),
      analytic: { name: `syslog-ledger ${'stream' in finding ? 'sequence' : 'silence'} tracker`, type_id: 1, type: 'Rule' },
    },
    metadata: {
      version: FINDING_OCSF_VERSION,
      product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' },
      log_provider: 'syslog-ledger',
    },
    unmapped: { syslog_ledger_finding: details },
  };
}

/** A short machine label, also `finding_info.types[0]`: `sequence_gap`, `audit_chain_break`, `source_silent`, ... */
export function findingType(f: Finding): string {
  if (f.kind === 'sequence_summary') return 'sequence_summary';
  if (!('via' in f)) return `source_${f.kind}`;
  return `${f.via === 'sequence_id' ? 'sequence' : 'audit_chain'}_${f.kind === 'chain_break' ? 'break' : f.kind}`;
}

function titleOf(f: Finding): string {
  switch (f.kind) {
    case 'gap':
      return 'Sender sequence gap: messages missing';
    case 'duplicate':
      return 'Sender sequence repeated or out of order';
    case 'reset':
      return f.via === 'sequence_id' ? 'Sender sequence restarted at 1' : 'Producer audit chain restarted';
    case 'chain_break':
      return 'Producer audit chain broken';
    case 'silent':
      return 'Expected source went silent';
    case 'resumed':
      return 'Silent source resumed sending';
    case 'forgotten':
      return 'Source no longer expected';
    case 'sequence_summary':
      return f.open ? 'Sender sequence still out of order: summary' : 'Sender sequence back in order: summary of the episode';
  }
}

/** `source (host app[procid] via ip:port)`: the stream a sequence finding is about. */
function streamName(f: SequenceFinding | SequenceSummary): string {
  const parts = [f.stream !== null && f.stream !== f.source ? f.stream : null, f.app === null ? null : `${f.app}${f.procid === null ? '' : `[${f.procid}]`}`, f.connection === null ? null : `connection ${f.connection}`].filter((p) => p !== null);
  return parts.length > 0 ? `${f.source} (${parts.join(' ')})` : f.source;
}

function messageOf(f: Finding): string {
  const who = 'stream' in f ? streamName(f) : f.source;
  switch (f.kind) {
    case 'gap':
      return `${who}: sequenceId ${f.got} arrived where ${f.expected} was expected; ${f.missing ?? '?'} message(s) missing`;
    case 'duplicate':
      return f.via === 'sequence_id'
        ? `${who}: sequenceId ${f.got} arrived again or late (expected ${f.expected})`
        : `${who}: audit record ${f.got} arrived again`;
    case 'reset':
      return f.via === 'sequence_id'
        ? `${who}: sequenceId restarted at 1 where ${f.expected} was expected; the sender restarted`
        : `${who}: an audit chain started afresh (prev_hash null) while earlier chains were open`;
    case 'chain_break':
      return `${who}: audit record with prev_hash ${f.got} continues no known record (newest chain head ${f.expected ?? 'none'})`;
    case 'silent':
      return `${who}: nothing committed for more than ${f.thresholdSec} s (last seen ${f.lastSeenMs === null ? 'never since start' : new Date(f.lastSeenMs).toISOString()})`;
    case 'resumed':
      return `${who}: events committed again after a silence${f.silentSinceUs != null && f.resumedAtUs !== undefined ? ` of ${Math.round((f.resumedAtUs - f.silentSinceUs) / 1e6)} s` : ''}`;
    case 'forgotten':
      return f.reason === 'unconfigured'
        ? `${who}: no longer configured, no longer expected`
        : `${who}: nothing for a whole learning window (last seen ${f.lastSeenMs === null ? 'never' : new Date(f.lastSeenMs).toISOString()}), no longer expected`;
    case 'sequence_summary': {
      const counts = Object.entries(f.counts).map(([k, n]) => `${n} ${k}`).join(', ');
      const restart = f.restartedAt === null ? '' : `; the sender restarted its count at ${f.restartedAt}`;
      return `${who}: ${f.anomalies} anomalies (${counts}) in ${f.affectedSeconds} s between ${new Date(f.firstAtMs).toISOString()} and ${new Date(f.lastAtMs).toISOString()}, first ${String(f.first.got)} where ${String(f.first.expected)} was expected, last ${String(f.last.got)}${f.missing > 0 ? `; ${f.missing} message(s) missing` : ''}${restart}; ${f.open ? 'still out of order' : 'back in order'}`;
    }
  }
}

function detailsOf(f: Finding): Record<string, unknown> {
  const who = 'stream' in f ? { app: f.app, procid: f.procid, ...(f.connection !== null ? { connection: f.connection } : {}) } : {};
  if (f.kind === 'sequence_summary') {
    return {
      kind: f.kind, source: f.source, stream: f.stream, ...who, open: f.open, anomalies: f.anomalies, since_summary: f.sinceSummary, counts: f.counts, missing: f.missing,
      first: f.first, last: f.last, first_at_ms: f.firstAtMs, last_at_ms: f.lastAtMs, affected_seconds: f.affectedSeconds, restarted_at: f.restartedAt, at_ms: f.atMs,
    };
  }
  if ('via' in f) {
    return { kind: f.kind, via: f.via, source: f.source, stream: f.stream, ...who, expected: f.expected, got: f.got, ...(f.missing !== undefined ? { missing: f.missing } : {}), at_ms: f.atMs };
  }
  // silent_since_us and resumed_at_us are ledger receive times: `syslog-ledger coverage` matches them to the events.
  return {
    kind: f.kind, source: f.source, last_seen_ms: f.lastSeenMs, threshold_sec: f.thresholdSec, at_ms: f.atMs,
    ...(f.silentSinceUs !== undefined ? { silent_since_us: f.silentSinceUs } : {}),
    ...(f.resumedAtUs !== undefined ? { resumed_at_us: f.resumedAtUs } : {}),
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
  };
}
