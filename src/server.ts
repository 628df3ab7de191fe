/**
 * syslog-ledger's server: the one owner of every component's start and stop. Data flows one way;
 * backpressure flows back.
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
 *                                                                        │ committed rows
 *                                                                        ▼
 *                                    AFTER_COMMIT: monitor, detector (findings back to the writer), checkpointer
 *
 * Start order (`Server.start`), each component once; `stop()` walks it backwards:
 *
 *    0 certificates   dev PKI on a fresh machine, then the TLS files      (reloaded on SIGHUP)
 *    1 database       --database-url, or the embedded PostgreSQL          release()
 *    2 migrations     applied before anything reads the schema            -
 *    3 partitions     today's and ahead, then every 6 h                   timer cleared
 *    4 checkpointer   signing key, its pool, the heads read back          close(), pool ended
 *    5 detector       state rebuilt from the ledger (on the replica)      -
 *    6 background     checkpoint timer, capacity, replica lag, chain sets closed
 *    7 writer+monitor writer started, sources rebuilt from the ledger     every event committed (or N not)
 *    8 listeners      stage workers (--workers), TLS (6514), RELP        stop reading, close; workers drained
 *    9 metrics        /metrics, /healthz, /readyz                         closed after the last commit
 *   10 verifier       incremental verification                            stopped
 *   11 console        the read-only web console                          closed
 *
 * Stopping has one path where every received event is committed and one where N are not
 * (`StopResult`); `abort()` is the forced stop. `src/cli/serve.ts` only parses options and turns
 * signals into these calls. This class keeps the order and the components; a step's own procedure
 * lives with its stage (src/listener/certificates.ts, src/relp/start.ts, src/detect/rebuild.ts, ...).
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { Logger } from 'pino';
import { ChainSetCheckpointer } from './checkpoints/chain-set.js';
import { Checkpointer } from './checkpoints/checkpointer.js';
import { loadOrCreateSigningKey } from './checkpoints/signing.js';
import { startConsole, type ConsoleServer } from './console/server.js';
import { migrate } from './db/migrate.js';
import { startReplicaLagMonitor } from './db/replica.js';
import { announceEmbedded, resolveDatabase, type ResolvedDatabase } from './db/resolve.js';
import { Detector } from './detect/detector.js';
import { rebuildDetector } from './detect/rebuild.js';
import { describeError, EventsNotCommittedError } from './errors.js';
import type { Frame } from './framing/framer.js';
import type { ChainedRecord, LedgerRecord } from './ledger/types.js';
import { LedgerWriter } from './ledger/writer.js';
import { loadCertificates } from './listener/certificates.js';
import { connectionOptions } from './listener/connection-options.js';
import type { PeerIdentity } from './listener/identity.js';
import { Listener } from './listener/server.js';
import { loadTlsMaterial, type TlsMaterial } from './listener/tls-files.js';
import { startMetricsServer } from './metrics/http.js';
import { Metrics } from './metrics/registry.js';
import { startCapacityMonitor } from './monitoring/capacity.js';
import { Monitor } from './monitoring/monitor.js';
import { rebuildSourcesFromLedger } from './monitoring/rebuild-sources.js';
import { loadRedactor } from './redact/load.js';
import type { RelpService } from './relp/service.js';
import { startRelp } from './relp/start.js';
import { startPartitionMaintenance } from './retention/partitions.js';
import type { ReloadResult, ServerConfig, StopResult } from './server-config.js';
import { toRecord, type RecordConfig } from './stages.js';
import { stagePool, type StagePool } from './workers/pool.js';
import { IncrementalVerifier } from './verify/incremental.js';

export type { ReloadResult, ServerConfig, StopResult } from './server-config.js';

/** Something done per committed batch, in commit order. */
type AfterCommit = (rows: readonly ChainedRecord[]) => void | Promise<void>;

