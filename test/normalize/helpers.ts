import { expect } from 'vitest';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { parseFrame } from '../../src/parsing/index.js';
import type { ParsedMessage } from '../../src/parsing/types.js';
import { liftColumns, normalize } from '../../src/normalize/index.js';
import type { LiftedColumns, OcsfEvent } from '../../src/normalize/index.js';

export const PEER: PeerIdentity = {
  cn: 'web-01.example.net',
  sans: ['DNS:web-01.example.net', 'IP:192.0.2.10'],
  subject: 'CN=web-01.example.net,O=Example',
  fingerprint: 'ab'.repeat(32),
  address: '192.0.2.10:51515',
};

/** 2024-06-01T00:00:00Z: RFC 3164 lines get their year from it. */
export const RECEIVED = Date.UTC(2024, 5, 1);

export interface Normalized {
  parsed: ParsedMessage;
  event: OcsfEvent;
  columns: LiftedColumns;
}

/** A file line as the network carries it (`<86>` authpriv.info prepended; null: as is), through parseFrame and normalize. */
export function fromLine(line: string, pri: number | null = 86): Normalized {
  const raw = pri === null ? line : `<${pri}>${line}`;
  const parsed = parseFrame(Buffer.from(raw, 'utf8'), { receivedAtMs: RECEIVED, timeZone: 'UTC', format: 'auto' });
  const event = normalize(parsed, { peer: PEER, receivedAtMs: RECEIVED, rawText: raw });
  return { parsed, event, columns: liftColumns(event, parsed) };
}

export interface MessageOptions {
  host?: string | null;
  pid?: string | null;
  severity?: number | null;
  facility?: number | null;
  timestamp?: string | null;
  timestamp_original?: string;
  format?: ParsedMessage['format'];
  audit?: ParsedMessage['audit'];
  extra?: Record<string, unknown>;
  parse_error?: string;
  raw?: string;
}

/** A ParsedMessage built by hand (independent of the parsers), then normalized. */
export function fromMessage(app: string | null, message: string | null, o: MessageOptions = {}): Normalized {
  const parsed: ParsedMessage = {
    format: o.format ?? 'rfc5424',
    syslog: {
      facility: o.facility === undefined ? 10 : o.facility,
      severity: o.severity === undefined ? 6 : o.severity,
      timestamp: o.timestamp === undefined ? '2024-05-31T23:59:58.123456Z' : o.timestamp,
      hostname: o.host === undefined ? 'host1' : o.host,
      app_name: app,
      procid: o.pid === undefined ? '4242' : o.pid,
      msgid: null,
      structured_data: null,
      message,
    },
    parse_error: o.parse_error ?? null,
    parse_error_reason: o.parse_error ? 'test' : null,
  };
  if (o.timestamp_original !== undefined) parsed.syslog.timestamp_original = o.timestamp_original;
  if (o.audit !== undefined) parsed.audit = o.audit;
  if (o.extra !== undefined) parsed.extra = o.extra;
  const raw = o.raw ?? `<86>1 ${parsed.syslog.timestamp ?? '-'} ${parsed.syslog.hostname ?? '-'} ${app ?? '-'} ${parsed.syslog.procid ?? '-'} - - ${message ?? ''}`;
  const event = normalize(parsed, { peer: PEER, receivedAtMs: RECEIVED, rawText: raw });
  return { parsed, event, columns: liftColumns(event, parsed) };
}

/** Reads a dotted path (`actor.user.name`) out of an event. */
export function get(v: unknown, path: string): unknown {
  let cur = v;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export interface Shape {
  cls: number;
  activity: number;
  status: number;
  user?: string | null;
  actor?: string | null;
  ip?: string | null;
  rule?: string;
  repeat?: string | null;
  count?: number;
}

/** Asserts class, activity, status, user, actor, source IP (as events and as lifted columns), rule and repeat marking. */
export function expectShape(n: Normalized, s: Shape): void {
  const e = n.event;
  const label = String(e.raw_data);
  expect({ cls: e.class_uid, activity: e.activity_id, status: e.status_id }, label).toEqual({ cls: s.cls, activity: s.activity, status: s.status });
  expect(e.type_uid, label).toBe(s.cls * 100 + s.activity);
  if (s.user !== undefined) expect(n.columns.user_name, `${label}: user`).toBe(s.user);
  if (s.actor !== undefined) expect(n.columns.actor_user, `${label}: actor`).toBe(s.actor);
  if (s.ip !== undefined) expect(n.columns.src_ip, `${label}: src_ip`).toBe(s.ip);
  if (s.rule !== undefined) expect(get(e, 'metadata.mapping.rule'), `${label}: rule`).toBe(s.rule);
  if (s.repeat !== undefined) expect(get(e, 'unmapped.repeat_of') ?? null, `${label}: repeat_of`).toBe(s.repeat);
  if (s.count !== undefined) expect(e.count, `${label}: count`).toBe(s.count);
  expectPlainJson(e);
}

/**
 * The event is plain JSON data: only strings without U+0000 or lone surrogates, finite numbers, booleans,
 * null, arrays and plain objects; no undefined anywhere; JSON round trip gives the same value.
 */
export function expectPlainJson(v: unknown): void {
  const walk = (x: unknown, path: string): void => {
    if (x === null || typeof x === 'boolean') return;
    if (typeof x === 'string') {
      expect(x.includes('\u0000'), `${path}: U+0000`).toBe(false);
      expect((x as unknown as { isWellFormed(): boolean }).isWellFormed(), `${path}: lone surrogate`).toBe(true);
      return;
    }
    if (typeof x === 'number') {
      expect(Number.isFinite(x), `${path}: finite number`).toBe(true);
      return;
    }
    if (Array.isArray(x)) {
      x.forEach((y, i) => walk(y, `${path}[${i}]`));
      return;
    }
    expect(typeof x, path).toBe('object');
    expect(Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null, `${path}: plain object`).toBe(true);
    for (const [k, y] of Object.entries(x as object)) {
      expect(y, `${path}.${k}: undefined`).not.toBeUndefined();
      walk(y, `${path}.${k}`);
    }
  };
  walk(v, '$');
  expect(JSON.parse(JSON.stringify(v))).toEqual(v);
}
