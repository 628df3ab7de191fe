/**
 * Watches the pipeline from the side: silent sources, sender sequence gaps, stalls, certificate
 * expiry. What it finds is logged once, counted, and written to the ledger itself as an `internal`
 * record (OCSF Detection Finding), so a hole in the audit trail is part of the audit trail. Every
 * row goes through the per-source finding budget (src/monitoring/finding-budget.ts), whose minutes it
 * also ends, once a second.
 */
import type { Logger } from 'pino';
import { internalRecord } from '../ledger/internal-record.js';
import type { ChainedRecord, LedgerRecord } from '../ledger/types.js';
import type { PeerIdentity } from '../listener/identity.js';
import { nowMicros } from '../listener/server.js';
import { observeCertificateExpiry } from './certificates.js';
import { FindingBudget, type FindingSink } from './finding-budget.js';
import { findingToEvent, findingType, type Finding } from './findings.js';
import type { Metrics } from '../metrics/registry.js';
import { observationOf, SequenceTracker, type SequenceObservation } from './sequence.js';
import { loadSourceHistory } from './source-history.js';
import { peerSourceName, SourceTracker } from './sources.js';
import type { Queryable } from '../checkpoints/merkle-store.js';
import { StallDetector } from './stall.js';
import type { ParsedMessage } from '../parsing/types.js';

/** The server's own identity on the records it writes (defined with the record builder, src/ledger/internal-record.ts). */
export { SERVER_PEER } from '../ledger/internal-record.js';

export interface MonitorOptions {
  readonly expectSources: readonly string[];
  readonly silenceThresholdSec: number;
  /** `--learn-sources`, seconds; 0: only the configured sources are expected. */
  readonly learnWindowSec?: number;
  readonly stallThresholdSec: number;
  readonly oldestPendingUs: () => number | null;
  /** Where findings go: the writer's queue, through `budget` (one is made when absent). */
  readonly enqueue: (record: LedgerRecord) => void;
  /** The per-source cap every server row passes (shared with the detector). */
  readonly budget?: FindingBudget;
  /** `--max-findings-per-minute`, when the monitor makes its own budget. Default 60. */
  readonly maxFindingsPerMinute?: number;
  /** `--finding-summary-interval`. Default 300 s. */
  readonly summaryIntervalMs?: number;
  /** Also run once a second, before the budget's minutes end (the detector's episode summaries). */
  readonly onTick?: () => void;
}

/** How far back the start-up rebuild looks when learning is off (configured sources only). */
export const REBUILD_LOOKBACK_SEC = 7 * 86_400;

export class Monitor {
  readonly sources: SourceTracker;
  readonly sequences: SequenceTracker;
  /** Every server row passes here. */
  readonly budget: FindingBudget;
  readonly #stall: StallDetector;
  readonly #timer: NodeJS.Timeout;
  /** Sources are ticked only once rebuilt from the ledger (or the rebuild gave up): no finding from a blank state. */
  #sourcesStarted = false;

  constructor(
    readonly metrics: Metrics,
    readonly log: Logger,
    readonly o: MonitorOptions,
  ) {
    this.sources = new SourceTracker(metrics, { expectSources: [...o.expectSources], silenceThresholdSec: o.silenceThresholdSec, learnWindowSec: o.learnWindowSec ?? 0 });
    this.sequences = new SequenceTracker(metrics, { summaryIntervalMs: o.summaryIntervalMs });
    this.budget = o.budget ?? new FindingBudget(metrics, { perMinute: o.maxFindingsPerMinute, enqueue: o.enqueue });
    this.#stall = new StallDetector(metrics, { oldestUncommittedUs: o.oldestPendingUs, thresholdSec: o.stallThresholdSec });
    this.#timer = setInterval(() => this.tick(), 1000);
    this.#timer.unref();
  }

  /** Per received frame, in receive order. */
  onParsed(parsed: ParsedMessage, peer: PeerIdentity, receivedAtUs: number): void {
    const obs = observationOf(parsed, receivedAtUs);
    if (obs) this.onObservation(obs, peer);
  }

  /** onParsed's observation, made elsewhere (a stage worker, src/workers/). */
  onObservation(obs: SequenceObservation, peer: PeerIdentity): void {
    const findings = this.sequences.observe(peerSourceName(peer) ?? peer.address, { ...obs, connection: peer.address });
    for (const f of findings) this.#record(f);
  }

  /** Per committed batch. */
  onCommitted(rows: readonly ChainedRecord[]): void {
    this.sources.observeBatch(rows.filter((r) => r.format !== 'internal'));
  }

  /**
   * At start, before the listener opens: the expected sources, their last events and the silences
   * left open, from the ledger (src/monitoring/source-history.ts); then one tick, so a source that went
   * silent while the server was down is silent (and its finding queued) at once.
   */
  async rebuildSources(db: Queryable, chain: string): Promise<void> {
    const lookbackSec = this.o.learnWindowSec || REBUILD_LOOKBACK_SEC;
    const history = await loadSourceHistory(db, { chain, lookbackSec });
    this.sources.rebuild(history);
    this.#sourcesStarted = true;
    this.log.info(
      { sources: history.lastEvents.length, pairs: history.pairs, truncated: history.truncated, openSilences: history.openSilences.length, expected: this.sources.expectedSources().length, lookbackSec },
      'sources rebuilt from the ledger',
    );
    this.tick();
  }

  /** Starts source ticks without a rebuild (the rebuild failed). */
  startSources(): void {
    this.#sourcesStarted = true;
  }

  /** `--expect-source` plus `--expect-sources-file`, after a SIGHUP re-read the file. */
  setExpectedSources(sources: readonly string[]): void {
    this.sources.setConfigured(sources);
  }

  observeCertificates(serverPem: Buffer, caPem: Buffer): void {
    observeCertificateExpiry(this.metrics, 'server', serverPem);
    observeCertificateExpiry(this.metrics, 'ca', caPem);
  }

  tick(): void {
    if (this.#sourcesStarted) for (const f of this.sources.tick()) this.#record(f);
    for (const f of this.sequences.tick()) this.#record(f);
    this.o.onTick?.();
    for (const n of this.budget.tick()) this.log.warn({ source: n.source, suppressed: n.suppressed, byKind: n.byKind }, 'findings over the per-source cap were not written');
    const stall = this.#stall.tick();
    if (stall.changed) {
      if (stall.stalled) this.log.error({ oldestUncommittedAgeSec: stall.ageSec }, 'pipeline stalled: events received but not committed');
      else this.log.info('pipeline no longer stalled');
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * At shutdown, once every frame is read and before the writer closes: the summaries of open
   * sequence episodes, then the suppression notices of the minutes not over yet.
   */
  flush(): void {
    for (const f of this.sequences.closeAll()) this.#record(f);
    for (const n of this.budget.flush()) this.log.warn({ source: n.source, suppressed: n.suppressed, byKind: n.byKind }, 'findings over the per-source cap were not written');
  }

  /** The sink the detector shares. */
  get sink(): FindingSink {
    return this.budget;
  }

  #record(f: Finding): void {
    const kind = findingType(f);
    const written = this.budget.write(f.source, kind, () => {
      const event = findingToEvent(f);
      this.log.warn({ finding: f.kind, source: f.source }, String(event.message ?? f.kind));
      const hostname = 'stream' in f && f.stream ? f.stream : f.source;
      return internalRecord(event, { receivedAtUs: nowMicros(), hostname, msgid: `finding.${f.kind}` });
    });
    if (!written) this.log.debug({ finding: f.kind, source: f.source }, 'finding over the per-source cap: counted, not written');
  }
}