export class Server {
  #shuttingDown = false;
  #released: Promise<void> | undefined;
  // Components, in start order (see the table above); each is set once by start().
  #database!: ResolvedDatabase;
  #partitions!: { close(): void };
  #metrics!: Metrics;
  /** syslog_ledger_stage_frames_total{thread="main"}: frames whose stages run inline here. */
  #mainThreadFrames!: { inc(): void };
  /** What the per-frame stages need (set once the redactor exists): one object, not one per frame. */
  #records!: RecordConfig;
  /** abort() ran: nothing is read any more. */
  #aborted = false;
  #checkpointPool!: pg.Pool;
  #checkpointer!: Checkpointer;
  #detector: Detector | undefined;
  #capacity!: { close(): Promise<void> };
  #replicaLag: { close(): Promise<void> } | undefined;
  #chainSets: ChainSetCheckpointer | undefined;
  #writer!: LedgerWriter;
  #monitor!: Monitor;
  #pool: StagePool | undefined;
  #listener!: Listener;
  #relp: RelpService | undefined;
  #metricsServer!: { address: AddressInfo; close(): Promise<void> };
  #verifier: IncrementalVerifier | undefined;
  #console: ConsoleServer | undefined;

  #listenAddress!: AddressInfo;
  #relpAddress: AddressInfo | undefined;

  private constructor(
    readonly cfg: ServerConfig,
    readonly log: Logger,
  ) {}

  /** Starts every component in order; on a failure, the database started here is released. */
  static async start(cfg: ServerConfig, log: Logger): Promise<Server> {
    const server = new Server(cfg, log);
    const tls = await loadCertificates(cfg, log);
    server.#database = await resolveDatabase({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, record: true });
    try {
      await server.#start(tls);
    } catch (err) {
      try {
        await server.#abandon();
      } finally {
        await server.release();
      }
      throw err;
    }
    return server;
  }

  async #start(tls: TlsMaterial): Promise<void> {
    const { cfg, log } = this;
    const db = this.#database;
    announceEmbedded(db, cfg.dataDir, log);
    // 2 migrations
    const migrated = await migrate(db.url);
    if (migrated.applied.length) log.info({ applied: migrated.applied }, 'migrations applied');
    // 3 partitions: rows never wait for one (DEFAULT partition).
    this.#partitions = await startPartitionMaintenance({ databaseUrl: db.url, interval: cfg.partitionInterval, log });

