/** `syslog-ledger serve`: run the listener, writer and metrics until SIGTERM/SIGINT. */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { bool, durationMs, helpText, hostPort, int, list, oneOf, parseOptions, readNameList, requireStr, str, type OptionSpecs, type OptionValues } from '../config.js';
import { ConfigError, describeError, EventsNotCommittedError } from '../errors.js';
import { migrate } from '../db/migrate.js';
import { embeddedPasswordFile, maskUrlPassword, withoutPassword } from '../db/embedded.js';
import { resolveDatabase } from '../db/resolve.js';
import { startReplicaLagMonitor, waitForReplay } from '../db/replica.js';
import { startCapacityMonitor } from '../monitoring/capacity.js';
import { parseHostBindings } from '../listener/limits.js';
import { PROXY_VERSIONS } from '../listener/proxy-header.js';
import { trustedProxyList, type ProxyProtocolOptions } from '../listener/proxy-protocol.js';
import { loadTlsMaterial, type TlsPaths } from '../listener/tls-files.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { startPipeline, type PipelineConfig } from '../pipeline.js';
import { Metrics } from '../metrics/registry.js';
import { FORMAT_OPTIONS } from '../parsing/types.js';
import { createDevPki } from '../pki/devpki.js';
import { certificateNames, clientNameSettings } from '../pki/names.js';
import pg from 'pg';
import { Checkpointer } from '../checkpoints/checkpointer.js';
import { ChainSetCheckpointer } from '../checkpoints/chain-set.js';
import { IncrementalVerifier } from '../verify/incremental.js';
import { loadOrCreateSigningKey } from '../checkpoints/signing.js';
import { loadDetectionConfig } from '../detect/config.js';
import { Detector } from '../detect/detector.js';
import { loadRedactionConfig } from '../redact/config.js';
import { loadOrCreateRedactionKey } from '../redact/key.js';
import { Redactor } from '../redact/redactor.js';
import { PARTITION_INTERVALS, startPartitionMaintenance } from '../retention/partitions.js';
import { CONSOLE_OPTIONS, consoleConfig } from '../console/config.js';
import { startConsole, type ConsoleServer } from '../console/server.js';

export const DEFAULT_CERTS = {
  cert: './certs/server.pem',
  key: './certs/server-key.pem',
  ca: './certs/ca.pem',
} as const;

