/**
 * Small string helpers for the normalizer. Events go into a PostgreSQL jsonb column, which refuses
 * U+0000 and unpaired surrogates: every string that did not come out of an already-cleaned message
 * passes through `clean` (or `cleanJson` for whole JSON values).
 */
import { isIP } from 'node:net';

type WellFormed = { isWellFormed(): boolean; toWellFormed(): string };

/** Replaces U+0000 with U+FFFD and lone surrogates with U+FFFD; returns the same string when clean. */
export function clean(s: string): string {
  if (s.indexOf('\0') !== -1) s = s.replaceAll('\0', '\uFFFD');
  const w = s as unknown as WellFormed;
  // isWellFormed is native (V8 11+, Node 20): one scan, no allocation when the string is fine.
  return w.isWellFormed() ? s : w.toWellFormed();
}

const MAX_JSON_DEPTH = 16;

/** `obj[key] = value` that also works for the key `__proto__` (an own property, never the prototype). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * A JSON-safe deep copy: strings cleaned, non-finite numbers become null, undefined/functions/symbols
 * are dropped, Dates become ISO strings, bigints strings, and nesting deeper than 16 levels is cut
 * to its JSON text (so a hostile record can neither overflow the stack nor smuggle NUL into jsonb).
 */
export function cleanJson(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case 'string':
      return clean(v);
    case 'number':
      return Number.isFinite(v) ? v : null;
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'object': {
      if (v === null) return null;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
      if (depth >= MAX_JSON_DEPTH) {
        try {
          return clean(JSON.stringify(v) ?? '');
        } catch {
          return null;
        }
      }
      if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : cleanJson(x, depth + 1)));
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        setOwn(out, clean(k), cleanJson(x, depth + 1));
      }
      return out;
    }
    default:
      return undefined;
  }
}

/**
 * True for a syntactically valid IPv4 or IPv6 address that PostgreSQL's `inet` accepts
 * (no zone index such as `%eth0`, no brackets, no port).
 */
export function isIpAddress(s: string | null | undefined): s is string {
  if (!s || s.length > 45) return false;
  if (s.indexOf('%') !== -1) return false;
  return isIP(s) !== 0;
}

const HEX_RE = /^(?:[0-9A-F]{2})+$/;

/** True when an unquoted auditd value is hex-encoded (upper-case hex digits, even length). */
export function looksHex(s: string): boolean {
  return s.length >= 2 && HEX_RE.test(s);
}

/**
 * Decodes an auditd hex-encoded field. NUL separators (proctitle, execve args) become spaces,
 * as `ausearch -i` shows them; the result is cleaned. Returns null when the bytes are not UTF-8 text.
 */
export function decodeHex(hex: string): string | null {
  const buf = Buffer.from(hex, 'hex');
  for (let i = 0; i < buf.length; i++) if (buf[i] === 0) buf[i] = 0x20;
  const text = buf.toString('utf8');
  if (text.indexOf('\uFFFD') !== -1) return null;
  return clean(text.trimEnd());
}

/** Parses a decimal integer that fits a JS number safely; otherwise undefined. */
export function toInt(s: string | null | undefined): number | undefined {
  if (!s || s.length > 15) return undefined;
  const n = Number(s);
  return Number.isInteger(n) ? n : undefined;
}

/** Last path component: `/usr/sbin/sshd` -> `sshd`. */
export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? path : path.slice(i + 1);
}
