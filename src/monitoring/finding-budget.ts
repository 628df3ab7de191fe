import { createHash } from 'node:crypto';
import { internalRecord } from '../ledger/internal-record.js';
import type { LedgerRecord } from '../ledger/types.js';
import type { OcsfEvent } from '../normalize/types.js';
import { BoundedLabels } from '../metrics/labels.js';
import type { Metrics } from '../metrics/registry.js';

/**
 * The hard cap on rows the server writes of its own (docs/metrics.md, "The per-source cap").
 *
 * Every writer of server rows (the monitor's sequence and silence findings, the detector's
 * detections, their summaries) goes through one `FindingBudget`: at most `perMinute` rows per source
 * in each minute, whatever the kind. What goes over is not written; it is counted in
 * `syslog_ledger_findings_suppressed_total{source,kind}`, and when the source's minute ends one row
 * (`finding.suppressed`) says how many findings of which kinds were held back. So a source can make
 * the server write at most `perMinute + 1` rows a minute, however it behaves.
 *
 * The minute is the source's own: it starts with the first row written for the source and lasts 60 s.
 */

/** Where server rows go: `write` builds the row only when the budget lets it through. */
export interface FindingSink {
  /** Writes `build()` for `source` unless the source's budget for this minute is spent; returns whether it was written. */
  write(source: string, kind: string, build: () => LedgerRecord): boolean;
}

/** A sink without a cap, for tests and tools that write straight into a queue. */
export function uncappedSink(enqueue: (record: LedgerRecord) => void): FindingSink {
  return {
    write(_source, _kind, build) {
      enqueue(build());
      return true;
    },
  };
}

export interface FindingBudgetOptions {
  /** `--max-findings-per-minute`: rows per source per minute. Default 60. */
  readonly perMinute?: number;
  /** Where admitted rows go: the writer's queue. */
  readonly enqueue: (record: LedgerRecord) => void;
  /** Sources followed at once; beyond it they share the `_other_` budget. Default 10000. */
  readonly maxSources?: number;
  /** Clock in ms since the epoch; tests pass a fake one. */
  readonly now?: () => number;
}

/** What one source's minute held back: the content of a `finding.suppressed` row. */
export interface SuppressionNotice {
  readonly source: string;
  readonly suppressed: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly perMinute: number;
}

interface Minute {
  readonly startMs: number;
  written: number;
  suppressed: number;
  readonly byKind: Map<string, number>;
}

const MINUTE_MS = 60_000;
/** The kind that names the notice rows in `msgid` (`finding.suppressed`) and `finding_info.types`. */
export const SUPPRESSED_KIND = 'findings_suppressed';

export class FindingBudget implements FindingSink {
  readonly perMinute: number;
  readonly #metrics: Metrics;
  readonly #enqueue: (record: LedgerRecord) => void;
  readonly #now: () => number;
  readonly #maxSources: number;
  readonly #labels: BoundedLabels;
  /** The `kind` values each label has a `findings_suppressed_total` series for (removed when the label is evicted). */
  readonly #kindsOf = new Map<string, Set<string>>();
  readonly #minutes = new Map<string, Minute>();
  #written = 0;
  #suppressed = 0;
  #notices = 0;

