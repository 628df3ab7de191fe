/**
 * The server's configuration and the results of its lifecycle calls: what `src/cli/serve.ts` builds
 * from the options and what `Server` (src/server.ts) returns from stop() and reload().
 */
import type { ConsoleConfig } from './console/config.js';
import type { DetectionConfig } from './detect/config.js';
import type { HostBinding } from './listener/limits.js';
import type { ProxyProtocolOptions } from './listener/proxy-protocol.js';
import type { TlsMaterial, TlsPaths } from './listener/tls-files.js';
import type { FormatOption } from './parsing/types.js';
import type { RedactionConfig } from './redact/config.js';
import type { PartitionInterval } from './retention/partitions.js';

/** Everything the server needs, already validated (src/cli/serve.ts builds it from the options). */
export interface ServerConfig {
  readonly listen: { host: string; port: number };
  readonly metricsListen: { host: string; port: number };
  /** `--database-url`; unset: the embedded PostgreSQL in `dataDir`. */
  readonly databaseUrl?: string;
  /** `--read-database-url`: a streaming replica for the detections' rebuild, its lag a metric. */
  readonly readDatabaseUrl?: string;
  readonly dataDir: string;
  readonly chain: string;
  readonly tlsPaths: TlsPaths;
  /** Where to create a development PKI when none of `tlsPaths` exists (the defaults, without --no-dev-pki); unset: never. */
  readonly devPkiDir?: string;
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
  /** Stage worker threads (`--workers`, src/workers/); 0: the stages run on the main thread. */
  readonly workers: number;
  readonly queueMaxEvents: number;
  readonly queueMaxBytes: number;
  /** After stop(): /readyz answers 503 this long before the listeners close. */
  readonly drainDelayMs: number;
  /** How long the listeners keep reading from peers once they close. */
  readonly shutdownGraceMs: number;
  readonly expectSources: readonly string[];
  readonly silenceThresholdSec: number;
  /** `--learn-sources`, seconds (0: only `expectSources` are expected). */
  readonly learnWindowSec: number;
  readonly stallThresholdSec: number;
  /** `--max-findings-per-minute`: server rows per source per minute (src/monitoring/finding-budget.ts). */
  readonly maxFindingsPerMinute: number;
  /** `--finding-summary-interval`: summaries of episodes still going on, this often. */
  readonly findingSummaryIntervalMs: number;
  readonly partitionInterval: PartitionInterval;
  /** `--hot-window`: the archive-overdue metric counts from a partition's end plus this (0: not tracked). */
  readonly hotWindowMs: number;
  readonly signingKeyPath: string;
  readonly checkpointFile: string;
  /** Chain-set checkpoints (several servers on one ledger); unset: off. */
  readonly chainSets?: { readonly intervalMs: number; readonly file: string };
  /** Incremental verification this often (0: never). */
  readonly verifyIntervalMs: number;
  /** Secrets masked before storage (src/redact/); `enabled: false`: stored as received. */
  readonly redaction: RedactionConfig;
  readonly redactionKeyPath: string;
  /** Detections on committed rows (src/detect/); unset: none. */
  readonly detections?: DetectionConfig;
  /** RELP listener (src/relp/), acknowledged after COMMIT; unset: off. */
  readonly relp?: { readonly host: string; readonly port: number; readonly maxDataBytes: number };
  /** PROXY protocol from trusted balancers on both listeners (src/listener/proxy-protocol.ts); unset: off. */
  readonly proxy?: ProxyProtocolOptions;
  /** The web console (src/console/); unset: off. */
  readonly console?: ConsoleConfig;
}

/** How a graceful stop ended: every received event committed, or `notCommitted` of them not. */
export type StopResult = { readonly committed: true; readonly headSeq: number } | { readonly committed: false; readonly notCommitted?: number };

/** What SIGHUP re-reads: the TLS files, the allowlist and the inventory of expected sources. */
export interface ReloadResult {
  readonly tls: TlsMaterial;
  /** Open connections closed because their peer is no longer allowed. */
  readonly closedConnections: number;
}
