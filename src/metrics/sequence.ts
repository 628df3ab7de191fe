import type { ParsedMessage, StructuredData } from '../parsing/types.js';
import { BoundedLabels, OTHER_SOURCE } from './labels.js';
import type { Metrics } from './registry.js';

/**
 * Sender-side gap detection (docs/metrics.md, "Sequence findings").
 *
 * Two kinds of sender numbering are followed, each per (source, stream):
 *
 * - RFC 5424 section 7.3.1 `[meta sequenceId="N"]`: integers 1..2147483647, incremented per message
 *   and wrapping from 2147483647 to 1 (the wrap is not a finding). Senders restart the count at 1
 *   when they restart (syslog-ng, rsyslog templates that emit it), so any jump back to exactly 1 is
 *   a `reset`, not a gap: the messages between the last number seen and the restart cannot be
 *   counted, and the reset is recorded so the auditor sees where the numbering began again.
 * - The seed's AuditLogger chain: each record carries `prev_hash` (the previous record's `hash`,
 *   null for the first record of a process) and `hash`. Several producers may share one stream
 *   (worker processes of one service), so a bounded set of chain tips is kept per stream.
 *
 * Findings are counted here and returned to the caller, which records each as a ledger event
 * (`findingToEvent`, src/metrics/findings.ts). State is in memory, bounded by an LRU over streams;
 * a stream seen for the first time (or again after eviction or a server restart) sets the baseline
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

/** What one received message says about its sender's numbering. */
export interface SequenceObservation {
  /** RFC 5424 `[meta sequenceId]`, already validated (see `sequenceIdOf`). */
  readonly sequenceId?: number | null;
  /** AuditLogger `prev_hash`: undefined when the message carries no audit record, null for a chain's first record. */
  readonly auditPrevHash?: string | null;
  /** AuditLogger `hash`. */
  readonly auditHash?: string | null;
  /** Separates numberings within one source, e.g. the syslog HOSTNAME behind a relay. */
  readonly stream?: string | null;
  /** Receive time of the message, ms since the epoch; the finding's time. */
  readonly receivedAtMs?: number;
}

/** A hole, repeat, restart or broken chain in one sender's numbering. */
export interface SequenceFinding {
  readonly kind: SequenceFindingKind;
  readonly via: SequenceVia;
  readonly source: string;
  readonly stream: string | null;
  /** The sequenceId or chain hash that should have come next (for a chain: the most recent tip). */
  readonly expected: number | string | null;
  /** What came instead: the sequenceId, or the record's `prev_hash` (its `hash` for a duplicate). */
  readonly got: number | string | null;
  /** For a sequenceId gap: how many messages are missing. */
  readonly missing?: number;
  /** ms since the epoch. */
  readonly atMs: number;
}

export interface SequenceTrackerOptions {
  /** Streams remembered (LRU). Default 10000. */
  readonly maxStreams?: number;
  /** Cap on distinct `source` labels; beyond it sources fold into `_other_`. Default 1000. */
  readonly maxSources?: number;
  /** Concurrent AuditLogger chains remembered per stream. Default 16. */
  readonly maxChainsPerStream?: number;
  readonly now?: () => number;
}

interface StreamState {
  lastSeq: number | null;
  /** Hashes that end a chain, least recently extended first. */
  readonly tips: string[];
  /** Hashes that were tips before being extended, newest last: a record naming one of them forks the chain. */
  readonly passed: string[];
}

export class SequenceTracker {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #maxStreams: number;
  readonly #maxChains: number;
  readonly #labels: BoundedLabels;
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly #streams = new Map<string, StreamState>();

