/**
 * syslog-ledger: wires the pipeline stages. Data flows one way; backpressure flows back.
 *
 *   peers ══TLS══► listener/ ──bytes──► framing/ ──frames──► parsing/ ──ParsedMessage──► normalize/
 *   (mTLS,          (identity,          (octet-count        (RFC 5424, RFC 3164,         (OCSF event,
 *    client cert)    limits)             or LF, per frame)   JSON; never throws)          lifted columns)
 *                      ▲                                                                     │
 *                      │ pause / resume                                                      ▼
 *                      │                                                    redact/ (secrets masked,
 *                      │                                                     HMAC of the original)
 *                      │                                                                     │ LedgerRecord
 *                      │                                                                     ▼
 *                      └──────────── full / drain ◄───────────── ledger/writer (seq, SHA-256 chain,
 *                                                                 COPY, one transaction per batch)
 *                                                                        │ committed rows ▲
 *                                                                        ▼                │ findings (2004)
 *                                 checkpoints (signed heads), metrics per source, detect/ ┘
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from './errors.js';
import type { Frame } from './framing/framer.js';
import { LedgerWriter } from './ledger/writer.js';
import { toRecord, type RecordConfig } from './stages.js';
import { stagePool } from './workers/pool.js';
import type { LedgerRecord, ChainedRecord } from './ledger/types.js';
import { peerNames, type PeerIdentity } from './listener/identity.js';
import { hostnameAllowed, type HostBinding } from './listener/limits.js';
import type { ProxyProtocolOptions } from './listener/proxy-protocol.js';
import { Listener } from './listener/server.js';
import type { TlsMaterial } from './listener/tls-files.js';
import { startMetricsServer } from './metrics/http.js';
import type { Metrics } from './metrics/registry.js';
import { liftColumns } from './normalize/columns.js';
import { normalize } from './normalize/index.js';
import { parseFrame } from './parsing/index.js';
import { Monitor } from './monitoring/monitor.js';
import type { Detector } from './detect/detector.js';
import type { Redactor } from './redact/redactor.js';
import type { FormatOption } from './parsing/types.js';
import { ResendIndex } from './relp/resends.js';
import { seedResends } from './relp/seed.js';
import { RelpService } from './relp/service.js';

/** Everything the pipeline needs, already validated (src/cli/serve.ts builds it from options). */
export interface PipelineConfig {
  readonly listen: { host: string; port: number };
  readonly metricsListen: { host: string; port: number };
  readonly databaseUrl: string;
  readonly chain: string;
  readonly tls: TlsMaterial;
  readonly allowPeers: readonly string[];
  readonly format: FormatOption;
  readonly timeZone: string;
  readonly maxFrameBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerPeer: number;
  readonly ratePerPeer: number;
  readonly burstPerPeer: number;
  /** Which syslog HOSTNAMEs each certificate may claim (empty: any). */
  readonly hostBindings: readonly HostBinding[];
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly batchMaxEvents: number;
  /** Stage worker threads (`--workers`, src/workers/); 0 or unset: the stages run on the main thread. */
  readonly workers?: number;
  readonly queueMaxEvents: number;
  readonly queueMaxBytes: number;
  readonly shutdownGraceMs: number;
  readonly expectSources: readonly string[];
  readonly silenceThresholdSec: number;
  /** `--learn-sources`, seconds (0: only `expectSources` are expected). Default 0. */
  readonly learnWindowSec?: number;
  readonly stallThresholdSec: number;
  /** `--max-findings-per-minute`: server rows per source per minute (src/monitoring/finding-budget.ts). Default 60. */
  readonly maxFindingsPerMinute?: number;
  /** `--finding-summary-interval`: summaries of episodes still going on, this often. Default 300 s. */
  readonly findingSummaryIntervalMs?: number;
  /** Masks secrets before storage (src/redact/); unset: stored as received. */
  readonly redactor?: Redactor;
  /** Detections on committed rows (src/detect/), its findings written through the writer; unset: none. */
  readonly detector?: Detector;
  /** RELP listener (src/relp/), acknowledged after COMMIT; unset: off. */
  readonly relp?: { readonly host: string; readonly port: number; readonly maxDataBytes: number };
  /** PROXY protocol from trusted balancers on both listeners (src/listener/proxy-protocol.ts); unset: off. */
  readonly proxy?: ProxyProtocolOptions;
}

