/**
 * The per-frame stages, in their order: frame → parse → normalize → host binding → lift columns →
 * redact. One function, `toRecord`, turns a received frame into the LedgerRecord the writer chains
 * and stores; the server (server.ts), `syslog-ledger parse`, the tests and the benches
 * all call this one.
 */
import { describeError } from './errors.js';
import type { Frame } from './framing/framer.js';
import type { LedgerRecord } from './ledger/types.js';
import { peerNames, type PeerIdentity } from './listener/identity.js';
import { hostnameAllowed, type HostBinding } from './listener/limits.js';
import type { Metrics } from './metrics/registry.js';
import type { Monitor } from './monitoring/monitor.js';
import { liftColumns } from './normalize/columns.js';
import { unprocessedRecord } from './ledger/unprocessed.js';
import { normalize } from './normalize/index.js';
import { parseFrame } from './parsing/index.js';
import type { FormatOption } from './parsing/types.js';
import type { Redactor } from './redact/redactor.js';

/** What toRecord needs of the configuration. */
export interface RecordConfig {
  readonly format: FormatOption;
  readonly timeZone: string;
  readonly hostBindings?: readonly HostBinding[];
  readonly redactor?: Redactor;
}

/**
 * Frame → LedgerRecord: parse, count, normalize, check the host binding, lift, redact. The stages
 * never throw on input by design; should one throw anyway (a bug), the frame is still stored, raw,
 * with the error as its parse error: an audit server neither drops the frame nor crashes the
 * connection's read loop over it.
 */
export function toRecord(
  frame: Frame,
  peer: PeerIdentity,
  receivedAtUs: number,
  cfg: RecordConfig,
  metrics: Metrics,
  monitor?: Pick<Monitor, 'onParsed'>,
): LedgerRecord {
  try {
    return processFrame(frame, peer, receivedAtUs, cfg, metrics, monitor);
  } catch (err) {
    return unprocessedRecord(frame, peer, receivedAtUs, `internal error while processing the frame: ${describeError(err)}`, metrics);
  }
}

function processFrame(
  frame: Frame,
  peer: PeerIdentity,
  receivedAtUs: number,
  cfg: RecordConfig,
  metrics: Metrics,
  monitor?: Pick<Monitor, 'onParsed'>,
): LedgerRecord {
  const receivedAtMs = Math.floor(receivedAtUs / 1000);
  const parsed = parseFrame(frame.body, { receivedAtMs, timeZone: cfg.timeZone, format: cfg.format });
  monitor?.onParsed(parsed, peer, receivedAtUs);
  metrics.framesReceived.inc({ format: parsed.format });
  if (parsed.format === 'unparsed') metrics.parseFailures.inc({ reason: parsed.parse_error_reason ?? 'unknown' });
  if (frame.truncated) metrics.framesTruncated.inc();
  const event = normalize(parsed, { peer, receivedAtMs, rawText: frame.body.toString('utf8') });
  if (cfg.hostBindings?.length && !hostnameAllowed(cfg.hostBindings, peerNames(peer), parsed.syslog.hostname)) {
    // Stored, never silently trusted: the flag is part of the hashed event, and the view
    // hostname_mismatches lists these events.
    event.hostname_mismatch = true;
    metrics.hostnameMismatches.inc();
  }
  const record: LedgerRecord = {
    receivedAtUs,
    peer,
    raw: frame.raw,
    truncated: frame.truncated,
    format: parsed.format,
    parseError: parsed.parse_error,
    syslog: parsed.syslog,
    event,
    columns: liftColumns(event, parsed),
  };
  // Last: the hash chain covers the stored (redacted) form.
  return cfg.redactor ? cfg.redactor.redact(record) : record;
}