  constructor(metrics: Metrics, opts: SequenceTrackerOptions = {}) {
    this.#metrics = metrics;
    this.#now = opts.now ?? Date.now;
    this.#maxStreams = opts.maxStreams ?? 10_000;
    this.#maxChains = opts.maxChainsPerStream ?? 16;
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
   * Follows one message, in receive order per connection. Returns the findings it reveals
   * (usually none), already counted in the metrics.
   */
  observe(source: string, obs: SequenceObservation): SequenceFinding[] {
    const stream = obs.stream ?? null;
    const label = this.#label(source);
    const state = this.#state(`${source}\u0000${stream ?? ''}`);
    const found: Array<Omit<SequenceFinding, 'source' | 'stream' | 'atMs'>> = [];
    if (obs.sequenceId !== undefined && obs.sequenceId !== null) this.#followSequence(state, obs.sequenceId, found);
    if (obs.auditPrevHash !== undefined) this.#followChain(state, obs.auditPrevHash, obs.auditHash ?? null, found);
    if (found.length === 0) return [];

    const atMs = obs.receivedAtMs ?? this.#now();
    return found.map((f) => {
      this.#metrics.sequenceFindings.inc({ source: label, kind: f.kind });
      if (GAP_KINDS.has(f.kind)) this.#metrics.sequenceGaps.inc({ source: label });
      if (f.missing !== undefined) this.#metrics.sequenceMissing.inc({ source: label }, f.missing);
      return { ...f, source, stream, atMs };
    });
  }

  /** Number of streams currently remembered. */
  get streams(): number {
    return this.#streams.size;
  }

  #followSequence(state: StreamState, got: number, found: Array<Omit<SequenceFinding, 'source' | 'stream' | 'atMs'>>): void {
    const last = state.lastSeq;
    if (last === null) {
      state.lastSeq = got;
      return;
    }
    const expected = last === SEQUENCE_ID_MAX ? 1 : last + 1;
    if (got === expected) {
      state.lastSeq = got;
      return;
    }
    if (got === 1) {
      // The sender restarted its count. What it sent between `last` and its restart is unknowable.
      found.push({ kind: 'reset', via: 'sequence_id', expected, got });
      state.lastSeq = 1;
      return;
    }
    // Distance forward on the ring 1..MAX, so a gap across the wrap reads as a gap.
    const ahead = (((got - expected) % SEQUENCE_ID_MAX) + SEQUENCE_ID_MAX) % SEQUENCE_ID_MAX;
    if (ahead < SEQUENCE_ID_MAX / 2) {
      found.push({ kind: 'gap', via: 'sequence_id', expected, got, missing: ahead });
      state.lastSeq = got;
    } else {
      // A repeat or a number from the past: a retransmission or a replay. Keep the highest seen
      // so one late message does not turn everything after it into findings.
      found.push({ kind: 'duplicate', via: 'sequence_id', expected, got });
    }
  }

  #followChain(state: StreamState, prev: string | null, hash: string | null, found: Array<Omit<SequenceFinding, 'source' | 'stream' | 'atMs'>>): void {
    const newestTip = state.tips.at(-1) ?? null;
    if (hash !== null && (state.tips.includes(hash) || state.passed.includes(hash))) {
      found.push({ kind: 'duplicate', via: 'audit_chain', expected: newestTip, got: hash });
      return;
    }
    if (prev === null) {
      // A producer's first record. Under a stream that already had chains, a producer restarted
      // (or a new one joined): informational, records before it cannot be linked to it.
      if (newestTip !== null) found.push({ kind: 'reset', via: 'audit_chain', expected: newestTip, got: null });
    } else {
      const i = state.tips.indexOf(prev);
      if (i >= 0) {
        state.tips.splice(i, 1);
        this.#push(state.passed, prev, this.#maxChains * 2);
      } else if (newestTip !== null || state.passed.length > 0) {
        // Either records are missing between the tip and this one, or the record forks from an
        // older one (`prev` in `passed`): both break the producer's chain.
        found.push({ kind: 'chain_break', via: 'audit_chain', expected: newestTip, got: prev });
      }
    }
    if (hash !== null) this.#push(state.tips, hash, this.#maxChains);
  }

  #push(list: string[], value: string, max: number): void {
    list.push(value);
    if (list.length > max) list.shift();
  }

  #state(key: string): StreamState {
    let state = this.#streams.get(key);
    if (state) {
      this.#streams.delete(key);
    } else {
      state = { lastSeq: null, tips: [], passed: [] };
      if (this.#streams.size >= this.#maxStreams) {
        const oldest = this.#streams.keys().next();
        if (!oldest.done) this.#streams.delete(oldest.value);
      }
    }
    this.#streams.set(key, state);
    return state;
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
 * are followed separately. `receivedAtUs` is the frame's receive time in µs (the listener's clock).
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
    ...(receivedAtUs !== undefined ? { receivedAtMs: Math.floor(receivedAtUs / 1000) } : {}),
  };
}