  constructor(metrics: Metrics, o: FindingBudgetOptions) {
    const perMinute = o.perMinute ?? 60;
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new RangeError(`findings per minute must be a whole number >= 1, got ${perMinute}`);
    this.perMinute = perMinute;
    this.#metrics = metrics;
    this.#enqueue = o.enqueue;
    this.#now = o.now ?? Date.now;
    this.#maxSources = o.maxSources ?? 10_000;
    this.#labels = new BoundedLabels(1000, {
      evictions: metrics.sourceLabelsEvicted,
      // The label's series go with its slot, so the count of series stays bounded.
      onEvict: (label) => {
        for (const kind of this.#kindsOf.get(label) ?? []) metrics.findingsSuppressed.remove({ source: label, kind });
        this.#kindsOf.delete(label);
      },
    });
  }

  write(source: string, kind: string, build: () => LedgerRecord): boolean {
    const now = this.#now();
    const key = this.#minutes.has(source) || this.#minutes.size < this.#maxSources ? source : '_other_';
    let m = this.#minutes.get(key);
    if (m !== undefined && now - m.startMs >= MINUTE_MS) {
      this.#close(key, m);
      m = undefined;
    }
    if (m === undefined) {
      m = { startMs: now, written: 0, suppressed: 0, byKind: new Map() };
      this.#minutes.set(key, m);
    }
    if (m.written < this.perMinute) {
      m.written++;
      this.#written++;
      this.#enqueue(build());
      return true;
    }
    m.suppressed++;
    this.#suppressed++;
    m.byKind.set(kind, (m.byKind.get(kind) ?? 0) + 1);
    const label = this.#labels.label(key);
    let kinds = this.#kindsOf.get(label);
    if (kinds === undefined) this.#kindsOf.set(label, (kinds = new Set()));
    kinds.add(kind);
    this.#metrics.findingsSuppressed.inc({ source: label, kind });
    return false;
  }

  /** Ends the minutes that are over, writing their notices. Call once a second. Returns the notices written. */
  tick(): SuppressionNotice[] {
    const now = this.#now();
    const out: SuppressionNotice[] = [];
    for (const [key, m] of this.#minutes) {
      if (now - m.startMs < MINUTE_MS) continue;
      const notice = this.#close(key, m);
      if (notice) out.push(notice);
    }
    return out;
  }

  /** Ends every minute now, writing the notices of those that held something back (at shutdown). */
  flush(): SuppressionNotice[] {
    const out: SuppressionNotice[] = [];
    for (const [key, m] of this.#minutes) {
      const notice = this.#close(key, m);
      if (notice) out.push(notice);
    }
    return out;
  }

  /** Rows written, findings suppressed and notices written since start. */
  get stats(): { written: number; suppressed: number; notices: number; sources: number } {
    return { written: this.#written, suppressed: this.#suppressed, notices: this.#notices, sources: this.#minutes.size };
  }

  #close(key: string, m: Minute): SuppressionNotice | null {
    this.#minutes.delete(key);
    if (m.suppressed === 0) return null;
    const notice: SuppressionNotice = {
      source: key,
      suppressed: m.suppressed,
      byKind: Object.fromEntries([...m.byKind].sort(([a], [b]) => (a < b ? -1 : 1))),
      windowStartMs: m.startMs,
      windowEndMs: m.startMs + MINUTE_MS,
      perMinute: this.perMinute,
    };
    this.#notices++;
    // Outside the cap: at most one a minute per source, and it is the record of what the cap held back.
    this.#enqueue(internalRecord(suppressionEvent(notice, this.#now()), { receivedAtUs: this.#now() * 1000, hostname: key, msgid: 'finding.suppressed' }));
    return notice;
  }
}

/** The ledger event of a notice: OCSF 2004 Detection Finding, like the findings it stands for. */
export function suppressionEvent(n: SuppressionNotice, atMs: number): OcsfEvent {
  const details = {
    kind: SUPPRESSED_KIND,
    source: n.source,
    suppressed: n.suppressed,
    by_kind: n.byKind,
    window_start_ms: n.windowStartMs,
    window_end_ms: n.windowEndMs,
    max_findings_per_minute: n.perMinute,
  };
  const kinds = Object.entries(n.byKind).map(([k, c]) => `${c} ${k}`).join(', ');
  return {
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: 1,
    activity_name: 'Create',
    type_uid: 200401,
    type_name: 'Detection Finding: Create',
    severity_id: 3,
    severity: 'Medium',
    status_id: 1,
    status: 'New',
    time: atMs,
    is_alert: true,
    message: `${n.source}: ${n.suppressed} finding(s) not written between ${new Date(n.windowStartMs).toISOString()} and ${new Date(n.windowEndMs).toISOString()}, over the cap of ${n.perMinute} a minute (${kinds})`,
    device: { hostname: n.source },
    finding_info: {
      uid: createHash('sha256').update(JSON.stringify(details)).digest('hex').slice(0, 32),
      title: 'Findings suppressed: over the per-source cap',
      types: [SUPPRESSED_KIND],
      first_seen_time: n.windowStartMs,
      last_seen_time: n.windowEndMs,
      analytic: { name: 'syslog-ledger finding budget', type_id: 1, type: 'Rule' },
    },
    metadata: {
      version: '1.3.0',
      product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' },
      log_provider: 'syslog-ledger',
    },
    unmapped: { syslog_ledger_finding: details },
  };
}
