import { escapeControls } from '../parsing/text.js';
import { BoundedLabels, OTHER_SOURCE } from '../metrics/labels.js';
import type { Metrics } from '../metrics/registry.js';

/**
 * Per-source freshness and silence (docs/metrics.md, "Sources").
 *
 * A source is the authenticated peer (certificate CN) and, when it differs, the syslog HOSTNAME
 * the frame claims: a relay forwarding for many hosts is one peer but many sources. Peer names
 * and expected sources always get their own `source` label; hostnames get one until
 * `maxSources` labels are in use, then fold into `source="_other_"`.
 *
 * Expected sources are the configured ones (`--expect-source`, `--expect-sources-file`) and, with
 * learning on (`--learn-sources`), every peer name and labelled HOSTNAME that sent within the
 * learning window. An expected source is silent when nothing from it was committed for longer than
 * the silence threshold; one never seen since the tracker started is silent once the threshold has
 * passed since start. A silence is an episode: one `silent` finding when it starts, one `resumed`
 * when it ends, never one per tick. A learned source is forgotten (a `forgotten` finding) after a
 * whole learning window without traffic.
 */
export interface SourceTrackerOptions {
  /** `--expect-source` and `--expect-sources-file`: sources that must send even if never seen. */
  readonly expectSources?: readonly string[];
  /** `--silence-threshold`, seconds; default 300. */
  readonly silenceThresholdSec?: number;
  /** Cap on distinct `source` labels; hostnames beyond it fold into `_other_`. Default 1000. */
  readonly maxSources?: number;
  /**
   * `--learn-sources`, seconds: every peer name and labelled HOSTNAME seen becomes expected, and is
   * forgotten (a `forgotten` finding, its `source_silent` series removed) after this long without
   * traffic. 0 or absent: only the configured sources are expected.
   */
  readonly learnWindowSec?: number;
  /** Clock in ms since the epoch; tests pass a fake one. */
  readonly now?: () => number;
}

export const SOURCE_FINDING_KINDS = ['silent', 'resumed', 'forgotten'] as const;
export type SourceFindingKind = (typeof SOURCE_FINDING_KINDS)[number];

/** How a source came to be expected; the `how` label of `syslog_ledger_sources_expected`. */
export const EXPECTATIONS = ['configured', 'learned'] as const;
export type Expectation = (typeof EXPECTATIONS)[number];

/**
 * A change of an expected source, returned by `tick()` once per change: a silence starts
 * (`silent`), ends (`resumed`), or a source stops being expected (`forgotten`).
 */
export interface SourceFinding {
  readonly kind: SourceFindingKind;
  readonly source: string;
  /** Last commit from the source, ms since the epoch; null when never seen. For `resumed`: the first event after the silence. */
  readonly lastSeenMs: number | null;
  readonly thresholdSec: number;
  /** When the change was noticed, ms since the epoch. */
  readonly atMs: number;
  /**
   * Start of the silent window, µs since the epoch: the receive time of the source's last event
   * before it (its ledger `received_at`), or when the server began expecting a source never seen;
   * null when unknown. Set on `silent`, `resumed`, and on `forgotten` during a silence.
   */
  readonly silentSinceUs?: number | null;
  /** `resumed`: end of the silent window, the receive time of the first event after it, µs. */
  readonly resumedAtUs?: number;
  /** `forgotten`: why the source is no longer expected. */
  readonly reason?: 'learn_window' | 'unconfigured';
}

/** What `observeBatch` reads from each committed record (the ledger's `ChainedRecord` has this shape). */
export interface SourceOfRecord {
  readonly peer: { readonly cn: string | null; readonly sans?: readonly string[] };
  readonly syslog: { readonly hostname: string | null };
  /** The stored `hostname` column; preferred to `syslog.hostname`, so the live view matches the ledger's. */
  readonly columns?: { readonly hostname: string | null };
  /** Receive time, µs since the epoch (the ledger's `received_at`). */
  readonly receivedAtUs?: number;
}

/** The peer's name as a source: its CN, or for a certificate without one its first SAN (`DNS:a` -> `a`). */
export function peerSourceName(peer: SourceOfRecord['peer']): string | null {
  if (peer.cn) return peer.cn;
  const san = peer.sans?.[0];
  return san === undefined ? null : san.slice(san.indexOf(':') + 1) || null;
}

/** What the ledger says about the sources at start (src/monitoring/source-history.ts reads it). */
export interface SourceHistory {
  /** The last event of each source within the look-back, µs since the epoch. */
  readonly lastEvents: ReadonlyArray<{ readonly source: string; readonly lastEventUs: number; readonly peer: boolean }>;
  /**
   * Silences this server recorded as started and never ended (a `silent` finding with no later
   * `resumed` or `forgotten`), with the first event from the source after the silence began, if any.
   */
  readonly openSilences: ReadonlyArray<{ readonly source: string; readonly silentSinceUs: number | null; readonly firstEventAfterUs: number | null }>;
}

