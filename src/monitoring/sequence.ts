import type { ParsedMessage, StructuredData } from '../parsing/types.js';
import { Episode } from './episode.js';
import { BoundedLabels, OTHER_SOURCE } from '../metrics/labels.js';
import { StreamTable, type Numbering } from './sequence-streams.js';
import type { Metrics } from '../metrics/registry.js';

/**
 * Sender-side gap detection (docs/metrics.md, "Sequence findings").
 *
 * Two kinds of sender numbering are followed, each per stream:
 *
 * - RFC 5424 section 7.3.1 `[meta sequenceId="N"]`: integers 1..2147483647, incremented per message
 *   and wrapping from 2147483647 to 1 (the wrap is not a finding). Senders restart the count at 1
 *   when they restart (syslog-ng, rsyslog templates that emit it), so any jump back to exactly 1 is
 *   a `reset`, not a gap. A sender that restarts its count elsewhere (at 500) shows a jump back
 *   followed by the numbers after it: the first is one anomaly, the rest are followed as the new count.
 * - The seed's AuditLogger chain: each record carries `prev_hash` (the previous record's `hash`,
 *   null for the first record of a process) and `hash`. Several producers may share one stream
 *   (worker processes of one service), so a bounded set of chain tips is kept per stream.
 *
 * A stream is what one sender numbers: peer identity + HOSTNAME + APP-NAME + PROCID. When several
 * connections feed one stream at once (a client spreading its messages over connections, cloned
 * hosts sharing a certificate and a hostname), the stream is followed per connection instead, until
 * only one connection is left feeding it.
 *
 * Findings come per episode, not per message (src/monitoring/episode.ts): the first anomaly of a
 * stream opens an episode and is returned as a finding; the later ones are only counted (metrics
 * count every anomaly), and a summary is returned when the stream is back in order, or by `tick()`
 * every summary interval while it is not. State is in memory, bounded by an LRU over streams; a
 * stream seen for the first time (or again after eviction or a server restart) sets the baseline
 * and produces no finding.
 */

/** RFC 5424 section 7.3.1: the largest sequenceId; the next one is 1. */
export const SEQUENCE_ID_MAX = 2_147_483_647;

export const SEQUENCE_FINDING_KINDS = ['gap', 'duplicate', 'reset', 'chain_break'] as const;
export type SequenceFindingKind = (typeof SEQUENCE_FINDING_KINDS)[number];

/** Which numbering revealed a finding. */
export const SEQUENCE_VIAS = ['sequence_id', 'audit_chain'] as const;
export type SequenceVia = (typeof SEQUENCE_VIAS)[number];

/** Kinds that mean a hole or a replay; they count in `syslog_ledger_sequence_gaps_total`. */
const GAP_KINDS: ReadonlySet<SequenceFindingKind> = new Set(['gap', 'duplicate', 'chain_break']);

/** In-order messages in a row after which an episode is over ("back in order"). */
export const BACK_IN_ORDER_RUN = 10;

/** What one received message says about its sender's numbering. */
export interface SequenceObservation {
  /** RFC 5424 `[meta sequenceId]`, already validated (see `sequenceIdOf`). */
  readonly sequenceId?: number | null;
  /** AuditLogger `prev_hash`: undefined when the message carries no audit record, null for a chain's first record. */
  readonly auditPrevHash?: string | null;
  /** AuditLogger `hash`. */
  readonly auditHash?: string | null;
  /** Separates numberings within one source: the syslog HOSTNAME (a relay forwards for many). */
  readonly stream?: string | null;
  /** syslog APP-NAME and PROCID: two processes on one host number their messages apart. */
  readonly app?: string | null;
  readonly procid?: string | null;
  /** The connection the message came on (the peer's `ip:port`); absent: one connection. */
  readonly connection?: string | null;
  /** Receive time of the message, ms since the epoch; the finding's time. */
  readonly receivedAtMs?: number;
}

/** Who numbers a stream, as findings name it. */
export interface SequenceStream {
  readonly source: string;
  /** The HOSTNAME. */
  readonly stream: string | null;
  readonly app: string | null;
  readonly procid: string | null;
  /** Set when the stream is followed per connection (several connections fed it at once). */
  readonly connection: string | null;
}

