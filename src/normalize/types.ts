import type { PeerIdentity } from '../listener/identity.js';
import type { ParsedMessage } from '../parsing/types.js';

/**
 * An OCSF-like event (docs/ocsf.md). Required OCSF base fields are typed; the optional ones below are
 * what `normalize` always or often writes; the rest is class-specific (user, actor, src_endpoint, ...).
 */
export interface OcsfEvent {
  class_uid: number;
  category_uid: number;
  activity_id: number;
  type_uid: number;
  severity_id: number;
  status_id: number;
  /** Event time, ms since the epoch (OCSF `time`). */
  time: number;
  /** version, product, mapping {version, rule}, log_name, log_provider, original_time, logged_time, correlation_uid, peer. */
  metadata: Record<string, unknown>;
  class_name?: string;
  category_name?: string;
  activity_name?: string;
  severity?: string;
  status?: string;
  status_detail?: string;
  /** Occurrences this one record stands for (`message repeated N times`, `N incorrect password attempts`). */
  count?: number;
  /** The syslog RFC 3339 timestamp text, exact precision; absent when the frame had none (or an invalid one). */
  time_dt?: string;
  message?: string;
  raw_data?: string;
  /** Source fields with no OCSF home; `repeat_of` marks a repeated line of one attempt. */
  unmapped?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Context the normalizer gets besides the parsed frame. */
export interface NormalizeContext {
  readonly peer: PeerIdentity;
  readonly receivedAtMs: number;
  /** The raw frame as text (for `raw_data`). */
  readonly rawText: string;
}

/**
 * The fields people filter on, lifted out of the event into plain, indexed columns.
 * Always derived from the event by `liftColumns` (src/normalize/columns.ts): never set by hand.
 */
export interface LiftedColumns {
  /** RFC 3339 text, microsecond precision where the sender gave it; null when unknown. */
  event_time: string | null;
  hostname: string | null;
  app_name: string | null;
  class_uid: number;
  activity_id: number;
  status_id: number;
  severity_id: number;
  user_name: string | null;
  actor_user: string | null;
  src_ip: string | null;
}

export type Normalizer = (parsed: ParsedMessage, ctx: NormalizeContext) => OcsfEvent;