/** Per-source state. Bounded: one entry per source label. */
interface SourceState {
  /** Last commit from the source on the tracker's clock (or its ledger time after a restart), ms. */
  lastCommitMs: number | null;
  /** Receive time of the last event, µs. */
  lastEventUs: number | null;
  /** Present while silent: the silence's start (µs; null when unknown). */
  silentSinceUs?: number | null;
  /** While silent: receive time of the first event after the silence began, µs. */
  resumedAtUs?: number;
}

export class SourceTracker {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #thresholdMs: number;
  readonly #learnWindowMs: number;
  readonly #startedAt: number;
  readonly #labels: BoundedLabels;
  /** Per source label (including `_other_`). Bounded by the label cap. */
  readonly #state = new Map<string, SourceState>();
  readonly #expected = new Map<string, Expectation>();
  /**
   * Learned HOSTNAMEs (not peer names), at most half the label cap: an expected source keeps its
   * label, so a flood of invented HOSTNAMEs must not fill every slot with sources to watch.
   */
  readonly #learnedHosts = new Set<string>();
  readonly #maxLearnedHosts: number;
  /** Findings produced outside `tick()` (a reconfiguration, a rebuild), returned by the next tick. */
  #pending: SourceFinding[] = [];

  constructor(metrics: Metrics, opts: SourceTrackerOptions = {}) {
    const thresholdSec = opts.silenceThresholdSec ?? 300;
    if (!(thresholdSec > 0)) throw new RangeError(`silence threshold must be positive, got ${thresholdSec}`);
    this.#metrics = metrics;
    this.#now = opts.now ?? Date.now;
    this.#thresholdMs = thresholdSec * 1000;
    this.#learnWindowMs = (opts.learnWindowSec ?? 0) * 1000;
    if (this.#learnWindowMs > 0 && this.#learnWindowMs <= this.#thresholdMs) {
      throw new RangeError(`learning window (${opts.learnWindowSec} s) must be longer than the silence threshold (${thresholdSec} s)`);
    }
    this.#maxLearnedHosts = Math.floor((opts.maxSources ?? 1000) / 2);
    this.#labels = new BoundedLabels(opts.maxSources ?? 1000, {
      evictions: metrics.sourceLabelsEvicted,
      onEvict: (label) => {
        this.#state.delete(label);
        metrics.sourceEvents.remove({ source: label });
        metrics.sourceLastEvent.remove({ source: label });
      },
    });
    this.#startedAt = this.#now();
    for (const source of opts.expectSources ?? []) this.#expect(source, 'configured');
    this.#countExpected();
  }

  /** Whether sources are learned (`--learn-sources` not 0). */
  get learning(): boolean {
    return this.#learnWindowMs > 0;
  }

  /**
   * Counts `count` committed events from one peer and HOSTNAME. Call after the transaction commits,
   * with the peer's name and the HOSTNAME of the events (null when absent), and the receive times
   * of the first and last of them (µs; default: now). Also sets
   * `syslog_ledger_last_commit_timestamp_seconds`.
   */
  observeCommitted(rawPeer: string | null, rawHost: string | null, count = 1, firstUs?: number, lastUs?: number): void {
    // Every map here is keyed by the name as a label has it (control characters escaped).
    const peerCn = rawPeer === null ? null : escapeControls(rawPeer);
    const hostname = rawHost === null ? null : escapeControls(rawHost);
    if (count <= 0) return;
    const at = this.#now();
    const first = firstUs ?? at * 1000;
    const last = lastUs ?? first;
    this.#metrics.lastCommit.set(at / 1000);
    if (peerCn !== null) {
      if (this.learning && !this.#expected.has(peerCn)) this.#expect(peerCn, 'learned');
      this.#record(this.#labels.label(peerCn, true), at, count, first, last);
    }
    if (hostname !== null && hostname !== peerCn) {
      const label = this.#labels.label(hostname, this.#expected.has(hostname));
      if (this.learning && label !== OTHER_SOURCE && !this.#expected.has(label)) this.#learnHost(label);
      this.#record(label, at, count, first, last);
    }
  }

  /**
   * `observeCommitted` for a whole committed batch (the writer's `onCommitted` rows), one metric
   * update per distinct (peer, hostname) pair.
   */
  observeBatch(records: Iterable<SourceOfRecord>): void {
    type Entry = { peerCn: string | null; hostname: string | null; n: number; first?: number; last?: number };
    // Every committed row passes here: entries found by the two names in turn, no key string built.
    const counts = new Map<string | null, Map<string | null, Entry>>();
    for (const r of records) {
      const peerCn = peerSourceName(r.peer);
      const hostname = r.columns ? r.columns.hostname : r.syslog.hostname;
      let byHost = counts.get(peerCn);
      if (!byHost) counts.set(peerCn, (byHost = new Map()));
      let entry = byHost.get(hostname);
      if (!entry) byHost.set(hostname, (entry = { peerCn, hostname, n: 0 }));
      entry.n++;
      const us = r.receivedAtUs;
      if (us !== undefined) {
        if (entry.first === undefined || us < entry.first) entry.first = us;
        if (entry.last === undefined || us > entry.last) entry.last = us;
      }
    }
    for (const byHost of counts.values()) for (const { peerCn, hostname, n, first, last } of byHost.values()) this.observeCommitted(peerCn, hostname, n, first, last);
  }

  /**
   * Seeds a source's last event time, e.g. from the ledger at start-up, without counting events.
   * With learning on, the source becomes expected: always for a peer name (`peer`, the default),
   * for a HOSTNAME only while it gets its own label.
   */
  restore(rawSource: string, lastSeenMs: number, opts: { lastEventUs?: number; peer?: boolean } = {}): void {
    const source = escapeControls(rawSource);
    const peer = opts.peer ?? true;
    const label = this.#labels.label(source, peer || this.#expected.has(source));
    if (this.learning && label !== OTHER_SOURCE && !this.#expected.has(label)) {
      if (peer) this.#expect(label, 'learned');
      else this.#learnHost(label);
    }
    const st = this.#stateOf(label);
    if ((st.lastCommitMs ?? -Infinity) >= lastSeenMs) return;
    st.lastCommitMs = lastSeenMs;
    st.lastEventUs = opts.lastEventUs ?? lastSeenMs * 1000;
    this.#metrics.sourceLastEvent.set({ source: label }, lastSeenMs / 1000);
  }

  /**
   * Rebuilds from the ledger at start: every source's last event, and the silences that were open
   * when the server stopped (so they are not recorded twice). Call before the first `tick()`; a
   * source silent for longer than the threshold is then silent on that tick, and one that went
   * silent while the server was down gets its `silent` finding then.
   */
  rebuild(history: SourceHistory): void {
    for (const { source, lastEventUs, peer } of history.lastEvents) this.restore(source, Math.floor(lastEventUs / 1000), { lastEventUs, peer });
    for (const open of history.openSilences) {
      if (!this.#expected.has(open.source) && this.learning && open.silentSinceUs !== null) {
        // Silent for longer than the look-back: expected until the next tick forgets it, with a finding.
        this.#expect(open.source, 'learned');
        this.restore(open.source, Math.floor(open.silentSinceUs / 1000), { lastEventUs: open.silentSinceUs });
      }
      if (!this.#expected.has(open.source)) {
        // No longer configured: the silence was never closed; close the expectation, on the record.
        this.#pending.push({ kind: 'forgotten', source: open.source, lastSeenMs: null, thresholdSec: this.#thresholdMs / 1000, atMs: this.#now(), silentSinceUs: open.silentSinceUs, reason: 'unconfigured' });
        continue;
      }
      const st = this.#stateOf(open.source);
      st.silentSinceUs = open.silentSinceUs;
      if (open.firstEventAfterUs !== null) st.resumedAtUs = open.firstEventAfterUs;
      this.#metrics.sourceSilent.set({ source: open.source }, 1);
    }
  }

  /**
   * Replaces the configured sources (`--expect-sources-file` re-read on SIGHUP). A source no longer
   * configured stays expected as learned when learning is on and it sent within the window;
   * otherwise it stops being expected, with a `forgotten` finding (returned by the next `tick()`).
   */
  setConfigured(sources: Iterable<string>): void {
    const next = new Set([...sources].map(escapeControls));
    for (const [source, how] of [...this.#expected]) {
      if (how !== 'configured' || next.has(source)) continue;
      const st = this.#state.get(source);
      const quietMs = this.#now() - (st?.lastCommitMs ?? this.#startedAt);
      if (this.learning && st?.lastCommitMs != null && quietMs <= this.#learnWindowMs) this.#expected.set(source, 'learned');
      else this.#forget(source, 'unconfigured', this.#now(), this.#pending);
    }
    for (const source of next) if (this.#expected.get(source) !== 'configured') this.#expect(source, 'configured');
    this.#countExpected();
  }

  /**
   * Updates `syslog_ledger_source_silent` for every expected source. Call once a second.
   * Returns the changes since the last tick (log them; ledger them with `findingToEvent`): one
   * `silent` when a silence starts, one `resumed` when it ends, one `forgotten` when a source stops
   * being expected.
   */
  tick(): SourceFinding[] {
    const at = this.#now();
    const changes = this.#pending;
    this.#pending = [];
    const thresholdSec = this.#thresholdMs / 1000;
    for (const [source, how] of [...this.#expected]) {
      const st = this.#stateOf(source);
      const quietMs = at - (st.lastCommitMs ?? this.#startedAt);
      if (how === 'learned' && quietMs > this.#learnWindowMs) {
        this.#forget(source, 'learn_window', at, changes);
        continue;
      }
      const wasSilent = st.silentSinceUs !== undefined;
      // A silence ends with an event, nothing else: after a restart, a source never seen since the
      // silence began is still silent even though the threshold counts from the new start.
      const silent = quietMs > this.#thresholdMs || (wasSilent && st.resumedAtUs === undefined);
      this.#metrics.sourceSilent.set({ source }, silent ? 1 : 0);
      if (silent === wasSilent) continue;
      if (silent) {
        st.silentSinceUs = st.lastEventUs ?? (st.lastCommitMs === null ? this.#startedAt * 1000 : st.lastCommitMs * 1000);
        changes.push({ kind: 'silent', source, lastSeenMs: st.lastCommitMs, thresholdSec, atMs: at, silentSinceUs: st.silentSinceUs });
      } else {
        const resumedAtUs = st.resumedAtUs ?? st.lastEventUs ?? at * 1000;
        changes.push({ kind: 'resumed', source, lastSeenMs: Math.floor(resumedAtUs / 1000), thresholdSec, atMs: at, silentSinceUs: st.silentSinceUs ?? null, resumedAtUs });
        delete st.silentSinceUs;
        delete st.resumedAtUs;
      }
    }
    return changes;
  }

  /** Expected sources currently silent, as of the last `tick()`. */
  silentSources(): string[] {
    return [...this.#expected.keys()].filter((s) => this.#state.get(s)?.silentSinceUs !== undefined);
  }

  /** Expected sources (configured and learned). */
  expectedSources(): string[] {
    return [...this.#expected.keys()];
  }

  /** How a source is expected, or undefined when it is not. */
  expectation(source: string): Expectation | undefined {
    return this.#expected.get(source);
  }

  #expect(rawSource: string, how: Expectation): void {
    const source = escapeControls(rawSource);
    const known = this.#expected.has(source);
    this.#expected.set(source, how);
    this.#labels.label(source, true);
    if (!known) this.#metrics.sourceSilent.set({ source }, this.#state.get(source)?.silentSinceUs !== undefined ? 1 : 0);
    this.#countExpected();
  }

  /** Learns a HOSTNAME as an expected source while fewer than half the label slots hold learned HOSTNAMEs. */
  #learnHost(label: string): void {
    if (this.#learnedHosts.size >= this.#maxLearnedHosts) return;
    this.#learnedHosts.add(label);
    this.#expect(label, 'learned');
  }

  #forget(source: string, reason: 'learn_window' | 'unconfigured', at: number, out: SourceFinding[]): void {
    this.#learnedHosts.delete(source);
    const st = this.#stateOf(source);
    out.push({
      kind: 'forgotten', source, lastSeenMs: st.lastCommitMs, thresholdSec: this.#thresholdMs / 1000, atMs: at, reason,
      ...(st.silentSinceUs !== undefined ? { silentSinceUs: st.silentSinceUs } : {}),
    });
    this.#expected.delete(source);
    delete st.silentSinceUs;
    delete st.resumedAtUs;
    this.#metrics.sourceSilent.remove({ source });
    this.#labels.release(source);
    this.#countExpected();
  }

  #stateOf(label: string): SourceState {
    let st = this.#state.get(label);
    if (!st) this.#state.set(label, (st = { lastCommitMs: null, lastEventUs: null }));
    return st;
  }

  #record(label: string, at: number, count: number, firstUs: number, lastUs: number): void {
    const st = this.#stateOf(label);
    st.lastCommitMs = at;
    if (st.lastEventUs === null || lastUs > st.lastEventUs) st.lastEventUs = lastUs;
    if (st.silentSinceUs !== undefined && st.resumedAtUs === undefined) st.resumedAtUs = firstUs;
    this.#metrics.sourceLastEvent.set({ source: label }, at / 1000);
    this.#metrics.sourceEvents.inc({ source: label }, count);
  }

  /** O(expected sources); called only when the set changes. */
  #countExpected(): void {
    let learned = 0;
    for (const how of this.#expected.values()) if (how === 'learned') learned++;
    this.#metrics.sourcesExpected.set({ how: 'learned' }, learned);
    this.#metrics.sourcesExpected.set({ how: 'configured' }, this.#expected.size - learned);
  }
}