/** A hole, repeat, restart or broken chain in one sender's numbering: the first of an episode. */
export interface SequenceFinding extends SequenceStream {
  readonly kind: SequenceFindingKind;
  readonly via: SequenceVia;
  /** The sequenceId or chain hash that should have come next (for a chain: the most recent tip). */
  readonly expected: number | string | null;
  /** What came instead: the sequenceId, or the record's `prev_hash` (its `hash` for a duplicate). */
  readonly got: number | string | null;
  /** For a sequenceId gap: how many messages are missing. */
  readonly missing?: number;
  /** ms since the epoch. */
  readonly atMs: number;
}

/** One anomaly's numbers, as an episode remembers its first and last. */
export interface AnomalyDetail {
  readonly kind: SequenceFindingKind;
  readonly via: SequenceVia;
  readonly expected: number | string | null;
  readonly got: number | string | null;
  readonly atMs: number;
}

/** What an episode of anomalies on one stream added up to (written when it ends, and periodically while it lasts). */
export interface SequenceSummary extends SequenceStream {
  readonly kind: 'sequence_summary';
  /** Still out of order (a periodic summary), or over. */
  readonly open: boolean;
  readonly counts: Readonly<Record<string, number>>;
  readonly anomalies: number;
  readonly sinceSummary: number;
  /** Messages missing according to the gaps of the episode. */
  readonly missing: number;
  readonly first: AnomalyDetail;
  readonly last: AnomalyDetail;
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  readonly affectedSeconds: number;
  /** The number the sender restarted its count at, when the episode was a restart. */
  readonly restartedAt: number | null;
  readonly atMs: number;
}

export type SequenceReport = SequenceFinding | SequenceSummary;

export interface SequenceTrackerOptions {
  /** Streams remembered (LRU). Default 10000. */
  readonly maxStreams?: number;
  /** Cap on distinct `source` labels; beyond it sources fold into `_other_`. Default 1000. */
  readonly maxSources?: number;
  /** Concurrent AuditLogger chains remembered per stream. Default 16. */
  readonly maxChainsPerStream?: number;
  /** `--finding-summary-interval`: a summary of an open episode this often. Default 300 s. */
  readonly summaryIntervalMs?: number;
  /** Another connection feeding a stream within this long of its last message means concurrent connections. Default 10 s. */
  readonly concurrentMs?: number;
  readonly now?: () => number;
}

type Anomaly = Omit<AnomalyDetail, 'atMs'> & { missing?: number };

export class SequenceTracker {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #maxChains: number;
  readonly #summaryMs: number;
  readonly #labels: BoundedLabels;
  readonly #streams: StreamTable;
  /** Numberings with an open episode (what `tick()` looks at). */
  readonly #open = new Set<Numbering>();
  /** Summaries of episodes ended outside `tick()` (their stream was dropped), returned by the next one. */
  #ended: SequenceReport[] = [];

