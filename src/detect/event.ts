/**
 * What the detection rules read from a committed, normalized event (docs/ocsf.md field names):
 * class, activity and status; `user.name`, `actor.user.name`, `src_endpoint.ip`, `device.hostname`;
 * `count` (how many attempts one line stands for) and `unmapped.repeat_of` (the line repeats an
 * attempt another line counts). Read once per event, only for the classes some rule looks at.
 */
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';

/** A ledger row: where a finding's evidence is. */
export interface Ref {
  readonly chain: string;
  readonly seq: number;
}

/** One committed event as the rules see it. */
export interface Observed {
  readonly ref: Ref;
  /** Event time (ms), bounded by the receive time (see `eventTime`). Windows and schedules use it. */
  readonly t: number;
  readonly event: OcsfEvent;
  readonly cls: number;
  readonly activity: number;
  readonly status: number;
  /** `user.name`: who logged in, the target of su/sudo, the account changed. */
  readonly user: string | null;
  /** `actor.user.name`: who did it (sudo/su invoker, useradd's caller, the app user). */
  readonly actor: string | null;
  readonly ip: string | null;
  readonly host: string | null;
  /** True when the line repeats an attempt another line counts (`unmapped.repeat_of`). */
  readonly repeat: boolean;
  /** Occurrences the line stands for (OCSF `count`; 1 when absent). */
  readonly count: number;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** `a.b.c` of an event, or undefined. */
export function at(event: unknown, ...path: string[]): unknown {
  let cur: unknown = event;
  for (const k of path) {
    const o = obj(cur);
    if (o === undefined) return undefined;
    cur = o[k];
  }
  return cur;
}

/** A string at a path, or null. */
export function textAt(event: unknown, ...path: string[]): string | null {
  return text(at(event, ...path));
}

/**
 * The time a rule should use: the event's own time when it is within `maxSkewMs` of the receive
 * time, else the receive time. A sender with a wrong clock (or an RFC 3164 year guessed wrong) must
 * neither open nor close a window.
 */
export function eventTime(event: OcsfEvent, receivedMs: number, maxSkewMs: number): number {
  const t = event.time;
  return typeof t === 'number' && Number.isFinite(t) && Math.abs(t - receivedMs) <= maxSkewMs ? t : receivedMs;
}

/** A mutable Observed: the detector fills one per event and lends it to the rules (which keep only its `ref`). */
export type ObservedSlot = { -readonly [K in keyof Observed]: Observed[K] };

export function emptyObserved(): ObservedSlot {
  return { ref: { chain: '', seq: 0 }, t: 0, event: null as unknown as OcsfEvent, cls: 0, activity: 0, status: 0, user: null, actor: null, ip: null, host: null, repeat: false, count: 1 };
}

/**
 * Fills `o` with the view of an event, read from its lifted columns (src/normalize/columns.ts: one
 * object shape for every event, so these reads stay monomorphic; events have many shapes and each
 * read of one costs a megamorphic lookup, bench/ingest.ts) plus the event's own `count`. Repeat
 * lines never get here (the detector skips them), so `repeat` is false. Only `ref` is new per event:
 * rules keep it; they must not keep `o`.
 */
export function observeInto(o: ObservedSlot, event: OcsfEvent, c: LiftedColumns, ref: Ref, t: number): Observed {
  let count = 1;
  if (c.status_id === 2) {
    const n = event.count;
    if (typeof n === 'number' && Number.isInteger(n) && n > 0) count = n;
  }
  o.ref = ref;
  o.t = t;
  o.event = event;
  o.cls = c.class_uid;
  o.activity = c.activity_id;
  o.status = c.status_id;
  o.user = c.user_name;
  o.actor = c.actor_user;
  o.ip = c.src_ip;
  o.host = c.hostname;
  o.repeat = false;
  o.count = count;
  return o;
}

/** A fresh Observed (tests, tools). */
export function observe(event: OcsfEvent, c: LiftedColumns, ref: Ref, t: number): Observed {
  return observeInto(emptyObserved(), event, c, ref, t);
}

/** Authentication (3002) Logon (1) that failed, counted on its own line (not a repeat). */
export function isFailedLogon(o: Observed): boolean {
  return o.cls === 3002 && o.activity === 1 && o.status === 2 && !o.repeat;
}

/** Authentication (3002) Logon (1) that succeeded, on the line that counts it. */
export function isSuccessfulLogon(o: Observed): boolean {
  return o.cls === 3002 && o.activity === 1 && o.status === 1 && !o.repeat;
}

/** Who runs as whom: sudo (1007 Launch, `process.user.name`) or su/sudo Account Switch (3002/7, `user.name`). */
export function switchTarget(o: Observed): { by: string; to: string } | null {
  if (o.repeat || o.status !== 1) return null;
  if (o.cls === 1007 && o.activity === 1) {
    const p = o.event.process as { user?: { name?: unknown } } | undefined;
    const name = typeof p === 'object' && p !== null && typeof p.user === 'object' && p.user !== null ? p.user.name : undefined;
    const to = typeof name === 'string' && name !== '' ? name : null;
    return o.actor !== null && to !== null ? { by: o.actor, to } : null;
  }
  if (o.cls === 3002 && o.activity === 7) {
    return o.actor !== null && o.user !== null ? { by: o.actor, to: o.user } : null;
  }
  return null;
}

/** `metadata.record_count` of an application data-access record (the seed's `log_data_access`), or null. */
export function recordCount(event: OcsfEvent): number | null {
  const v = at(event, 'unmapped', 'app_audit', 'metadata', 'record_count') ?? at(event, 'unmapped', 'record_count');
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** The tty of the acting session (`actor.session.terminal`), or null. */
export function terminalOf(event: OcsfEvent): string | null {
  return textAt(event, 'actor', 'session', 'terminal');
}
