/**
 * A record whose v3 row was prepared elsewhere (a stage worker, src/workers/): the canonical tail
 * (the hashed columns after the connection, encodeV3Tail) and the COPY text of the same columns
 * (putCopyV3Tail) are bytes already; the writer only adds the chain, seq, receive time and
 * connection, hashes, and writes the COPY line (encodeV3Linked, CopyBuffer.linked).
 *
 * The fields the writer's consumers read after commit (the monitor's sources: columns.hostname;
 * the detector: event and columns) are decoded from the tail on first use, not sent as objects:
 * a structured clone of an event costs more than making it (bench/stages.ts "worker transfer").
 */
import type { PeerIdentity } from '../listener/identity.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { SyslogFields } from '../parsing/types.js';
import { isoMicros } from './copy.js';
import { decodeV3Tail, type V3Values } from './row.js';
import type { ChainedRecord, LedgerFormat } from './types.js';
import { connectionOf, messageOf, v3EventOf } from './v3.js';

export class PreparedRecord implements ChainedRecord {
  // Set by the writer when it links the record into its chain.
  chain = '';
  seq = 0;
  prevHash: Buffer = EMPTY;
  hash: Buffer = EMPTY;
  #values: V3Values | undefined;
  #event: OcsfEvent | undefined;

  constructor(
    readonly receivedAtUs: number,
    readonly peer: PeerIdentity,
    /** The stored raw bytes (after redaction). */
    readonly raw: Buffer,
    readonly truncated: boolean,
    readonly format: LedgerFormat,
    /** canonical_v3 tail (encodeV3Tail). */
    readonly tail: Buffer,
    /** COPY text from `format` to `event`, each field followed by a tab (putCopyV3Tail). */
    readonly copy: Buffer,
  ) {}

  /** The row's values but chain, seq, conn and hash (decoded from the tail once). */
  get values(): V3Values {
    if (this.#values === undefined) {
      const v = decodeV3Tail(this.tail, 0);
      v.received_at = this.receivedAtUs;
      this.#values = v as unknown as V3Values;
    }
    return this.#values;
  }

  get parseError(): string | null {
    return this.values.parse_error;
  }

  get columns(): LiftedColumns {
    const v = this.values;
    return {
      event_time: v.event_time === null ? null : isoMicros(v.event_time),
      hostname: v.hostname,
      app_name: v.app_name,
      class_uid: v.class_uid,
      activity_id: v.activity_id,
      status_id: v.status_id,
      severity_id: v.severity_id,
      user_name: v.user_name,
      actor_user: v.actor_user,
      src_ip: v.src_ip,
    };
  }

  /** The syslog fields as stored (the header's timestamp as the stored event time). */
  get syslog(): SyslogFields {
    const v = this.values;
    return {
      facility: v.facility,
      severity: v.severity,
      timestamp: v.event_time === null ? null : isoMicros(v.event_time),
      hostname: v.hostname,
      app_name: v.app_name,
      procid: v.procid,
      msgid: v.msgid,
      structured_data: v.sd === null ? null : (JSON.parse(v.sd) as SyslogFields['structured_data']),
      message: v.msg_at === null ? null : messageOf(this.raw, v.msg_at),
    } as SyslogFields;
  }

  /** The OCSF event, as the view ocsf_events gives it back. */
  get event(): OcsfEvent {
    this.#event ??= v3EventOf(this.values, connectionOf(this.peer));
    return this.#event;
  }
}

const EMPTY = Buffer.alloc(0);