  constructor(metrics: Metrics, opts: SequenceTrackerOptions = {}) {
    this.#metrics = metrics;
    this.#now = opts.now ?? Date.now;
    this.#maxChains = opts.maxChainsPerStream ?? 16;
    this.#summaryMs = opts.summaryIntervalMs ?? 300_000;
    this.#streams = new StreamTable({ maxStreams: opts.maxStreams ?? 10_000, concurrentMs: opts.concurrentMs ?? 10_000, onDrop: (n) => this.#close(n, this.#now(), this.#ended) });
    this.#labels = new BoundedLabels(opts.maxSources ?? 1000, {
      evictions: metrics.sourceLabelsEvicted,
      onEvict: (label) => {
        metrics.sequenceGaps.remove({ source: label });
        metrics.sequenceMissing.remove({ source: label });
        for (const kind of SEQUENCE_FINDING_KINDS) metrics.sequenceFindings.remove({ source: label, kind });
      },
    });
  }

  /**
   * Follows one message, in receive order per connection. Returns what is to be written: the
   * finding that opens an episode, or the summary of one that ended (usually nothing). Every
   * anomaly is counted in the metrics, written or not.
   */
  observe(source: string, obs: SequenceObservation): SequenceReport[] {
    const label = this.#label(source);
    const atMs = obs.receivedAtMs ?? this.#now();
    const n = this.#streams.numbering(source, obs.stream ?? null, obs.app ?? null, obs.procid ?? null, obs.connection ?? null, atMs);
    const found: Anomaly[] = [];
    if (obs.sequenceId !== undefined && obs.sequenceId !== null) this.#followSequence(n, obs.sequenceId, found);
    if (obs.auditPrevHash !== undefined) this.#followChain(n, obs.auditPrevHash, obs.auditHash ?? null, found);

    const out: SequenceReport[] = [];
    if (found.length === 0) {
      if (n.episode !== null && ++n.inOrderRun >= BACK_IN_ORDER_RUN) this.#close(n, atMs, out);
      return out;
    }
    n.inOrderRun = 0;
    for (const f of found) {
      this.#metrics.sequenceFindings.inc({ source: label, kind: f.kind });
      if (GAP_KINDS.has(f.kind)) this.#metrics.sequenceGaps.inc({ source: label });
      if (f.missing !== undefined) {
        this.#metrics.sequenceMissing.inc({ source: label }, f.missing);
        n.missing += f.missing;
      }
      const detail: AnomalyDetail = { kind: f.kind, via: f.via, expected: f.expected, got: f.got, atMs };
      if (n.episode === null) {
        n.episode = new Episode(f.kind, atMs, detail);
        this.#open.add(n);
        out.push({ kind: f.kind, via: f.via, ...n.id, expected: f.expected, got: f.got, ...(f.missing !== undefined ? { missing: f.missing } : {}), atMs });
      } else {
        n.episode.record(f.kind, atMs, detail);
      }
    }
    return out;
  }

  /**
   * Summaries of open episodes whose interval is over; an episode with nothing new since its last
   * summary is over. Call once a second.
   */
  tick(): SequenceSummary[] {
    const now = this.#now();
    const out: SequenceReport[] = this.#ended;
    this.#ended = [];
    for (const n of this.#open) {
      const ep = n.episode;
      if (ep === null || now - ep.lastSummaryAtMs < this.#summaryMs) continue;
      if (ep.hasNews && now - ep.lastAtMs < this.#summaryMs) {
        n.summaries++;
        out.push(this.#summary(n, ep, true, now));
      } else this.#close(n, now, out);
    }
    return out as SequenceSummary[];
  }

  /** Ends every open episode now, with its summary (at shutdown: what was counted is written). */
  closeAll(): SequenceSummary[] {
    const now = this.#now();
    const out: SequenceReport[] = this.#ended;
    this.#ended = [];
    for (const n of [...this.#open]) this.#close(n, now, out);
    return out as SequenceSummary[];
  }

  /** Number of streams currently remembered. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Open episodes. */
  get episodes(): number {
    return this.#open.size;
  }

  #close(n: Numbering, atMs: number, out: SequenceReport[]): void {
    const ep = n.episode;
    if (ep === null) return;
    // The opening finding said it all when nothing followed it.
    if (ep.hasNews || n.restartedAt !== null || n.summaries > 0) out.push(this.#summary(n, ep, false, atMs));
    n.episode = null;
    n.missing = 0;
    n.restartedAt = null;
    n.summaries = 0;
    n.inOrderRun = 0;
    this.#open.delete(n);
  }

  #summary(n: Numbering, ep: Episode<AnomalyDetail>, open: boolean, atMs: number): SequenceSummary {
    const s = ep.summarize(atMs);
    return { kind: 'sequence_summary', ...n.id, open, counts: s.counts, anomalies: s.anomalies, sinceSummary: s.sinceSummary, missing: n.missing, first: s.first, last: s.last, firstAtMs: s.firstAtMs, lastAtMs: s.lastAtMs, affectedSeconds: s.affectedSeconds, restartedAt: n.restartedAt, atMs };
  }

  #followSequence(n: Numbering, got: number, found: Anomaly[]): void {
    const last = n.lastSeq;
    if (last === null) {
      n.lastSeq = got;
      return;
    }
    const expected = last === SEQUENCE_ID_MAX ? 1 : last + 1;
    if (got === expected) {
      n.lastSeq = got;
      n.altSeq = null;
      return;
    }
    const alt = n.altSeq;
    n.altSeq = null;
    if (alt !== null && got === (alt === SEQUENCE_ID_MAX ? 1 : alt + 1)) {
      // The number that went back is followed by its successor: the sender restarted its count
      // there (the jump back was the episode's anomaly). Follow the new count.
      n.lastSeq = got;
      n.restartedAt = alt;
      return;
    }
    if (got === 1) {
      // The sender restarted its count. What it sent between `last` and its restart is unknowable.
      found.push({ kind: 'reset', via: 'sequence_id', expected, got });
      n.lastSeq = 1;
      return;
    }
    // Distance forward on the ring 1..MAX, so a gap across the wrap reads as a gap.
    const ahead = (((got - expected) % SEQUENCE_ID_MAX) + SEQUENCE_ID_MAX) % SEQUENCE_ID_MAX;
    if (ahead < SEQUENCE_ID_MAX / 2) {
      found.push({ kind: 'gap', via: 'sequence_id', expected, got, missing: ahead });
      n.lastSeq = got;
    } else {
      // A repeat or a number from the past: a retransmission, a replay, or a restart of the count.
      // Keep the highest seen so one late message does not turn everything after it into findings.
      found.push({ kind: 'duplicate', via: 'sequence_id', expected, got });
      n.altSeq = got;
    }
  }

  #followChain(n: Numbering, prev: string | null, hash: string | null, found: Anomaly[]): void {
    const newestTip = n.tips.at(-1) ?? null;
    if (hash !== null && (n.tips.includes(hash) || n.passed.includes(hash))) {
      found.push({ kind: 'duplicate', via: 'audit_chain', expected: newestTip, got: hash });
      return;
    }
    if (prev === null) {
      // A producer's first record. Under a stream that already had chains, a producer restarted
      // (or a new one joined): informational, records before it cannot be linked to it.
      if (newestTip !== null) found.push({ kind: 'reset', via: 'audit_chain', expected: newestTip, got: null });
    } else {
      const i = n.tips.indexOf(prev);
      if (i >= 0) {
        n.tips.splice(i, 1);
        this.#push(n.passed, prev, this.#maxChains * 2);
      } else if (newestTip !== null || n.passed.length > 0) {
        // Either records are missing between the tip and this one, or the record forks from an
        // older one (`prev` in `passed`): both break the producer's chain.
        found.push({ kind: 'chain_break', via: 'audit_chain', expected: newestTip, got: prev });
      }
    }
    if (hash !== null) this.#push(n.tips, hash, this.#maxChains);
  }

  #push(list: string[], value: string, max: number): void {
    list.push(value);
    if (list.length > max) list.shift();
  }

  /** The source's label; a new label starts its counters at 0 so `increase()` sees the first finding. */
  #label(source: string): string {
    const isNew = !this.#labels.has(source);
    const label = this.#labels.label(source);
    if (isNew && label !== OTHER_SOURCE) {
      this.#metrics.sequenceGaps.inc({ source: label }, 0);
      this.#metrics.sequenceMissing.inc({ source: label }, 0);
      for (const kind of SEQUENCE_FINDING_KINDS) this.#metrics.sequenceFindings.inc({ source: label, kind }, 0);
    }
    return label;
  }
}

