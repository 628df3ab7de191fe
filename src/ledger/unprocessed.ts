/**
 * The record of a frame no stage could turn into its usual row: a stage threw, a stage worker hung
 * on its batch, or the row encoding refused what the stages made. The raw bytes are kept, the text
 * made storable, and the event is a Base Event carrying the error; counted as an internal parse
 * failure. Nothing is dropped: this record always encodes.
 */
import type { Frame } from '../framing/framer.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import { liftColumns } from '../normalize/columns.js';
import type { LedgerRecord } from './types.js';
import { bodyEnd } from './v3.js';
import { describeError } from '../errors.js';

export function unprocessedRecord(frame: Pick<Frame, 'raw' | 'body' | 'truncated'>, peer: PeerIdentity, receivedAtUs: number, error: string, metrics: Metrics): LedgerRecord {
  metrics.parseFailures.inc({ reason: 'internal' });
  const message = frame.body.toString('utf8').replaceAll('\0', '\uFFFD');
  const syslog = { facility: null, severity: null, timestamp: null, hostname: null, app_name: null, procid: null, msgid: null, structured_data: null, message };
  const event = {
    class_uid: 0, category_uid: 0, activity_id: 0, type_uid: 0, severity_id: 0, status_id: 0,
    time: Math.floor(receivedAtUs / 1000),
    metadata: { product: { name: 'syslog-ledger' }, peer: { cn: peer.cn } },
    message,
    raw_data: message,
    unmapped: { parse_error: error },
  };
  const parsed = { format: 'unparsed' as const, syslog, parse_error: error, parse_error_reason: 'internal' };
  return { receivedAtUs, peer, raw: frame.raw, truncated: frame.truncated, format: 'unparsed', parseError: error, syslog, event, columns: liftColumns(event, parsed) };
}

/** The record stored in place of one whose row the encoding refused (the writer's, a stage worker's). */
export function unencodableRecord(r: Pick<LedgerRecord, 'raw' | 'truncated' | 'peer' | 'receivedAtUs'>, err: unknown, metrics: Metrics): LedgerRecord {
  const frame = { raw: r.raw, body: r.raw.subarray(0, bodyEnd(r.raw)), truncated: r.truncated };
  return unprocessedRecord(frame, r.peer, r.receivedAtUs, `the ledger row could not be encoded: ${describeError(err)}`, metrics);
}
