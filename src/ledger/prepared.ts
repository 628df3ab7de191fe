/**
 * A record whose v3 row was prepared elsewhere (a stage worker, src/workers/): the canonical tail
 * (the hashed columns after the connection, encodeV3Tail) is bytes already, `raw` a view of its
 * `raw` field; the writer only adds the chain, seq, receive time and connection, hashes, and writes
 * the row's binary COPY from the tail (encodeV3Linked, CopyBuffer.linked).
 *
 * The fields the writer's consumers read after commit (the monitor's sources: columns.hostname;
 * the detector: event and columns) are decoded from the tail on first use, not sent as objects:
 * a structured clone of an event costs more than making it (bench/stages.ts "worker transfer").
 */
import type { PeerIdentity } from '../listener/identity.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { SyslogFields } from '../parsing/types.js';
import { isoMicros } from './copy.js';
import { decodeV3Tail, v3TailText, type V3Values } from './row.js';
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
  #columns: PreparedColumns | undefined;

  constructor(
    readonly receivedAtUs: number,
    readonly peer: PeerIdentity,
    /** The stored raw bytes (after redaction): the tail's `raw` field. */
    readonly raw: Buffer,
    readonly truncated: boolean,
    readonly format: LedgerFormat,
    /** canonical_v3 tail (encodeV3Tail). */
    readonly tail: Buffer,
  ) {}

  /** The bytes this record holds (the writer's byte bound): its tail (raw is a view of it), plus its objects. */
  get heldBytes(): number {
    return this.tail.length + OBJECT_BYTES;
  }

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

  /**
   * The lifted columns as stored. `hostname` is read from the tail in place (the monitor's sources
   * read only it, for every committed row); the rest decode the tail on first use.
   */
  get columns(): LiftedColumns {
    this.#columns ??= new PreparedColumns(this);
    return this.#columns;
  }

  /** `hostname` without decoding the rest of the tail. */
  get hostname(): string | null {
    return this.#values !== undefined ? this.#values.hostname : v3TailText(this.tail, 0, 'hostname');
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
/** The record and its three Buffer views, about (V8 heap). */
const OBJECT_BYTES = 512;

/** LiftedColumns of a prepared record, read on use. */
class PreparedColumns implements LiftedColumns {
  constructor(readonly r: PreparedRecord) {}
  get hostname(): string | null {
    return this.r.hostname;
  }
  get event_time(): string | null {
    const t = this.r.values.event_time;
    return t === null ? null : isoMicros(t);
  }
  get app_name(): string | null {
    return this.r.values.app_name;
  }
  get class_uid(): number {
    return this.r.values.class_uid;
  }
  get activity_id(): number {
    return this.r.values.activity_id;
  }
  get status_id(): number {
    return this.r.values.status_id;
  }
  get severity_id(): number {
    return this.r.values.severity_id;
  }
  get user_name(): string | null {
    return this.r.values.user_name;
  }
  get actor_user(): string | null {
    return this.r.values.actor_user;
  }
  get src_ip(): string | null {
    return this.r.values.src_ip;
  }
  toJSON(): LiftedColumns {
    const { event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip } = this;
    return { event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip };
  }
}