export const SERVE_OPTIONS = {
  listen: { type: 'string', default: '0.0.0.0:6514', arg: 'HOST:PORT', help: 'syslog over TLS (RFC 5425) listener' },
  'relp-listen': { type: 'string', arg: 'HOST:PORT', help: 'RELP over TLS (acknowledged after COMMIT; same CA, CRL, allowlist), conventionally 0.0.0.0:2514; unset: off' },
  'proxy-protocol': { type: 'string', arg: PROXY_VERSIONS.join('|'), help: 'read a PROXY protocol header (HAProxy send-proxy-v2) before TLS from --trusted-proxy sources, on both listeners; unset: off' },
  'trusted-proxy': { type: 'string', multiple: true, arg: 'CIDR', help: 'balancer addresses whose PROXY headers are believed (required with --proxy-protocol); others connect directly' },
  'relp-max-data': { type: 'string', default: '128KiB', arg: 'BYTES', help: 'RELP DATALEN over this is read through and stored cut, flagged truncated' },
  metrics: { type: 'string', default: '127.0.0.1:9464', arg: 'HOST:PORT', help: '/metrics, /healthz, /readyz' },
  'database-url': { type: 'string', arg: 'URL', help: 'PostgreSQL URL; unset: embedded PostgreSQL in DATA_DIR/postgres' },
  'read-database-url': { type: 'string', arg: 'URL', help: "a streaming replica: the detections' rebuild reads there, and its lag is a metric; writes stay on --database-url" },
  'data-dir': { type: 'string', default: './data', arg: 'DIR', help: 'embedded database, its URL record, checkpoints' },
  'tls-cert': { type: 'string', default: DEFAULT_CERTS.cert, arg: 'FILE', help: 'server certificate (PEM)' },
  'tls-key': { type: 'string', default: DEFAULT_CERTS.key, arg: 'FILE', help: 'server private key (PEM)' },
  'tls-ca': { type: 'string', default: DEFAULT_CERTS.ca, arg: 'FILE', help: 'CA that signs client certificates (PEM)' },
  'tls-crl': { type: 'string', arg: 'FILE', help: 'certificate revocation list (PEM), checked on every handshake' },
  'allow-peer': { type: 'string', multiple: true, arg: 'PATTERN', help: 'allowed client CN/SAN, * wildcards; unset: any CA-signed client' },
  'allow-peer-file': { type: 'string', arg: 'FILE', help: 'more --allow-peer patterns, one a line (# comments); re-read on SIGHUP' },
  'signing-key': { type: 'string', default: './certs/ledger-signing.key', arg: 'FILE', help: 'Ed25519 key that signs checkpoints (created if absent)' },
  'checkpoint-file': { type: 'string', default: './data/checkpoints.jsonl', arg: 'FILE', help: 'signed chain heads, appended and fsynced' },
  'chain-set-interval': { type: 'string', default: '0', arg: 'DURATION', help: 'several servers on one ledger: sign every chain head this often (1s), one instance at a time, so that verify shows no chain was dropped (0: off)' },
  'chain-set-file': { type: 'string', default: './data/chain-sets.jsonl', arg: 'FILE', help: 'chain-set checkpoints this instance signed, appended (the copy outside the database)' },
  format: { type: 'string', default: 'auto', arg: FORMAT_OPTIONS.join('|'), help: 'frame format; auto detects per frame' },
  chain: { type: 'string', arg: 'NAME', help: 'the chain this process writes (default: the host name)' },
  'time-zone': { type: 'string', default: 'UTC', arg: 'TZ', help: 'zone of RFC 3164 timestamps, which carry none' },
  'expect-source': { type: 'string', multiple: true, arg: 'NAME', help: 'a source that must keep sending, even if never seen (silent-source alert)' },
  'expect-sources-file': { type: 'string', arg: 'FILE', help: 'inventory of sources that must send, one name a line (# comments); re-read on SIGHUP' },
  'learn-sources': { type: 'string', default: '7d', arg: 'DURATION', help: 'every peer and HOSTNAME that sent within this window is expected (0: off)' },
  'silence-threshold': { type: 'string', default: '300s', arg: 'DURATION', help: 'an expected source is silent after this long' },
  'stall-threshold': { type: 'string', default: '60s', arg: 'DURATION', help: 'events received but not committed this long: pipeline stalled' },
  'max-findings-per-minute': { type: 'string', default: '60', arg: 'N', help: 'rows the server writes of its own (findings, detections, summaries) per source per minute; the rest are counted' },
  'finding-summary-interval': { type: 'string', default: '5m', arg: 'DURATION', help: 'a summary of each finding episode still going on, this often' },
  'max-frame-size': { type: 'string', default: '64KiB', arg: 'BYTES', help: 'longer frames are cut, flagged and counted' },
  'max-connections': { type: 'string', default: '2000', arg: 'N', help: 'connections at once, in total' },
  'max-connections-per-peer': { type: 'string', default: '50', arg: 'N', help: 'connections at once from one certificate identity' },
  'rate-limit': { type: 'string', default: '0', arg: 'EVENTS/S', help: 'per-peer rate; over it the peer is slowed, never dropped (0: unlimited)' },
  'rate-burst': { type: 'string', arg: 'EVENTS', help: 'events a peer may send above --rate-limit at once (default: 2 s worth)' },
  'host-binding': { type: 'string', multiple: true, arg: 'PEER=HOST[,HOST]', help: 'HOSTNAMEs a certificate CN/SAN may claim, * wildcards; others are flagged hostname_mismatch' },
  'handshake-timeout': { type: 'string', default: '10s', arg: 'DURATION', help: 'TLS handshake must finish within' },
  'idle-timeout': { type: 'string', default: '15m', arg: 'DURATION', help: 'close a connection silent this long' },
  'batch-size': { type: 'string', default: '1000', arg: 'N', help: 'most events per ledger transaction' },
  // 1: measured best on 2 cores shared with PostgreSQL (docs/performance.md "Stage workers"; bench/results/2026-12-07-issue22-workers.json).
  workers: { type: 'string', default: '1', arg: 'N', help: 'stage worker threads (parse, normalize, redact, canonical form); 0: on the main thread' },
  // Measured (test/resilience/memory.test.ts, bench/run.ts; docs/operations.md): a queued event costs
  // ~3 KB of heap plus ~4x its raw bytes; 50,000 / 64 MiB held ~300 MB live during an outage (4 KB
  // frames). 5,000 events and batches of 1,000: server RSS at full load 460-474 -> 276-331 MB, same
  // throughput (the writer pipelines two batches; a smaller one only shortens the wait).
  'queue-max-events': { type: 'string', default: '5000', arg: 'N', help: 'writer queue bound; over it, sockets pause' },
  'queue-max-bytes': { type: 'string', default: '8MiB', arg: 'BYTES', help: 'writer queue bound in raw bytes' },
  'shutdown-timeout': { type: 'string', default: '30s', arg: 'DURATION', help: 'graceful shutdown limit before a forced exit' },
  'drain-delay': { type: 'string', default: '0s', arg: 'DURATION', help: 'after SIGTERM, answer /readyz 503 this long before closing the listeners (behind a balancer: a few health-check intervals)' },
  'shutdown-grace': { type: 'string', default: '2s', arg: 'DURATION', help: 'how long to keep reading from peers after SIGTERM' },
  'hot-window': { type: 'string', default: '0', arg: 'DURATION', help: 'the hot window of your archive policy (archive --hot): syslog_ledger_archive_overdue_seconds counts from a partition\'s end plus this (0: not tracked)' },
  'partition-interval': { type: 'string', default: 'daily', arg: PARTITION_INTERVALS.join('|'), help: 'ledger partitions by receive time, created ahead (docs/retention.md)' },
  detections: { type: 'string', arg: 'FILE', help: 'detection rules and thresholds (JSON, docs/detections.md; {} for the defaults); unset: no detections' },
  'redaction-rules': { type: 'string', arg: 'FILE', help: 'redaction rules (JSON, docs/redaction.md); unset: every built-in rule, for every source' },
  'redaction-key': { type: 'string', default: './certs/ledger-redaction.key', arg: 'FILE', help: 'HMAC key kept for the originals of redacted frames (created if absent)' },
  'verify-interval': { type: 'string', default: '10m', arg: 'DURATION', help: 'verify the rows committed since the last verification this often, recorded in the ledger and metrics (0: never)' },
  'log-level': { type: 'string', default: 'info', arg: LOG_LEVELS.join('|'), help: 'operational log level' },
  'no-dev-pki': { type: 'boolean', help: 'do not create a dev PKI in ./certs when the default certificate files are missing' },
  ...CONSOLE_OPTIONS,
} as const satisfies OptionSpecs;