/**
 * The RFC 5424 `[meta sequenceId="N"]` of a message, when present and valid (1..2147483647,
 * decimal digits, no leading zero); undefined otherwise.
 */
export function sequenceIdOf(sd: StructuredData | null | undefined): number | undefined {
  const text = sd?.['meta']?.['sequenceId'];
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= SEQUENCE_ID_MAX ? n : undefined;
}

/**
 * What `SequenceTracker.observe` needs from a parsed message; null when the message carries no
 * sender numbering (then skip the call). The stream is the syslog HOSTNAME, so a relay's hosts
 * are followed separately, and so are its APP-NAMEs and PROCIDs. `receivedAtUs` is the frame's receive time in µs (the listener's clock).
 */
export function observationOf(parsed: ParsedMessage, receivedAtUs?: number): SequenceObservation | null {
  const sequenceId = sequenceIdOf(parsed.syslog.structured_data);
  const audit = parsed.audit;
  const chained = audit !== undefined && audit.prev_hash !== undefined && typeof audit.hash === 'string';
  if (sequenceId === undefined && !chained) return null;
  return {
    sequenceId: sequenceId ?? null,
    ...(chained ? { auditPrevHash: audit.prev_hash ?? null, auditHash: audit.hash ?? null } : {}),
    stream: parsed.syslog.hostname,
    app: parsed.syslog.app_name,
    procid: parsed.syslog.procid,
    ...(receivedAtUs !== undefined ? { receivedAtMs: Math.floor(receivedAtUs / 1000) } : {}),
  };
}