export interface Pipeline {
  readonly listenAddress: AddressInfo;
  readonly metricsAddress: AddressInfo;
  readonly writer: LedgerWriter;
  readonly listener: Listener;
  /** The RELP listener, when `relp` was configured. */
  readonly relp?: RelpService;
  readonly relpAddress?: AddressInfo;
  readonly monitor: Monitor;
  /**
   * Stops accepting, reads what peers already sent, commits everything, and closes. Rejects with
   * EventsNotCommittedError when the writer had failed with events it never committed.
   */
  shutdown(): Promise<void>;
  /** Forced stop: returns how many received events were not committed. */
  abort(): Promise<number>;
  /** From now on /readyz answers 503 (a balancer stops sending here); everything else runs on. */
  drain(): void;
}

export interface PipelineHooks {
  /** After each commit, in seq order (checkpoints, per-source metrics). */
  readonly onCommitted?: (rows: readonly ChainedRecord[]) => void | Promise<void>;
  readonly ready?: () => { ok: boolean; detail: Record<string, unknown> };
}

export async function startPipeline(cfg: PipelineConfig, metrics: Metrics, log: Logger, hooks: PipelineHooks = {}): Promise<Pipeline> {
  const writer = new LedgerWriter({
    databaseUrl: cfg.databaseUrl,
    chain: cfg.chain,
    metrics,
    log: log.child({ stage: 'writer' }),
    batchMaxEvents: cfg.batchMaxEvents,
    queueMaxEvents: cfg.queueMaxEvents,
    queueMaxBytes: cfg.queueMaxBytes,
    role: 'syslog_ledger_writer',
    onCommitted: async (rows) => {
      monitor.onCommitted(rows);
      cfg.detector?.onCommitted(rows);
      await hooks.onCommitted?.(rows);
    },
  });
  const monitor = new Monitor(metrics, log.child({ stage: 'monitor' }), {
    expectSources: cfg.expectSources,
    silenceThresholdSec: cfg.silenceThresholdSec,
    learnWindowSec: cfg.learnWindowSec ?? 0,
    stallThresholdSec: cfg.stallThresholdSec,
    oldestPendingUs: () => writer.oldestPendingUs,
    enqueue: (record) => writer.enqueue(record),
    maxFindingsPerMinute: cfg.maxFindingsPerMinute,
    summaryIntervalMs: cfg.findingSummaryIntervalMs,
    onTick: () => cfg.detector?.tick(),
  });
  monitor.observeCertificates(cfg.tls.cert, cfg.tls.ca);
  // Every server row (pipeline findings, detections, their summaries) passes one per-source budget.
  cfg.detector?.attach(monitor.budget);
  await writer.start();
  // Before the listener opens: expected sources, last events and open silences from the ledger.
  // A failure is logged and the server runs on: silence detection then starts from nothing.
  const db = new pg.Client({ connectionString: cfg.databaseUrl, application_name: 'syslog-ledger sources' });
  try {
    await db.connect();
    await monitor.rebuildSources(db, cfg.chain);
  } catch (err) {
    log.error({ err: describeError(err) }, 'sources: could not rebuild from the ledger; sources not seen since start are not known to be silent');
    monitor.startSources();
  } finally {
    await db.end().catch(() => undefined);
  }

  const pool = cfg.workers ? stagePool({ ...cfg, workers: cfg.workers }, metrics, log.child({ stage: 'workers' }), monitor, (r) => writer.enqueue(r)) : undefined;
  const listener = new Listener({
    host: cfg.listen.host,
    port: cfg.listen.port,
    tls: cfg.tls,
    allowPeers: cfg.allowPeers,
    maxFrameBytes: cfg.maxFrameBytes,
    maxConnections: cfg.maxConnections,
    maxConnectionsPerPeer: cfg.maxConnectionsPerPeer,
    ratePerPeer: cfg.ratePerPeer,
    burstPerPeer: cfg.burstPerPeer,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    metrics,
    log: log.child({ stage: 'listener' }),
    ...(cfg.proxy ? { proxy: cfg.proxy } : {}),
    onFrames: (frames, peer, receivedAtUs) => {
      for (const frame of frames) {
        if (pool) pool.push(frame, peer, receivedAtUs);
        else writer.enqueue(toRecord(frame, peer, receivedAtUs, cfg, metrics, monitor));
      }
      if (writer.full || pool?.full) listener.pause();
    },
  });
  pool?.on('drain', () => {
    if (!writer.full && !writer.fatalError) listener.resume();
  });
  const relp = cfg.relp ? await startRelp(cfg, cfg.relp, writer, metrics, log, monitor) : undefined;
  writer.on('full', () => {
    listener.pause();
    relp?.pause();
  });
  writer.on('drain', () => {
    listener.resume();
    relp?.resume();
  });
  writer.on('error', (err) => {
    // Nothing read from now on could be committed: leave it with the senders (TCP backpressure).
    listener.pause();
    relp?.pause();
    log.fatal({ err: err.message, notCommitted: writer.pendingEvents }, 'writer failed; stopping intake');
  });

  const listenAddress = await listener.listen();
  const relpAddress = relp ? await relp.listen() : undefined;
  let shuttingDown = false;
  const metricsServer = await startMetricsServer({
    host: cfg.metricsListen.host,
    port: cfg.metricsListen.port,
    metrics,
    ready:
      hooks.ready ??
      (() => ({
        ok: writer.ready && !writer.fatalError && !shuttingDown,
        detail: { database: writer.ready, queue: writer.pendingEvents, backpressure: writer.full },
      })),
  });

  return {
    listenAddress,
    metricsAddress: metricsServer.address,
    writer,
    listener,
    ...(relp ? { relp, relpAddress } : {}),
    monitor,
    drain() {
      shuttingDown = true;
    },
    async shutdown() {
      shuttingDown = true;
      monitor.close();
      // RELP: read nothing more; what was read is committed and acknowledged below, then serverclose.
      relp?.stopReading();
      // Keep committing while the peers' last bytes come in: resume if backpressure had paused them
      // (not after a writer failure: nothing read now could be committed).
      if (!writer.fatalError) listener.resume();
      try {
        await listener.close(cfg.shutdownGraceMs);
        await pool?.close();
        if (!writer.fatalError) monitor.flush();
        // Rejects with EventsNotCommittedError, naming how many, when the writer had failed.
        // Each commit sends its RELP acks as it happens.
        await writer.close();
      } finally {
        await relp?.close(cfg.shutdownGraceMs);
        await metricsServer.close();
      }
    },
    async abort() {
      shuttingDown = true;
      monitor.close();
      // Read nothing more: a frame read after the count would be lost without being counted.
      listener.pause();
      relp?.stopReading();
      const lost = (pool?.abort() ?? 0) + (await writer.abort());
      await metricsServer.close();
      return lost;
    },
  };
}

