/**
 * Records the server writes into its own ledger (format `internal`): pipeline findings (src/monitoring/monitor.ts)
 * and detection findings (src/detect/). They are chained and committed like any received frame; the
 * `raw` bytes are the event's JSON, since no frame was received.
 */
import type { PeerIdentity } from '../listener/identity.js';
import { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { Format, SyslogFields } from '../parsing/types.js';
import type { LedgerRecord } from './types.js';

/** The server's own identity on the records it writes. */
export const SERVER_PEER: PeerIdentity = { cn: 'syslog-ledger', sans: [], subject: 'CN=syslog-ledger', fingerprint: '', address: 'internal' };

export interface InternalRecordOptions {
  /** Receive time to record, µs since the epoch: when the server made the record. */
  readonly receivedAtUs: number;
  /** syslog HOSTNAME: the host or source the record is about. */
  readonly hostname: string | null;
  /** syslog MSGID: what kind of record it is (`finding.gap`, `detection.brute_force_user`, ...). */
  readonly msgid: string;
}

/** An `internal` ledger record carrying `event`, with syslog fields that name the server as the sender. */
export function internalRecord(event: OcsfEvent, o: InternalRecordOptions): LedgerRecord {
  const syslog: SyslogFields = {
    facility: null,
    severity: null,
    timestamp: null,
    hostname: o.hostname,
    app_name: 'syslog-ledger',
    procid: null,
    msgid: o.msgid,
    structured_data: null,
    message: typeof event.message === 'string' ? event.message : o.msgid,
  };
  return {
    receivedAtUs: o.receivedAtUs,
    peer: SERVER_PEER,
    raw: Buffer.from(JSON.stringify(event)),
    truncated: false,
    format: 'internal',
    parseError: null,
    syslog,
    event,
    columns: liftColumns(event, { format: 'internal' as Format, syslog, parse_error: null, parse_error_reason: null }),
  };
}
