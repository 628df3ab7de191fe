/**
 * RFC 5424 §6.3 STRUCTURED-DATA, on bytes:
 *
 *   STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT
 *   SD-ELEMENT      = "[" SD-ID *(SP SD-PARAM) "]"
 *   SD-PARAM        = PARAM-NAME "=" %d34 PARAM-VALUE %d34
 *   SD-ID           = SD-NAME
 *   PARAM-NAME      = SD-NAME
 *   PARAM-VALUE     = UTF-8-STRING ; characters '"', '\' and ']' MUST be escaped.
 *   SD-NAME         = 1*32PRINTUSASCII ; except '=', SP, ']', %d34 (")
 *
 * §6.3.2: the same SD-ID MUST NOT occur twice. §6.3.3: inside PARAM-VALUE, `\"`, `\\` and `\]`
 * are escapes; a backslash before any other character is an ordinary backslash and the
 * sequence is kept unaltered. An unescaped ']' is an error (go-syslog agrees).
 *
 * Also used by the RFC 3164 parser to lift SD that rsyslog puts in front of some messages.
 */
import { text } from './text.js';
import type { StructuredData } from './types.js';
import { BACKSLASH, EQ, LBRACKET as OPEN, QUOTE, RBRACKET as CLOSE, SP } from '../ascii.js';

/** Sets an own property even when the key is `__proto__` (SD names and JSON keys are sender data). */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** Result of `scanStructuredData`, reused between calls. */
export interface SdScan {
  data: StructuredData | null;
  error: string;
  errorPos: number;
}

export function newSdScan(): SdScan {
  return { data: null, error: '', errorPos: 0 };
}


function isSdNameByte(c: number): boolean {
  return c >= 0x21 && c <= 0x7e && c !== EQ && c !== CLOSE && c !== QUOTE;
}

function show(buf: Buffer, i: number, end: number): string {
  if (i >= end) return 'end of frame';
  const c = buf[i]!;
  if (c >= 0x21 && c <= 0x7e) return `'${String.fromCharCode(c)}'`;
  if (c === SP) return 'SP';
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function fail(out: SdScan, pos: number, error: string): number {
  out.data = null;
  out.error = error;
  out.errorPos = pos;
  return -1;
}

/** Scans an SD-NAME; returns its end, or -1 with the error set. */
function scanName(buf: Buffer, i: number, end: number, what: string, out: SdScan): number {
  const start = i;
  while (i < end && isSdNameByte(buf[i]!)) {
    if (i - start === 32) return fail(out, i, `${what} longer than 32 characters`);
    i++;
  }
  if (i === start) return fail(out, i, `expected ${what} (1-32 printable US-ASCII except '=', SP, ']', '"'), found ${show(buf, i, end)}`);
  return i;
}

/**
 * Scans 1*SD-ELEMENT starting at `pos` (which holds '['). Returns the index after the last
 * element, or -1 with `out.error`/`out.errorPos`. On success `out.data` holds the elements.
 */
export function scanStructuredData(buf: Buffer, pos: number, end: number, out: SdScan): number {
  const data: StructuredData = {};
  let i = pos;
  while (i < end && buf[i] === OPEN) {
    i++;
    const idStart = i;
    i = scanName(buf, i, end, 'SD-ID', out);
    if (i < 0) return -1;
    const id = text(idStart, i);
    if (Object.hasOwn(data, id)) return fail(out, idStart, `duplicate SD-ID "${id}"`);
    const params: Record<string, string> = {};
    for (;;) {
      if (i >= end) return fail(out, i, `frame ends inside SD-ELEMENT "${id}"`);
      const c = buf[i]!;
      if (c === CLOSE) {
        i++;
        break;
      }
      if (c !== SP) return fail(out, i, `expected SP or ']' in SD-ELEMENT, found ${show(buf, i, end)}`);
      i++;
      const nameStart = i;
      i = scanName(buf, i, end, 'PARAM-NAME', out);
      if (i < 0) return -1;
      const name = text(nameStart, i);
      if (i >= end || buf[i] !== EQ) return fail(out, i, `expected '=' after PARAM-NAME, found ${show(buf, i, end)}`);
      i++;
      if (i >= end || buf[i] !== QUOTE) return fail(out, i, `expected '"' to open PARAM-VALUE, found ${show(buf, i, end)}`);
      i++;
      const valueStart = i;
      let escapes = false;
      for (;;) {
        if (i >= end) return fail(out, i, `frame ends inside PARAM-VALUE of "${name}"`);
        const v = buf[i]!;
        if (v === BACKSLASH) {
          const n = i + 1 < end ? buf[i + 1]! : -1;
          if (n === QUOTE || n === BACKSLASH || n === CLOSE) {
            escapes = true;
            i += 2;
          } else {
            i++; // §6.3.3: any other backslash is an ordinary character
          }
          continue;
        }
        if (v === QUOTE) break;
        if (v === CLOSE) return fail(out, i, `unescaped ']' in PARAM-VALUE`);
        i++;
      }
      const value = escapes ? unescape(buf, valueStart, i) : text(valueStart, i);
      i++; // closing quote
      if (i < end && buf[i] === QUOTE) return fail(out, i, `unescaped '"' in PARAM-VALUE`);
      if (i < end && buf[i] !== SP && buf[i] !== CLOSE) {
        return fail(out, i, `expected SP or ']' after PARAM-VALUE, found ${show(buf, i, end)}`);
      }
      // §6.3.3 allows a PARAM-NAME to repeat; the object keeps the last value (as go-syslog).
      setOwn(params, name, value);
    }
    setOwn(data, id, params);
  }
  out.data = data;
  return i;
}

/** PARAM-VALUE text with `\"`, `\\`, `\]` resolved; other backslashes kept. */
function unescape(buf: Buffer, start: number, end: number): string {
  let out = '';
  let seg = start;
  let i = start;
  while (i < end) {
    if (buf[i] === BACKSLASH && i + 1 < end) {
      const n = buf[i + 1]!;
      if (n === QUOTE || n === BACKSLASH || n === CLOSE) {
        out += text(seg, i);
        seg = i + 1; // keep the escaped character, drop the backslash
        i += 2;
        continue;
      }
    }
    i++;
  }
  return out + text(seg, end);
}
