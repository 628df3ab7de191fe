import type { PeerIdentity } from '../listener/identity.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { Format, SyslogFields } from '../parsing/types.js';

/** Formats a ledger row can have: a parsed frame's, or `internal` for records the server writes itself (findings). */
export type LedgerFormat = Format | 'internal';

/** One accepted frame, parsed and normalized, waiting for its place in a chain. */
export interface LedgerRecord {
  /** Receive time, microseconds since the epoch (integer). */
  readonly receivedAtUs: number;
  readonly peer: PeerIdentity;
  readonly raw: Buffer;
  readonly truncated: boolean;
  readonly format: LedgerFormat;
  readonly parseError: string | null;
  readonly syslog: SyslogFields;
  readonly event: OcsfEvent;
  readonly columns: LiftedColumns;
}

/** A record with its place in the chain. */
export interface ChainedRecord extends LedgerRecord {
  readonly chain: string;
  readonly seq: number;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

/** The head of a chain: its last seq and that row's hash (the writer's committed head, a batch's first and last link). */
export interface ChainHead {
  seq: number;
  hash: Buffer;
}

export const ZERO_HASH: Buffer = Buffer.alloc(32);
