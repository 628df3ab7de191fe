import { BoundedLabels } from './labels.js';
import type { Metrics } from './registry.js';

/**
 * Per-source freshness and silence (docs/metrics.md, "Sources").
 *
 * A source is the authenticated peer (certificate CN) and, when it differs, the syslog HOSTNAME
 * the frame claims: a relay forwarding for many hosts is one peer but many sources. Peer names
 * and expected sources always get their own `source` label; hostnames get one until
 * `maxSources` labels are in use, then fold into `source="_other_"`.
 *
 * An expected source (configured, or learned from the peers seen) is silent when nothing from it
 * was committed for longer than the silence threshold; one never seen since the tracker started is
 * silent once the threshold has passed since start.
 */
export interface SourceTrackerOptions {
  /** `--expect-source`, repeatable. */
  readonly expectSources?: readonly string[];
  /** `--silence-threshold`, seconds; default 300. */
  readonly silenceThresholdSec?: number;
  /** Cap on distinct `source` labels; hostnames beyond it fold into `_other_`. Default 1000. */
  readonly maxSources?: number;
  /**
   * Learn expected sources from the authenticated peers seen: every peer CN becomes expected, and is
   * forgotten (its `source_silent` series removed) after this many seconds without traffic.
   * 0 or absent: only the configured sources are expected.
   */
  readonly learnWindowSec?: number;
  /** Clock in ms since the epoch; tests pass a fake one. */
  readonly now?: () => number;
}

/** A change of an expected source's silence, returned by `tick()` once per change. */
export interface SourceFinding {
  readonly kind: 'silent' | 'resumed';
  readonly source: string;
  /** Last commit from the source, ms since the epoch; null when never seen since start. */
  readonly lastSeenMs: number | null;
  readonly thresholdSec: number;
  /** When the change was noticed, ms since the epoch. */
  readonly atMs: number;
}

/** What `observeBatch` reads from each committed record (the ledger's `LedgerRecord` has this shape). */
export interface SourceOfRecord {
  readonly peer: { readonly cn: string | null; readonly sans?: readonly string[] };
  readonly syslog: { readonly hostname: string | null };
}

/** The peer's name as a source: its CN, or for a certificate without one its first SAN (`DNS:a` -> `a`). */
export function peerSourceName(peer: SourceOfRecord['peer']): string | null {
  if (peer.cn) return peer.cn;
  const san = peer.sans?.[0];
  return san === undefined ? null : san.slice(san.indexOf(':') + 1) || null;
}

type Expectation = 'configured' | 'learned';

export class SourceTracker {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #thresholdMs: number;
  readonly #learnWindowMs: number;
  readonly #startedAt: number;
  readonly #labels: BoundedLabels;
  /** Last commit time per source label (including `_other_`), ms. Bounded by the label cap. */
  readonly #lastSeen = new Map<string, number>();
  readonly #expected = new Map<string, Expectation>();
  readonly #silent = new Set<string>();

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
    this.#labels = new BoundedLabels(opts.maxSources ?? 1000, {
      evictions: metrics.sourceLabelsEvicted,
      onEvict: (label) => {
        this.#lastSeen.delete(label);
        metrics.sourceEvents.remove({ source: label });
        metrics.sourceLastEvent.remove({ source: label });
      },
    });
    this.#startedAt = this.#now();
    for (const source of opts.expectSources ?? []) this.#expect(source, 'configured');
  }

  /**
   * Counts `count` committed events from one peer and HOSTNAME. Call after the transaction commits,
   * with the peer's certificate CN and the syslog HOSTNAME of the events (null when absent).
   * Also sets `syslog_ledger_last_commit_timestamp_seconds`.
   */
  observeCommitted(peerCn: string | null, hostname: string | null, count = 1): void {
    if (count <= 0) return;
    const at = this.#now();
    this.#metrics.lastCommit.set(at / 1000);
    if (peerCn !== null) {
      if (this.#learnWindowMs > 0 && !this.#expected.has(peerCn)) this.#expect(peerCn, 'learned');
      this.#record(this.#labels.label(peerCn, true), at, count);
    }
    if (hostname !== null && hostname !== peerCn) {
      this.#record(this.#labels.label(hostname, this.#expected.has(hostname)), at, count);
    }
  }

  /**
   * `observeCommitted` for a whole committed batch (the writer's `onCommitted` rows), one metric
   * update per distinct (peer, hostname) pair.
   */
  observeBatch(records: Iterable<SourceOfRecord>): void {
    const counts = new Map<string, { peerCn: string | null; hostname: string | null; n: number }>();
    for (const r of records) {
      const peerCn = peerSourceName(r.peer);
      const key = JSON.stringify([peerCn, r.syslog.hostname]);
      const entry = counts.get(key);
      if (entry) entry.n++;
      else counts.set(key, { peerCn, hostname: r.syslog.hostname, n: 1 });
    }
    for (const { peerCn, hostname, n } of counts.values()) this.observeCommitted(peerCn, hostname, n);
  }

  /**
   * Seeds a source's last-seen time, e.g. from the ledger at start-up, without counting events.
   * In learning mode the source becomes expected.
   */
  restore(source: string, lastSeenMs: number): void {
    if (this.#learnWindowMs > 0 && !this.#expected.has(source)) this.#expect(source, 'learned');
    const label = this.#labels.label(source, this.#expected.has(source));
    if ((this.#lastSeen.get(label) ?? -Infinity) >= lastSeenMs) return;
    this.#lastSeen.set(label, lastSeenMs);
    this.#metrics.sourceLastEvent.set({ source: label }, lastSeenMs / 1000);
  }

  /**
   * Updates `syslog_ledger_source_silent` for every expected source. Call once a second.
   * Returns the sources whose silence changed since the last tick (log them; they can be ledgered
   * with `findingToEvent`).
   */
  tick(): SourceFinding[] {
    const at = this.#now();
    const changes: SourceFinding[] = [];
    for (const [source, how] of this.#expected) {
      const lastSeenMs = this.#lastSeen.get(source) ?? null;
      const quietMs = at - (lastSeenMs ?? this.#startedAt);
      if (how === 'learned' && quietMs > this.#learnWindowMs) {
        this.#expected.delete(source);
        this.#silent.delete(source);
        this.#metrics.sourceSilent.remove({ source });
        continue;
      }
      const silent = quietMs > this.#thresholdMs;
      this.#metrics.sourceSilent.set({ source }, silent ? 1 : 0);
      if (silent === this.#silent.has(source)) continue;
      if (silent) this.#silent.add(source);
      else this.#silent.delete(source);
      changes.push({ kind: silent ? 'silent' : 'resumed', source, lastSeenMs, thresholdSec: this.#thresholdMs / 1000, atMs: at });
    }
    return changes;
  }

  /** Expected sources currently silent, as of the last `tick()`. */
  silentSources(): string[] {
    return [...this.#silent];
  }

  /** Expected sources (configured and learned). */
  expectedSources(): string[] {
    return [...this.#expected.keys()];
  }

  #expect(source: string, how: Expectation): void {
    this.#expected.set(source, how);
    this.#labels.label(source, true);
    this.#metrics.sourceSilent.set({ source }, 0);
  }

  #record(label: string, at: number, count: number): void {
    this.#lastSeen.set(label, at);
    this.#metrics.sourceLastEvent.set({ source: label }, at / 1000);
    this.#metrics.sourceEvents.inc({ source: label }, count);
  }
}
