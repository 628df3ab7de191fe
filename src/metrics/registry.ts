import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one metrics registry. Names are part of the product's API (docs/metrics.md):
 * dashboards and alert rules depend on them, so they never change silently.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly framesReceived = new Counter({
    name: 'syslog_ledger_frames_received_total',
    help: 'Frames received from authenticated peers, by detected format.',
    labelNames: ['format'] as const,
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'syslog_ledger_bytes_received_total',
    help: 'Bytes received from authenticated peers (after TLS).',
    registers: [this.registry],
  });
  readonly framesTruncated = new Counter({
    name: 'syslog_ledger_frames_truncated_total',
    help: 'Frames longer than the maximum frame size, stored cut at the maximum with the truncated flag.',
    registers: [this.registry],
  });
  readonly parseFailures = new Counter({
    name: 'syslog_ledger_parse_failures_total',
    help: 'Frames that no parser accepted; stored raw with their parse error.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventsCommitted = new Counter({
    name: 'syslog_ledger_events_committed_total',
    help: 'Events committed to the ledger (counted after the transaction commits).',
    registers: [this.registry],
  });
  readonly batchesCommitted = new Counter({
    name: 'syslog_ledger_batches_committed_total',
    help: 'Ledger transactions committed.',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'syslog_ledger_batch_size_events',
    help: 'Events per committed batch.',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [this.registry],
  });
  readonly commitLatency = new Histogram({
    name: 'syslog_ledger_commit_latency_seconds',
    help: 'Time from receiving a frame to its transaction committing.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly dbErrors = new Counter({
    name: 'syslog_ledger_db_errors_total',
    help: 'Database errors seen by the writer, by kind; every failed batch is retried, never dropped.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly dbRetries = new Counter({
    name: 'syslog_ledger_db_retries_total',
    help: 'Batch commit retries after a database error.',
    registers: [this.registry],
  });
  readonly writerQueueEvents = new Gauge({
    name: 'syslog_ledger_writer_queue_events',
    help: 'Events received and waiting to be committed.',
    registers: [this.registry],
  });
  readonly writerQueueBytes = new Gauge({
    name: 'syslog_ledger_writer_queue_bytes',
    help: 'Bytes held by the events waiting to be committed: their records, and the COPY data of the batches in flight (the --queue-max-bytes bound).',
    registers: [this.registry],
  });
  readonly stagePoolBytes = new Gauge({
    name: 'syslog_ledger_stage_pool_bytes',
    help: 'Raw bytes of the frames held by the stage worker pool (--workers): sent to a worker, or waiting for an earlier batch.',
    registers: [this.registry],
  });
  readonly stageFrames = new Counter({
    name: 'syslog_ledger_stage_frames_total',
    help: 'Frames whose stages (parse, normalize, redact, the row\'s canonical form) ran, by thread: a stage worker (--workers), or the main thread (--workers 0, or a dead worker\'s batches).',
    labelNames: ['thread'] as const,
    registers: [this.registry],
  });
  readonly backpressureActive = new Gauge({
    name: 'syslog_ledger_backpressure_active',
    help: '1 while the writer queue is full and the listener has paused reading from sockets.',
    registers: [this.registry],
  });
  readonly tlsRefusals = new Counter({
    name: 'syslog_ledger_tls_refusals_total',
    help: 'Connections refused at or right after the TLS handshake, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly proxyRefusals = new Counter({
    name: 'syslog_ledger_proxy_refusals_total',
    help: 'Connections closed before TLS by the PROXY protocol stage (--proxy-protocol), by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly proxyHealthChecks = new Counter({
    name: 'syslog_ledger_proxy_health_checks_total',
    help: 'Balancer health checks seen before TLS (--proxy-protocol): a LOCAL header, or a connection closed without a byte.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly replicaLag = new Gauge({
    name: 'syslog_ledger_replica_lag_seconds',
    help: 'How far the read replica (--read-database-url) replays behind the primary: now minus the last replayed commit, 0 when it has replayed all it received.',
    registers: [this.registry],
  });
  readonly replicaUp = new Gauge({
    name: 'syslog_ledger_replica_up',
    help: '1 while the read replica (--read-database-url) answers and is a hot standby in recovery.',
    registers: [this.registry],
  });
  readonly databaseBytes = new Gauge({
    name: 'syslog_ledger_database_size_bytes',
    help: 'pg_database_size of the ledger database, sampled every minute.',
    registers: [this.registry],
  });
  readonly ledgerBytes = new Gauge({
    name: 'syslog_ledger_ledger_bytes',
    help: 'Bytes of every ledger partition (tables, indexes, TOAST), sampled every minute.',
    registers: [this.registry],
  });
  readonly ledgerBytesPerDay = new Gauge({
    name: 'syslog_ledger_ledger_bytes_per_day',
    help: 'Bytes per day of the newest complete ledger partition (a daily partition: its size).',
    registers: [this.registry],
  });
  readonly partitions = new Gauge({
    name: 'syslog_ledger_partitions',
    help: 'Ledger partitions in the database, the DEFAULT one included.',
    registers: [this.registry],
  });
  readonly archiveOverdue = new Gauge({
    name: 'syslog_ledger_archive_overdue_seconds',
    help: 'How long the oldest partition has been past --hot-window and still in the database (0: none due, or --hot-window unset).',
    registers: [this.registry],
  });
  readonly connectionsOpen = new Gauge({
    name: 'syslog_ledger_connections_open',
    help: 'Authenticated connections currently open.',
    registers: [this.registry],
  });
  readonly connectionsAccepted = new Counter({
    name: 'syslog_ledger_connections_accepted_total',
    help: 'Connections accepted after certificate checks.',
    registers: [this.registry],
  });
  readonly connectionsClosed = new Counter({
    name: 'syslog_ledger_connections_closed_total',
    help: 'Connections closed, by reason (peer_end, idle_timeout, error, shutdown, limit).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly sourceLastEvent = new Gauge({
    name: 'syslog_ledger_source_last_event_timestamp_seconds',
    help: 'Unix time of the last committed event per source (peer CN, or syslog HOSTNAME when it differs).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly sourceEvents = new Counter({
    name: 'syslog_ledger_source_events_committed_total',
    help: 'Events committed per source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly sourceLabelsEvicted = new Counter({
    name: 'syslog_ledger_source_labels_evicted_total',
    help: 'Source label values evicted (least recently used first) to make room for a new source under the label cap; their series are removed.',
    registers: [this.registry],
  });
  readonly sourceSilent = new Gauge({
    name: 'syslog_ledger_source_silent',
    help: '1 when an expected source has sent nothing for longer than the silence threshold.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly sourcesExpected = new Gauge({
    name: 'syslog_ledger_sources_expected',
    help: 'Sources expected to keep sending: configured (--expect-source, --expect-sources-file) or learned (--learn-sources).',
    labelNames: ['how'] as const,
    registers: [this.registry],
  });
  readonly sequenceGaps = new Counter({
    name: 'syslog_ledger_sequence_gaps_total',
    help: 'Gaps, duplicates and broken producer chains detected in sender sequence numbers, per source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly chainHeadSeq = new Gauge({
    name: 'syslog_ledger_chain_head_seq',
    help: 'Sequence number of the last committed row per chain.',
    labelNames: ['chain'] as const,
    registers: [this.registry],
  });
  readonly checkpointLast = new Gauge({
    name: 'syslog_ledger_checkpoint_last_timestamp_seconds',
    help: 'Unix time of the last signed checkpoint.',
    registers: [this.registry],
  });

  // Incremental verification inside serve (--verify-interval; src/verify/incremental.ts, docs/metrics.md).
  // Labelled by chain, so the series is absent until a verification has succeeded.
  readonly verifyLastSuccess = new Gauge({
    name: 'syslog_ledger_verify_last_success_timestamp_seconds',
    help: "Unix time of the last incremental verification of the chain that found it intact.",
    labelNames: ['chain'] as const,
    registers: [this.registry],
  });
  readonly verifyRows = new Counter({
    name: 'syslog_ledger_verify_rows_verified_total',
    help: 'Ledger rows recomputed by the incremental verification.',
    labelNames: ['chain'] as const,
    registers: [this.registry],
  });
  readonly verifyFailures = new Counter({
    name: 'syslog_ledger_verify_failures_total',
    help: 'Incremental verifications that failed, by reason (tampered: a finding; checkpoint: a signed checkpoint disagrees; error: could not check).',
    labelNames: ['chain', 'reason'] as const,
    registers: [this.registry],
  });
  readonly verifyOk = new Gauge({
    name: 'syslog_ledger_verify_ok',
    help: 'Result of the last incremental verification: 1 intact, 0 failed.',
    labelNames: ['chain'] as const,
    registers: [this.registry],
  });

  // Gap detection, stalls and certificates (docs/metrics.md). Set by src/metrics/{sequence,stall,certificates}.ts.
  readonly sequenceFindings = new Counter({
    name: 'syslog_ledger_sequence_findings_total',
    help: 'Sender sequence findings per source and kind (gap, duplicate, reset, chain_break); each is also a ledger event.',
    labelNames: ['source', 'kind'] as const,
    registers: [this.registry],
  });
  readonly sequenceMissing = new Counter({
    name: 'syslog_ledger_sequence_missing_messages_total',
    help: 'Messages missing according to sender sequence numbers (the width of every gap), per source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly oldestUncommittedAge = new Gauge({
    name: 'syslog_ledger_oldest_uncommitted_age_seconds',
    help: 'Age of the oldest event received but not yet committed; 0 when nothing waits.',
    registers: [this.registry],
  });
  readonly pipelineStalled = new Gauge({
    name: 'syslog_ledger_pipeline_stalled',
    help: '1 while the oldest uncommitted event is older than the stall threshold.',
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'syslog_ledger_tls_certificate_expiry_timestamp_seconds',
    help: 'Unix time at which the certificate expires (cert="server" or "ca"; the earliest of a bundle).',
    labelNames: ['cert'] as const,
    registers: [this.registry],
  });
  readonly lastCommit = new Gauge({
    name: 'syslog_ledger_last_commit_timestamp_seconds',
    help: 'Unix time of the last committed batch (with the checkpoint time: rows not yet covered by a checkpoint).',
    registers: [this.registry],
  });
  readonly peerThrottled = new Counter({
    name: 'syslog_ledger_peer_throttled_total',
    help: 'Times a peer over its --rate-limit was slowed (its socket paused), never dropped.',
    registers: [this.registry],
  });
  readonly hostnameMismatches = new Counter({
    name: 'syslog_ledger_hostname_mismatch_total',
    help: 'Events whose syslog HOSTNAME is not one their certificate may claim (--host-binding); stored flagged.',
    registers: [this.registry],
  });

  readonly findingsSuppressed = new Counter({
    name: 'syslog_ledger_findings_suppressed_total',
    help: 'Findings the server did not write because their source was over --max-findings-per-minute, per source and kind; one finding.suppressed row a minute counts them in the ledger.',
    labelNames: ['source', 'kind'] as const,
    registers: [this.registry],
  });

  // Detections and redaction at ingest (docs/detections.md, docs/redaction.md). Set by src/detect/ and src/redact/.
  readonly detections = new Counter({
    name: 'syslog_ledger_detections_total',
    help: 'Detection findings (episodes opened; OCSF 2004 Detection Finding rows unless the per-source cap held them back), by detection rule.',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });
  readonly redactions = new Counter({
    name: 'syslog_ledger_redactions_total',
    help: 'Secrets masked before storage, by redaction rule (one per masked occurrence in the frame).',
    labelNames: ['rule'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    // Both series exist from the start, so that a rate() or an alert on either sees its first increase.
    for (const thread of ['worker', 'main']) this.stageFrames.inc({ thread }, 0);
  }
}