    const metrics = (this.#metrics = new Metrics());
    this.#mainThreadFrames = metrics.stageFrames.labels('main');
    const redactor = await loadRedactor(cfg.redaction, cfg.redactionKeyPath, metrics, log);
    this.#records = { format: cfg.format, timeZone: cfg.timeZone, hostBindings: cfg.hostBindings, redactor };

    // 4 checkpointer: the signing key lives outside the database; heads go to the DB and a file.
    const key = await loadOrCreateSigningKey(cfg.signingKeyPath);
    if (key.created) {
      log.warn({ file: cfg.signingKeyPath, keyId: key.keyId }, 'created a new Ed25519 checkpoint signing key; production keys belong in a KMS/HSM (docs/integrity.md). Verifiers need only the .pub');
    }
    this.#checkpointPool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'syslog-ledger checkpointer' });
    this.#checkpointPool.on('error', (err) => log.warn({ err: describeError(err) }, 'checkpointer connection error'));
    this.#checkpointer = new Checkpointer({ key, file: cfg.checkpointFile, metrics, log: log.child({ stage: 'checkpointer' }) });
    await this.#checkpointer.init(this.#checkpointPool, { chains: [cfg.chain] });

    // 5 detector: rebuilt before the writer starts, so the replayed rows all come before the first
    // live one; on the replica when given, once it has replayed everything the primary has.
    if (cfg.detections !== undefined) {
      this.#detector = new Detector({ config: cfg.detections, metrics, log: log.child({ stage: 'detect' }), summaryIntervalMs: cfg.findingSummaryIntervalMs });
      await rebuildDetector(this.#detector, { databaseUrl: db.url, readDatabaseUrl: cfg.readDatabaseUrl, pool: this.#checkpointPool, chain: cfg.chain, log });
    }

    // 6 background work on the database.
    this.#checkpointer.start();
    this.#capacity = startCapacityMonitor({ url: db.url, metrics, log: log.child({ stage: 'capacity' }), hotWindowMs: cfg.hotWindowMs });
    this.#replicaLag = cfg.readDatabaseUrl ? startReplicaLagMonitor({ url: cfg.readDatabaseUrl, metrics, log: log.child({ stage: 'replica' }) }) : undefined;
    this.#chainSets = cfg.chainSets ? new ChainSetCheckpointer({ databaseUrl: db.url, key, log: log.child({ stage: 'chain-set' }), intervalMs: cfg.chainSets.intervalMs, file: cfg.chainSets.file }) : undefined;
    this.#chainSets?.start();

    // 7 writer and monitor.
    await this.#startWriter(db.url, tls);

    // 8 listeners: TLS, then RELP.
    const writer = this.#writer;
    const relp = cfg.relp
      ? await startRelp({
          databaseUrl: db.url,
          chain: cfg.chain,
          maxDataBytes: cfg.relp.maxDataBytes,
          connection: connectionOptions(cfg, cfg.relp, tls, metrics, log, 'relp'),
          // As the TLS listener's frames, in arrival order across both.
          store: (frame, peer, receivedAtUs, onCommitted) => this.#intake(frame, peer, receivedAtUs, onCommitted),
          full: () => this.#intakeFull,
          log,
        })
      : undefined;
    this.#relp = relp;
    writer.on('full', () => {
      this.#listener.pause();
      relp?.pause();
    });
    writer.on('drain', () => this.#resumeIntake());

    // 9 metrics.
    this.#metricsServer = await startMetricsServer({
      host: cfg.metricsListen.host,
      port: cfg.metricsListen.port,
      metrics,
      ready: () => ({
        ok: writer.ready && !writer.fatalError && !this.#shuttingDown,
        detail: { database: writer.ready, queue: writer.pendingEvents, backpressure: writer.full },
      }),
    });

    // 10 verifier: incremental verification of this chain (src/verify/incremental.ts); a failure is an alert, never a stop.
    this.#verifier =
      cfg.verifyIntervalMs > 0
        ? new IncrementalVerifier({ databaseUrl: db.url, chain: cfg.chain, key: { publicKey: key.publicKey, keyId: key.keyId }, intervalMs: cfg.verifyIntervalMs, metrics, log: log.child({ stage: 'verify' }), enqueue: (r) => writer.enqueue(r) })
        : undefined;
    this.#verifier?.start();

    // 11 console.
    if (cfg.console !== undefined) {
      const c = cfg.console;
      this.#console = await startConsole({ config: c, databaseUrl: db.url, ...(cfg.readDatabaseUrl ? { readDatabaseUrl: cfg.readDatabaseUrl } : {}), tls, key, checkpointFile: cfg.checkpointFile, silenceThresholdSec: cfg.silenceThresholdSec, expectSources: cfg.expectSources, log: log.child({ stage: 'console' }) });
      console.error(`Console: ${c.tokenGenerated || c.allow.length ? this.#console.loginUrl : this.#console.loginUrl.replace(/token=.*$/, 'token=<the token in --console-token-file>')}`);
    }

    // 8 the listeners open their ports last: a component that fails to start leaves no port that
    // accepts frames it could not commit. RELP first: its frames are acknowledged only after COMMIT,
    // so should the TLS port then fail to open, its senders resend what they had sent.
    this.#relpAddress = relp ? await relp.listen() : undefined;
    this.#listenAddress = await this.#listener.listen();
  }

