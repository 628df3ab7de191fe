/**
 * `syslog-ledger serve`: parses the options into a ServerConfig, starts the Server (src/server.ts,
 * which owns every component) and turns signals into its stop, forced stop and reload.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { bool, durationMs, helpText, hostPort, int, list, oneOf, parseOptions, readNameList, requireStr, str, type OptionSpecs, type OptionValues } from '../config.js';
import { CONSOLE_OPTIONS, consoleConfig } from '../console/config.js';
import { loadDetectionConfig } from '../detect/config.js';
import { ConfigError, describeError } from '../errors.js';
import { parseHostBindings } from '../listener/limits.js';
import { PROXY_VERSIONS } from '../listener/proxy-header.js';
import { trustedProxyList, type ProxyProtocolOptions } from '../listener/proxy-protocol.js';
import type { TlsPaths } from '../listener/tls-files.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.js';
import { FORMAT_OPTIONS } from '../parsing/types.js';
import { isValidTimeZone } from '../parsing/timestamp.js';
import { loadRedactionConfig } from '../redact/config.js';
import { PARTITION_INTERVALS } from '../retention/partitions.js';
import { Server, type ServerConfig } from '../server.js';

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
  'read-database-url': { type: 'string', arg: 'URL', help: "a streaming replica: the console and the detections' rebuild read there, and its lag is a metric; writes (the console's access records too) stay on --database-url" },
  'data-dir': { type: 'string', default: './data', arg: 'DIR', help: 'embedded database, its URL record, checkpoints' },
  'tls-cert': { type: 'string', default: DEFAULT_CERTS.cert, arg: 'FILE', help: 'server certificate (PEM)' },
  'tls-key': { type: 'string', default: DEFAULT_CERTS.key, arg: 'FILE', help: 'server private key (PEM)' },
  'tls-ca': { type: 'string', default: DEFAULT_CERTS.ca, arg: 'FILE', help: 'CA that signs client certificates (PEM)' },
  'tls-crl': { type: 'string', arg: 'FILE', help: 'certificate revocation list (PEM), checked on every handshake' },
  'allow-peer': { type: 'string', multiple: true, arg: 'PATTERN', help: 'allowed client CN/SAN, * wildcards; unset: any CA-signed client' },
  'allow-peer-file': { type: 'string', arg: 'FILE', help: 'more --allow-peer patterns, one a line (# comments); re-read on SIGHUP' },
  'signing-key': { type: 'string', default: './certs/ledger-signing.key', arg: 'FILE', help: 'Ed25519 key that signs checkpoints (created if absent)' },
  'checkpoint-file': { type: 'string', default: './data/checkpoints.jsonl', arg: 'FILE', help: 'signed chain heads, appended and fsynced' },
  'chain-set-interval': { type: 'string', default: '1s', arg: 'DURATION', help: 'sign every chain head this often, by one instance of all those on this ledger (the one holding the chain-set lock), so that verify shows no chain was dropped (0: off)' },
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
  // 1: on 2 cores shared with PostgreSQL, more throughput and a smaller RSS than 0, and 2 only adds
  // CPU (docs/performance.md "Stage workers").
  workers: { type: 'string', default: '1', arg: 'N', help: 'stage worker threads (parse, normalize, redact, canonical form); 0: on the main thread' },
  // Why so small: a queued event costs a few KB of heap on top of its raw bytes, so the queue is
  // most of the server's memory under load and during an outage, and a longer queue buys no
  // throughput (the writer pipelines two batches; more only lengthens the wait). The figures are in
  // docs/operations.md "Memory" (test/resilience/memory.test.ts, bench/run.ts).
  'queue-max-events': { type: 'string', default: '5000', arg: 'N', help: 'writer queue bound; over it, sockets pause' },
  'queue-max-bytes': { type: 'string', default: '16MiB', arg: 'BYTES', help: 'writer queue bound in bytes held (queued records, COPY in flight, frames in the stage workers)' },
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
  const allowPeerFile = str(values, 'allow-peer-file');
  const allowPeers = (): string[] => [...list(values, 'allow-peer'), ...(allowPeerFile ? readPatternFile(allowPeerFile) : [])];
  const expectSourcesFile = str(values, 'expect-sources-file');
  const expectSources = (): string[] => [...new Set([...list(values, 'expect-source'), ...(expectSourcesFile ? readNameList('--expect-sources-file', expectSourcesFile) : [])])];
  const detectionsFile = str(values, 'detections');
  const chainSetIntervalMs = durationMs(values, 'chain-set-interval');
  const rateLimit = int(values, 'rate-limit', 0);
  const usingDefaultCerts = tlsPaths.cert === DEFAULT_CERTS.cert && tlsPaths.key === DEFAULT_CERTS.key && tlsPaths.ca === DEFAULT_CERTS.ca;
  const cfg: ServerConfig = {
    listen: hostPort(values, 'listen'),
    metricsListen: hostPort(values, 'metrics'),
    databaseUrl: str(values, 'database-url'),
    readDatabaseUrl: str(values, 'read-database-url'),
    dataDir: resolve(requireStr(values, 'data-dir')),
    chain: str(values, 'chain') ?? hostname(),
    tlsPaths,
    // A fresh machine: a dev PKI so that `npm start` works with no setup.
    ...(usingDefaultCerts && !bool(values, 'no-dev-pki') ? { devPkiDir: './certs' } : {}),
    allowPeers: allowPeers(),
    format: oneOf(values, 'format', FORMAT_OPTIONS),
    timeZone: validTimeZone(requireStr(values, 'time-zone')),
    maxFrameBytes: int(values, 'max-frame-size', 64, 64 << 20),
    maxConnections: int(values, 'max-connections', 1, 1_000_000),
    maxConnectionsPerPeer: int(values, 'max-connections-per-peer', 1, 1_000_000),
    ratePerPeer: rateLimit,
    burstPerPeer: str(values, 'rate-burst') ? int(values, 'rate-burst', 1) : Math.max(1, rateLimit * 2),
    hostBindings: parseHostBindings(list(values, 'host-binding'), (entry) => {
      throw new ConfigError('--host-binding', `expects PEER=HOST[,HOST...], got "${entry}"`);
    }),
    handshakeTimeoutMs: durationMs(values, 'handshake-timeout', 100),
    idleTimeoutMs: durationMs(values, 'idle-timeout', 1000),
    batchMaxEvents: int(values, 'batch-size', 1, 100_000),
    workers: int(values, 'workers', 0, 64),
    queueMaxEvents: int(values, 'queue-max-events', 1, 10_000_000),
    queueMaxBytes: int(values, 'queue-max-bytes', 1024),
    drainDelayMs: durationMs(values, 'drain-delay'),
    shutdownGraceMs: durationMs(values, 'shutdown-grace'),
    expectSources: expectSources(),
    silenceThresholdSec: durationMs(values, 'silence-threshold', 1000) / 1000,
    learnWindowSec: durationMs(values, 'learn-sources') / 1000,
    stallThresholdSec: durationMs(values, 'stall-threshold', 1000) / 1000,
    maxFindingsPerMinute: int(values, 'max-findings-per-minute', 1, 1_000_000),
    findingSummaryIntervalMs: durationMs(values, 'finding-summary-interval', 1000),
    partitionInterval: oneOf(values, 'partition-interval', PARTITION_INTERVALS),
    hotWindowMs: durationMs(values, 'hot-window'),
    signingKeyPath: resolve(requireStr(values, 'signing-key')),
    checkpointFile: resolve(requireStr(values, 'checkpoint-file')),
    ...(chainSetIntervalMs > 0 ? { chainSets: { intervalMs: chainSetIntervalMs, file: resolve(requireStr(values, 'chain-set-file')) } } : {}),
    verifyIntervalMs: durationMs(values, 'verify-interval'),
    // Both rule files are read before anything starts, so a mistake in them stops serve at once.
    redaction: loadRedactionConfig(str(values, 'redaction-rules')),
    redactionKeyPath: resolve(requireStr(values, 'redaction-key')),
    ...(detectionsFile === undefined ? {} : { detections: loadDetectionConfig(detectionsFile) }),
    ...proxyOptions(values),
    ...(str(values, 'relp-listen') ? { relp: { ...hostPort(values, 'relp-listen'), maxDataBytes: int(values, 'relp-max-data', 64, 64 << 20) } } : {}),
    // Checked before anything starts: a non-loopback console without client certificates is refused.
    console: consoleConfig(values),
  };
  const shutdownTimeoutMs = durationMs(values, 'shutdown-timeout', 100);
  if (cfg.learnWindowSec > 0 && cfg.learnWindowSec <= cfg.silenceThresholdSec) {
    throw new ConfigError('--learn-sources', `must be longer than --silence-threshold (${cfg.silenceThresholdSec} s), or 0, got ${cfg.learnWindowSec} s`);
  }

  const server = await Server.start(cfg, log);
  const exitCode = await new Promise<number>((resolveExit) => {
    let stopping = false;
    let stopAt = 0;
    const forced = (message: string, fields: Record<string, unknown>): void => {
      void server.abort().then((lost) => {
        log.error({ ...fields, notCommitted: lost }, message);
        resolveExit(1);
      });
    };
    const onStop = (signal: string): void => {
      if (stopping && signal !== 'writer-failure' && Date.now() - stopAt < REPEATED_SIGNAL_MS) {
        // One stop, delivered twice: `kill -TERM` to npm start's process group (systemd, a
        // terminal's Ctrl-C) reaches node directly and again through npm, which forwards it.
        log.info({ signal }, `repeated ${signal} within ${REPEATED_SIGNAL_MS} ms: the same stop, still committing`);
        return;
      }
      if (stopping) {
        forced('second signal: forced exit', { signal });
        return;
      }
      stopping = true;
      stopAt = Date.now();
      log.info({ signal, pending: server.pendingEvents }, 'shutting down: committing everything received');
      const timer = setTimeout(() => forced('shutdown timed out: forced exit', { timeoutMs: shutdownTimeoutMs }), shutdownTimeoutMs);
      void server.stop().then((result) => {
        clearTimeout(timer);
        resolveExit(result.committed ? 0 : 1);
      });
    };
    process.on('SIGTERM', () => onStop('SIGTERM'));
    process.on('SIGINT', () => onStop('SIGINT'));
    // Reload: new connections use the new files, open connections stay up. Everything is read
    // and checked first; anything broken refuses the whole reload and the old configuration stays.
    let reloading = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        try {
          const allow = allowPeers();
          const expect = expectSources();
          const { tls, closedConnections } = await server.reload(allow, expect);
          log.info(
            { serverSerial: tls.serverSerial, serverNotAfter: new Date(tls.serverNotAfter * 1000).toISOString(), crlEntries: tls.crlEntries ?? null, allowPeers: allow.length, closedConnections, configuredSources: expect.length },
            'SIGHUP: reloaded certificate, key, CA, CRL and allowlist',
          );
        } catch (err) {
          log.error({ err: describeError(err) }, 'SIGHUP: reload refused; the old TLS configuration and allowlist stay');
        }
      });
    });
    server.onWriterFailed(() => onStop('writer-failure'));
    // Only now, with the signal handlers in place: a supervisor that sends SIGTERM as soon as it
    // reads this line must get a clean stop, not the default action (death, and an orphaned
    // embedded PostgreSQL).
    const { listenAddress, relpAddress, metricsAddress, consoleAddress } = server;
    log.info(
      {
        listen: `${listenAddress.address}:${listenAddress.port}`,
        ...(relpAddress ? { relpListen: `${relpAddress.address}:${relpAddress.port}` } : {}),
        metrics: `${metricsAddress.address}:${metricsAddress.port}`,
        chain: cfg.chain,
        headSeq: server.headSeq,
        ...(consoleAddress ? { console: `${consoleAddress.address}:${consoleAddress.port}` } : {}),
      },
      'syslog-ledger serving',
    );
  });
  await server.release();
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

/** A zone the parsers take (IANA name, UTC, or a fixed ±hh:mm offset), else a stop naming the option. */
function validTimeZone(tz: string): string {
  if (!isValidTimeZone(tz)) throw new ConfigError('--time-zone', `unknown time zone "${tz}"`);
  return tz;
}