/**
 * The RELP listener: reads back the tails of the RELP sessions the previous process stored last
 * (so that resends after a crash are recognized), then listens with the 6514 TLS setup.
 */
async function startRelp(
  cfg: PipelineConfig,
  relpCfg: NonNullable<PipelineConfig['relp']>,
  writer: LedgerWriter,
  metrics: Metrics,
  log: Logger,
  monitor: Monitor,
): Promise<RelpService> {
  const resends = new ResendIndex();
  const client = new pg.Client({ connectionString: cfg.databaseUrl, application_name: 'syslog-ledger relp' });
  await client.connect();
  try {
    const sessions = await seedResends(resends, client, cfg.chain);
    log.info({ sessions, chain: cfg.chain }, 'RELP: read back the last frames of the previous RELP sessions to recognize resends');
  } finally {
    await client.end();
  }
  const service: RelpService = new RelpService({
    host: relpCfg.host,
    port: relpCfg.port,
    tls: cfg.tls,
    allowPeers: cfg.allowPeers,
    maxDataBytes: relpCfg.maxDataBytes,
    maxConnections: cfg.maxConnections,
    maxConnectionsPerPeer: cfg.maxConnectionsPerPeer,
    ratePerPeer: cfg.ratePerPeer,
    burstPerPeer: cfg.burstPerPeer,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    metrics,
    log: log.child({ stage: 'relp' }),
    resends,
    ...(cfg.proxy ? { proxy: cfg.proxy } : {}),
    toRecord: (frame, peer, receivedAtUs) => toRecord(frame, peer, receivedAtUs, cfg, metrics, monitor),
    enqueue: (record, onCommitted) => {
      writer.enqueue(record, onCommitted);
      if (writer.full) service.pause();
    },
  });
  return service;
}