/** A repeat of a stop signal within this long is the same stop (npm forwards what the group already got). */
export const REPEATED_SIGNAL_MS = 1000;

export const SERVE_HELP = helpText('syslog-ledger serve [options]', 'Run the server: mTLS syslog listener, ledger writer and metrics.', SERVE_OPTIONS);

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, SERVE_OPTIONS);
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const log = createLogger(oneOf(values, 'log-level', LOG_LEVELS) as LogLevel);
  const tlsPaths: TlsPaths = {
    cert: requireStr(values, 'tls-cert'),
    key: requireStr(values, 'tls-key'),
    ca: requireStr(values, 'tls-ca'),
    crl: str(values, 'tls-crl'),
  };
  const cfgBase = {
    listen: hostPort(values, 'listen'),
    metricsListen: hostPort(values, 'metrics'),
    chain: str(values, 'chain') ?? hostname(),
    allowPeers: list(values, 'allow-peer'),
    format: oneOf(values, 'format', FORMAT_OPTIONS),
    timeZone: validTimeZone(requireStr(values, 'time-zone')),
    maxFrameBytes: int(values, 'max-frame-size', 64, 64 << 20),
    maxConnections: int(values, 'max-connections', 1, 1_000_000),
    maxConnectionsPerPeer: int(values, 'max-connections-per-peer', 1, 1_000_000),
    ratePerPeer: int(values, 'rate-limit', 0),
    burstPerPeer: str(values, 'rate-burst') ? int(values, 'rate-burst', 1) : Math.max(1, int(values, 'rate-limit', 0) * 2),
    hostBindings: parseHostBindings(list(values, 'host-binding'), (entry) => {
      throw new ConfigError('--host-binding', `expects PEER=HOST[,HOST...], got "${entry}"`);
    }),
    handshakeTimeoutMs: durationMs(values, 'handshake-timeout', 100),
    idleTimeoutMs: durationMs(values, 'idle-timeout', 1000),
    batchMaxEvents: int(values, 'batch-size', 1, 100_000),
    workers: int(values, 'workers', 0, 64),
    queueMaxEvents: int(values, 'queue-max-events', 1, 10_000_000),
    queueMaxBytes: int(values, 'queue-max-bytes', 1024),
    shutdownGraceMs: durationMs(values, 'shutdown-grace'),
    expectSources: list(values, 'expect-source'),
    silenceThresholdSec: durationMs(values, 'silence-threshold', 1000) / 1000,
    learnWindowSec: durationMs(values, 'learn-sources') / 1000,
    stallThresholdSec: durationMs(values, 'stall-threshold', 1000) / 1000,
    maxFindingsPerMinute: int(values, 'max-findings-per-minute', 1, 1_000_000),
    findingSummaryIntervalMs: durationMs(values, 'finding-summary-interval', 1000),
    ...proxyOptions(values),
    ...(str(values, 'relp-listen') ? { relp: { ...hostPort(values, 'relp-listen'), maxDataBytes: int(values, 'relp-max-data', 64, 64 << 20) } } : {}),
  };
  const shutdownTimeoutMs = durationMs(values, 'shutdown-timeout', 100);
  const drainDelayMs = durationMs(values, 'drain-delay');
  const chainSetIntervalMs = durationMs(values, 'chain-set-interval');
  const hotWindowMs = durationMs(values, 'hot-window');
  const verifyIntervalMs = durationMs(values, 'verify-interval');
  // Read both rule files before anything starts, so a mistake in them stops serve at once.
  const redactionConfig = loadRedactionConfig(str(values, 'redaction-rules'));
  const detectionsFile = str(values, 'detections');
  const detectionConfig = detectionsFile === undefined ? undefined : loadDetectionConfig(detectionsFile);
  const dataDir = resolve(requireStr(values, 'data-dir'));
  // Checked before anything starts: a non-loopback console without client certificates is refused.
  const consoleCfg = consoleConfig(values);

  // A fresh machine: make a dev PKI so that `npm start` works with no setup.
  const usingDefaults = tlsPaths.cert === DEFAULT_CERTS.cert && tlsPaths.key === DEFAULT_CERTS.key && tlsPaths.ca === DEFAULT_CERTS.ca;
  if (usingDefaults && !bool(values, 'no-dev-pki') && ![tlsPaths.cert, tlsPaths.key, tlsPaths.ca].some((f) => existsSync(f))) {
    const pki = await createDevPki({ dir: './certs' });
    log.warn({ dir: resolve('./certs') }, 'no certificates found: created a DEVELOPMENT PKI (CA, server, client). Use your own CA in production.');
    console.error(
      `\nDevelopment PKI created in ${resolve('./certs')}. A client connects with:\n` +
        `  openssl s_client -connect localhost:${cfgBase.listen.port} -cert ${pki.client} -key ${pki.clientKey} -CAfile ${pki.ca}\n` +
        `Issue a certificate for another host: npx syslog-ledger certs --issue HOSTNAME --ca-dir ./certs --out ./issued\n\n` +
        clientNameSettings(certificateNames(await readFile(pki.server))),
    );
  }
  const tlsMaterial = await loadTlsMaterial(tlsPaths);
  const allowPeerFile = str(values, 'allow-peer-file');
  const allowPeers = (): string[] => [...cfgBase.allowPeers, ...(allowPeerFile ? readPatternFile(allowPeerFile) : [])];
  const startAllow = allowPeers();
  if (cfgBase.learnWindowSec > 0 && cfgBase.learnWindowSec <= cfgBase.silenceThresholdSec) {
    throw new ConfigError('--learn-sources', `must be longer than --silence-threshold (${cfgBase.silenceThresholdSec} s), or 0, got ${cfgBase.learnWindowSec} s`);
  }
  const expectSourcesFile = str(values, 'expect-sources-file');
  const expectSources = (): string[] => [...new Set([...cfgBase.expectSources, ...(expectSourcesFile ? readNameList('--expect-sources-file', expectSourcesFile) : [])])];
  const startExpect = expectSources();

  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir, record: true });
  let exitCode = 0;
  try {
    if (db.source !== 'url') {
      // The password stays in its 0600 file: no log line holds it.
      const psql = `PGPASSFILE=${embeddedPasswordFile(join(dataDir, 'postgres'))} psql '${withoutPassword(db.url)}'`;
      log.info({ url: maskUrlPassword(db.url), source: db.source }, `embedded PostgreSQL: ${psql}`);
      console.error(`Ledger database (embedded PostgreSQL): ${psql}`);
    }
    const migrated = await migrate(db.url);
    if (migrated.applied.length) log.info({ applied: migrated.applied }, 'migrations applied');
    // Partitions for today and ahead, then every 6 h; rows never wait for one (DEFAULT partition).
    await startPartitionMaintenance({ databaseUrl: db.url, interval: oneOf(values, 'partition-interval', PARTITION_INTERVALS), log });

    const metrics = new Metrics();
    let redactor: Redactor | undefined;
    if (redactionConfig.enabled) {
      const redactionKeyPath = resolve(requireStr(values, 'redaction-key'));
      const redactionKey = await loadOrCreateRedactionKey(redactionKeyPath);
      if (redactionKey.created) log.warn({ file: redactionKeyPath, keyId: redactionKey.keyId }, 'created a new redaction HMAC key; keep it secret and backed up (docs/redaction.md)');
      redactor = new Redactor(redactionConfig, redactionKey, metrics);
    }
    const detector = detectionConfig === undefined ? undefined : new Detector({ config: detectionConfig, metrics, log: log.child({ stage: 'detect' }), summaryIntervalMs: cfgBase.findingSummaryIntervalMs });
    const cfg: PipelineConfig = { ...cfgBase, allowPeers: startAllow, expectSources: startExpect, databaseUrl: db.url, tls: tlsMaterial, redactor, detector };

    // Signed checkpoints: the signing key lives outside the database; heads go to the DB and a file.
    const signingKeyPath = resolve(requireStr(values, 'signing-key'));
    const key = await loadOrCreateSigningKey(signingKeyPath);
    if (key.created) {
      log.warn({ file: signingKeyPath, keyId: key.keyId }, 'created a new Ed25519 checkpoint signing key; production keys belong in a KMS/HSM (docs/integrity.md). Verifiers need only the .pub');
    }
    const cpPool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'syslog-ledger checkpointer' });
    cpPool.on('error', (err) => log.warn({ err: describeError(err) }, 'checkpointer connection error'));
    const checkpointer = new Checkpointer({ key, file: resolve(requireStr(values, 'checkpoint-file')), metrics, log: log.child({ stage: 'checkpointer' }) });
    await checkpointer.init(cpPool, { chains: [cfg.chain] });
    const readUrl = str(values, 'read-database-url');
    if (detector !== undefined) {
      // Before the writer starts: the replayed rows all come before the first live one. On the
      // replica when given, once it has replayed everything the primary has (src/db/replica.ts).
      const readPool = readUrl ? new pg.Pool({ connectionString: readUrl, max: 1, application_name: 'syslog-ledger detections rebuild' }) : undefined;
      if (readUrl) await waitForReplay(db.url, readUrl);
      const rebuilt = await detector.rebuildFromLedger(readPool ?? cpPool, cfg.chain).finally(() => readPool?.end());
      log.info({ ...rebuilt, chain: cfg.chain }, 'detections: state rebuilt from the ledger');
    }
    checkpointer.start();
    const capacity = startCapacityMonitor({ url: db.url, metrics, log: log.child({ stage: 'capacity' }), hotWindowMs });
    const replicaLag = readUrl ? startReplicaLagMonitor({ url: readUrl, metrics, log: log.child({ stage: 'replica' }) }) : undefined;
    const chainSets = chainSetIntervalMs > 0 ? new ChainSetCheckpointer({ pool: cpPool, key, log: log.child({ stage: 'chain-set' }), intervalMs: chainSetIntervalMs, file: resolve(requireStr(values, 'chain-set-file')) }) : undefined;
    chainSets?.start();
    // Called synchronously per commit (no await before it), so Merkle appends keep commit order.
    const pipeline = await startPipeline(cfg, metrics, log, { onCommitted: (rows) => checkpointer.onCommitted(cfg.chain, rows) });
    // Incremental verification of this chain (src/verify/incremental.ts): a failure is an alert, never a stop.
    const verifier =
      verifyIntervalMs > 0
        ? new IncrementalVerifier({ databaseUrl: db.url, chain: cfg.chain, key: { publicKey: key.publicKey, keyId: key.keyId }, intervalMs: verifyIntervalMs, metrics, log: log.child({ stage: 'verify' }), enqueue: (r) => pipeline.writer.enqueue(r) })
        : undefined;
    verifier?.start();
    const webConsole: ConsoleServer | undefined =
      consoleCfg === undefined
        ? undefined
        : await startConsole({ config: consoleCfg, databaseUrl: db.url, tls: tlsMaterial, key, checkpointFile: resolve(requireStr(values, 'checkpoint-file')), silenceThresholdSec: cfg.silenceThresholdSec, expectSources: cfg.expectSources, log: log.child({ stage: 'console' }) });
    if (webConsole !== undefined) console.error(`Console: ${consoleCfg?.tokenGenerated || consoleCfg?.allow.length ? webConsole.loginUrl : webConsole.loginUrl.replace(/token=.*$/, 'token=<the token in --console-token-file>')}`);

    exitCode = await new Promise<number>((resolveExit) => {
      let stopping = false;
      let stopAt = 0;
      const onStop = (signal: string): void => {
        if (stopping && signal !== 'writer-failure' && Date.now() - stopAt < REPEATED_SIGNAL_MS) {
          // One stop, delivered twice: `kill -TERM` to npm start's process group (systemd, a
          // terminal's Ctrl-C) reaches node directly and again through npm, which forwards it.
          log.info({ signal }, `repeated ${signal} within ${REPEATED_SIGNAL_MS} ms: the same stop, still committing`);
          return;
        }
        if (stopping) {
          void pipeline.abort().then((lost) => {
            log.error({ signal, notCommitted: lost }, 'second signal: forced exit');
            resolveExit(1);
          });
          return;
        }
        stopping = true;
        stopAt = Date.now();
        log.info({ signal, pending: pipeline.writer.pendingEvents }, 'shutting down: committing everything received');
        const timer = setTimeout(() => {
          void pipeline.abort().then((lost) => {
            log.error({ notCommitted: lost, timeoutMs: shutdownTimeoutMs }, 'shutdown timed out: forced exit');
            resolveExit(1);
          });
        }, shutdownTimeoutMs);
        const failed = (err: unknown): void =>
          log.error({ err: describeError(err), ...(err instanceof EventsNotCommittedError ? { notCommitted: err.count } : {}) }, 'shutdown failed');
        // /readyz 503 first, so that a balancer stops sending new connections before the listeners close.
        pipeline.drain();
        void (async () => {
          let ok = true;
          if (drainDelayMs > 0) {
            log.info({ drainDelayMs }, 'draining: /readyz answers 503; listeners close after the drain delay');
            await new Promise((r) => setTimeout(r, drainDelayMs));
          }
          await verifier?.stop();
          await webConsole?.close();
          // The checkpointer and its pool close whatever happened before: a failed writer must not
          // leave the process hanging on them.
          await pipeline.shutdown().catch((err: unknown) => {
            ok = false;
            failed(err);
          });
          await replicaLag?.close().catch(() => undefined);
          await capacity.close().catch(() => undefined);
          await chainSets?.close().catch((err: unknown) => log.warn({ err: describeError(err) }, 'chain-set checkpointer did not close cleanly'));
          await checkpointer
            .close()
            .then(() => cpPool.end())
            .catch((err: unknown) => {
              ok = false;
              failed(err);
            });
          clearTimeout(timer);
          if (ok) log.info({ headSeq: pipeline.writer.head.seq }, 'shutdown complete; every received event is committed');
          resolveExit(ok ? 0 : 1);
        })();
      };
      process.on('SIGTERM', () => onStop('SIGTERM'));
      process.on('SIGINT', () => onStop('SIGINT'));
      // Reload: new connections use the new files, open connections stay up. Everything is read
      // and checked first; anything broken refuses the whole reload and the old configuration stays.
      let reloading = Promise.resolve();
      process.on('SIGHUP', () => {
        reloading = reloading.then(async () => {
          try {
            const material = await loadTlsMaterial(tlsPaths);
            const allow = allowPeers();
            const expect = expectSources();
            const closed = pipeline.listener.reload(material, allow) + (pipeline.relp?.reload(material, allow) ?? 0);
            pipeline.monitor.observeCertificates(material.cert, material.ca);
            pipeline.monitor.setExpectedSources(expect);
            webConsole?.reload(material, expect);
            log.info(
              { serverSerial: material.serverSerial, serverNotAfter: new Date(material.serverNotAfter * 1000).toISOString(), crlEntries: material.crlEntries ?? null, allowPeers: allow.length, closedConnections: closed, configuredSources: expect.length },
              'SIGHUP: reloaded certificate, key, CA, CRL and allowlist',
            );
          } catch (err) {
            log.error({ err: describeError(err) }, 'SIGHUP: reload refused; the old TLS configuration and allowlist stay');
          }
        });
      });
      pipeline.writer.on('error', () => onStop('writer-failure'));
      // Only now, with the signal handlers in place: a supervisor that sends SIGTERM as soon as it
      // reads this line must get a clean stop, not the default action (death, and an orphaned
      // embedded PostgreSQL).
      log.info(
        {
          listen: `${pipeline.listenAddress.address}:${pipeline.listenAddress.port}`,
          ...(pipeline.relpAddress ? { relpListen: `${pipeline.relpAddress.address}:${pipeline.relpAddress.port}` } : {}),
          metrics: `${pipeline.metricsAddress.address}:${pipeline.metricsAddress.port}`, chain: cfg.chain, headSeq: pipeline.writer.head.seq,
          ...(webConsole ? { console: `${webConsole.address.address}:${webConsole.address.port}` } : {}) },
        'syslog-ledger serving',
      );
    });
  } finally {
    await db.release();
    if (db.source === 'embedded-started') log.info({ dataDir: db.embedded?.dataDir }, 'embedded PostgreSQL stopped');
  }
  return exitCode;
}