  /** 7: the writer, its after-commit consumers, and the monitor (sources rebuilt before the listeners open). */
  async #startWriter(databaseUrl: string, tls: TlsMaterial): Promise<void> {
    const { cfg, log } = this;
    const metrics = this.#metrics;
    // Every consumer of committed rows, in the order they see each batch. All are called
    // synchronously (no await before the checkpointer), so Merkle appends keep commit order.
    const afterCommit: readonly AfterCommit[] = [
      (rows) => this.#monitor.onCommitted(rows), // last event per source, silences
      (rows) => this.#detector?.onCommitted(rows), // detections; their findings come back through the writer
      (rows) => this.#checkpointer.onCommitted(cfg.chain, rows), // Merkle tree, signed heads
    ];
    const writer = (this.#writer = new LedgerWriter({
      databaseUrl,
      chain: cfg.chain,
      metrics,
      log: log.child({ stage: 'writer' }),
      batchMaxEvents: cfg.batchMaxEvents,
      queueMaxEvents: cfg.queueMaxEvents,
      queueMaxBytes: cfg.queueMaxBytes,
      role: 'syslog_ledger_writer',
      onCommitted: async (rows) => {
        await Promise.all(afterCommit.map((consume) => consume(rows)));
      },
    }));
    const monitor = (this.#monitor = new Monitor(metrics, log.child({ stage: 'monitor' }), {
      expectSources: cfg.expectSources,
      silenceThresholdSec: cfg.silenceThresholdSec,
      learnWindowSec: cfg.learnWindowSec,
      stallThresholdSec: cfg.stallThresholdSec,
      oldestPendingUs: () => writer.oldestPendingUs,
      enqueue: (record) => writer.enqueue(record),
      maxFindingsPerMinute: cfg.maxFindingsPerMinute,
      summaryIntervalMs: cfg.findingSummaryIntervalMs,
      onTick: () => this.#detector?.tick(),
    }));
    monitor.observeCertificates(tls.cert, tls.ca);
    // Every server row (pipeline findings, detections, their summaries) passes one per-source budget.
    this.#detector?.attach(monitor.budget);
    // Before it runs: a failure during the rest of the start is then handled too, not an 'error'
    // without a listener.
    writer.on('error', (err) => {
      // Nothing read from now on could be committed: leave it with the senders (TCP backpressure).
      this.#listener?.pause();
      this.#relp?.pause();
      this.log.fatal({ err: err.message, notCommitted: writer.pendingEvents }, 'writer failed; stopping intake');
    });
    await writer.start();
    // Before the listener opens: expected sources, last events and open silences from the ledger.
    // A failure is logged and the server runs on: silence detection then starts from nothing.
    await rebuildSourcesFromLedger(monitor, databaseUrl, cfg.chain, log);

    // The per-frame stages: in worker threads (records delivered in arrival order), or inline.
    const pool = (this.#pool =
      cfg.workers > 0
        ? stagePool(
            { ...this.#records, workers: cfg.workers },
            metrics,
            log.child({ stage: 'workers' }),
            monitor,
            (frame, peer, receivedAtUs) => this.#toRecord(frame, peer, receivedAtUs),
            (r, onCommitted) => writer.enqueue(r, onCommitted),
            (n) => writer.holdUpstream(n),
          )
        : undefined);
    this.#listener = new Listener({
      ...connectionOptions(cfg, cfg.listen, tls, metrics, log, 'listener'),
      maxFrameBytes: cfg.maxFrameBytes,
      onFrames: (frames, peer, receivedAtUs) => {
        for (const frame of frames) this.#intake(frame, peer, receivedAtUs);
        if (this.#intakeFull) this.#listener.pause();
      },
    });
    pool?.on('drain', () => this.#resumeIntake());
  }

  /** Backpressure released (the writer's queue or the stage pool drained): read again, unless the other is still full. */
  #resumeIntake(): void {
    const writer = this.#writer;
    if (writer.full || writer.fatalError || this.#pool?.full || this.#aborted) return;
    this.#listener.resume();
    this.#relp?.resume();
  }

  /**
   * A received frame (TLS or RELP) on its way to the ledger: through the stage workers, or the
   * stages here, then the writer. `onCommitted`: a RELP frame's acknowledgement, after its COMMIT.
   */
  #intake(frame: Frame, peer: PeerIdentity, receivedAtUs: number, onCommitted?: () => void): void {
    if (this.#pool) this.#pool.push(frame, peer, receivedAtUs, onCommitted);
    else this.#writer.enqueue(this.#toRecord(frame, peer, receivedAtUs), onCommitted);
  }

  /** Intake must pause: the writer's queue or the stage pool is full. */
  get #intakeFull(): boolean {
    return this.#writer.full || (this.#pool?.full ?? false);
  }

  /** The per-frame stages (src/stages.ts) on this thread, with this server's configuration; counted (stage_frames_total{thread="main"}). */
  #toRecord(frame: Frame, peer: PeerIdentity, receivedAtUs: number): LedgerRecord {
    this.#mainThreadFrames.inc();
    return toRecord(frame, peer, receivedAtUs, this.#records, this.#metrics, this.#monitor);
  }

  get listenAddress(): AddressInfo {
    return this.#listenAddress;
  }

  get relpAddress(): AddressInfo | undefined {
    return this.#relpAddress;
  }

  get metricsAddress(): AddressInfo {
    return this.#metricsServer.address;
  }

  get consoleAddress(): AddressInfo | undefined {
    return this.#console?.address;
  }

  /** Events received and not yet committed. */
  get pendingEvents(): number {
    return this.#writer.pendingEvents;
  }

  get headSeq(): number {
    return this.#writer.head.seq;
  }

  /** Called once the writer fails for good (nothing read from then on can be committed). */
  onWriterFailed(listener: () => void): void {
    // It may have failed already (while the server was still starting).
    if (this.#writer.fatalError) queueMicrotask(listener);
    else this.#writer.once('error', listener);
  }

  /** SIGHUP: new connections use the new files, open connections stay up (unless no longer allowed). */
  async reload(allowPeers: readonly string[], expectSources: readonly string[]): Promise<ReloadResult> {
    const tls = await loadTlsMaterial(this.cfg.tlsPaths);
    const closedConnections = this.#listener.reload(tls, allowPeers) + (this.#relp?.reload(tls, allowPeers) ?? 0);
    this.#monitor.observeCertificates(tls.cert, tls.ca);
    this.#monitor.setExpectedSources(expectSources);
    this.#console?.reload(tls, expectSources);
    return { tls, closedConnections };
  }

  /**
   * The graceful stop, components in reverse start order: /readyz 503 for the drain delay, then
   * console, verifier, the listeners (reading what peers already sent), the writer (committing
   * everything), metrics, background work, checkpointer, partitions, database. Logs one line for
   * "every received event committed" or one per failure ("shutdown failed", with `notCommitted`).
   */
  async stop(): Promise<StopResult> {
    const { cfg, log } = this;
    const failures: StopResult[] = [];
    const failed = (err: unknown): void => {
      const notCommitted = err instanceof EventsNotCommittedError ? err.count : undefined;
      log.error({ err: describeError(err), ...(notCommitted !== undefined ? { notCommitted } : {}) }, 'shutdown failed');
      failures.push({ committed: false, ...(notCommitted !== undefined ? { notCommitted } : {}) });
    };
    // 9 metrics first answers /readyz 503, so that a balancer stops sending new connections
    // before the listeners close; it stays up (for /metrics) until the last commit.
    this.#shuttingDown = true;
    if (cfg.drainDelayMs > 0) {
      log.info({ drainDelayMs: cfg.drainDelayMs }, 'draining: /readyz answers 503; listeners close after the drain delay');
      await new Promise((r) => setTimeout(r, cfg.drainDelayMs));
    }
    // 11, 10
    await this.#console?.close();
    await this.#verifier?.stop();
    // 8, 7: intake stops, then everything read is committed. Whatever happens here, what follows
    // closes: a failed writer must not leave the process hanging on the checkpointer's pool.
    await this.#stopIntakeAndCommit().catch(failed);
    // 6
    await this.#chainSets?.close().catch((err: unknown) => log.warn({ err: describeError(err) }, 'chain-set checkpointer did not close cleanly'));
    await this.#replicaLag?.close().catch(() => undefined);
    await this.#capacity.close().catch(() => undefined);
    // 4
    await this.#checkpointer
      .close()
      .then(() => this.#checkpointPool.end())
      .catch(failed);
    // 3, 1
    this.#partitions.close();
    const result: StopResult = failures[0] ?? (this.#aborted ? { committed: false } : { committed: true, headSeq: this.#writer.head.seq });
    if (result.committed) log.info({ headSeq: result.headSeq }, 'shutdown complete; every received event is committed');
    await this.release();
    return result;
  }

  /**
   * 8, 7, 9: the monitor's timers stop; RELP reads nothing more (what it read is committed and
   * acknowledged, then serverclose); the TLS listener keeps reading for the grace period; the
   * monitor writes its open episodes' summaries; the writer commits everything (rejecting with
   * EventsNotCommittedError when it had failed). RELP and metrics close only after the last commit:
   * each commit sends its RELP acks as it happens.
   */
  async #stopIntakeAndCommit(): Promise<void> {
    // A forced stop came during the drain delay: it counted what it held; reading on would add
    // frames nobody counts.
    if (this.#aborted) return;
    const writer = this.#writer;
    this.#monitor.close();
    this.#relp?.stopReading();
    // Keep committing while the peers' last bytes come in: resume if backpressure had paused them
    // (not after a writer failure: nothing read now could be committed).
    if (!writer.fatalError) this.#listener.resume();
    try {
      await this.#listener.close(this.cfg.shutdownGraceMs);
      await this.#pool?.close();
      // A forced stop came meanwhile: it counted what was held; nothing more is queued or committed.
      if (this.#aborted) return;
      if (!writer.fatalError) this.#monitor.flush();
      await writer.close();
    } finally {
      await this.#relp?.close(this.cfg.shutdownGraceMs);
      await this.#metricsServer.close();
    }
  }

  /**
   * The forced stop: reads nothing more and returns how many received events were not committed.
   * The caller reports that number, then calls release().
   */
  async abort(): Promise<number> {
    this.#shuttingDown = true;
    this.#aborted = true;
    this.#monitor.close();
    // Read nothing more: a frame read after the count would be lost without being counted.
    this.#listener.pause();
    this.#relp?.stopReading();
    const lost = (this.#pool?.abort() ?? 0) + (await this.#writer.abort());
    await this.#metricsServer.close();
    return lost;
  }

  /**
   * After a failed start: closes whatever had started (ports, timers, threads, pools), so that the
   * process exits with the error instead of running on half started. The TLS port opens last, so it
   * was not accepting frames; RELP frames are unacknowledged until COMMIT. Whatever was held anyway
   * is counted and logged, never dropped in silence.
   */
  async #abandon(): Promise<void> {
    this.#shuttingDown = true;
    this.#aborted = true;
    const quietly = async (close: (() => unknown) | undefined): Promise<void> => {
      try {
        await close?.();
      } catch {
        // best effort: the start's own error is the one reported
      }
    };
    await quietly(this.#console && (() => this.#console!.close()));
    await quietly(this.#verifier && (() => this.#verifier!.stop()));
    await quietly(this.#metricsServer && (() => this.#metricsServer.close()));
    await quietly(this.#listener && (() => this.#listener.close(0)));
    await quietly(this.#relp && (() => this.#relp!.close(0)));
    let lost = 0;
    await quietly(() => (lost += this.#pool?.abort() ?? 0));
    await quietly(() => this.#monitor?.close());
    await quietly(async () => (lost += this.#writer ? await this.#writer.abort() : 0));
    if (lost > 0) this.log.error({ notCommitted: lost }, 'start failed with frames received and not committed (RELP senders resend theirs)');
    await quietly(this.#chainSets && (() => this.#chainSets!.close()));
    await quietly(this.#replicaLag && (() => this.#replicaLag!.close()));
    await quietly(this.#capacity && (() => this.#capacity.close()));
    await quietly(this.#checkpointer && (() => this.#checkpointer.close()));
    await quietly(this.#checkpointPool && (() => this.#checkpointPool.end()));
    this.#partitions?.close();
  }

  /** 1: stops the embedded PostgreSQL this process started (once, whichever stop gets here first). */
  release(): Promise<void> {
    this.#released ??= this.#database.release().then(() => {
      if (this.#database.source === 'embedded-started') this.log.info({ dataDir: this.#database.embedded?.dataDir }, 'embedded PostgreSQL stopped');
    });
    return this.#released;
  }
}