/** `--proxy-protocol` and `--trusted-proxy`, checked together. */
function proxyOptions(values: OptionValues): { proxy?: ProxyProtocolOptions } {
  const version = str(values, 'proxy-protocol');
  const trusted = list(values, 'trusted-proxy');
  if (version === undefined) {
    if (trusted.length > 0) throw new ConfigError('--trusted-proxy', 'has no effect without --proxy-protocol v1|v2');
    return {};
  }
  const v = oneOf(values, 'proxy-protocol', PROXY_VERSIONS);
  if (trusted.length === 0) throw new ConfigError('--trusted-proxy', 'is required with --proxy-protocol (the balancers whose headers are believed)');
  trustedProxyList(trusted);
  return { proxy: { version: v, trustedProxies: trusted } };
}

/** `--allow-peer-file`: one pattern a line; blank lines and `#` comments skipped. */
function readPatternFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--allow-peer-file', `cannot read ${path}: ${(err as Error).message}`);
  }
  const patterns = text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.length > 0);
  // An empty allowlist means "any CA-signed client": never let an emptied file say that.
  if (patterns.length === 0) throw new ConfigError('--allow-peer-file', `${path} has no patterns (an empty allowlist would allow any client the CA signed)`);
  return patterns;
}

function validTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    throw new ConfigError('--time-zone', `unknown time zone "${tz}"`);
  }
}
