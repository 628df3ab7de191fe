/**
 * Turning frame bytes into strings that PostgreSQL can store (text and jsonb refuse U+0000,
 * and lone UTF-16 surrogates cannot be encoded as UTF-8).
 *
 * The parsers work on byte offsets; they ask this module for the string of a byte range.
 * `beginFrame` looks at the whole frame once: a pure-ASCII frame (the common case) is decoded
 * once and every field is a cheap `slice` of it; other frames decode each range as UTF-8
 * (invalid sequences become U+FFFD, as the WHATWG decoder does). Either way U+0000 becomes U+FFFD.
 * The raw bytes are kept by the ledger, so nothing is lost (bench/parsers.ts: one decode plus
 * slices is about twice as fast as one `toString` per field on RFC 5424 frames).
 *
 * Module state is safe because parsing is synchronous and never re-enters itself.
 */
import { isAscii } from 'node:buffer';

const REPLACEMENT = '\uFFFD';

/** `Buffer#latin1Slice`/`utf8Slice` skip the encoding switch of `toString`; fall back when absent. */
interface FastSlices {
  latin1Slice?(start: number, end: number): string;
  utf8Slice?(start: number, end: number): string;
}
const proto = Buffer.prototype as unknown as FastSlices;
const HAS_FAST_SLICES = typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';

function latin1(buf: Buffer, start: number, end: number): string {
  return HAS_FAST_SLICES
    ? (buf as unknown as Required<FastSlices>).latin1Slice(start, end)
    : buf.toString('latin1', start, end);
}

function utf8(buf: Buffer, start: number, end: number): string {
  return HAS_FAST_SLICES
    ? (buf as unknown as Required<FastSlices>).utf8Slice(start, end)
    : buf.toString('utf8', start, end);
}

let frameBuf: Buffer = Buffer.alloc(0);
let frameAscii = true;
let frameHasNul = false;
let frameWhole = '';

/** Prepares `text()` for the ranges of one frame. Call once per frame before `text()`. */
export function beginFrame(buf: Buffer): void {
  frameBuf = buf;
  frameAscii = isAscii(buf);
  if (frameAscii) {
    frameWhole = latin1(buf, 0, buf.length);
    frameHasNul = frameWhole.indexOf('\u0000') !== -1;
  } else {
    frameWhole = '';
    frameHasNul = buf.indexOf(0) !== -1;
  }
}

/** The storable string for bytes [start, end) of the current frame. */
export function text(start: number, end: number): string {
  if (start >= end) return '';
  let s: string;
  if (frameAscii) {
    s = frameWhole.slice(start, end);
  } else {
    s = utf8(frameBuf, start, end);
  }
  if (frameHasNul && s.indexOf('\u0000') !== -1) s = s.replaceAll('\u0000', REPLACEMENT);
  return s;
}

/** The whole current frame as a storable string. */
export function frameText(): string {
  return text(0, frameBuf.length);
}

type WellFormed = { isWellFormed?(): boolean; toWellFormed?(): string };
const HAS_WELL_FORMED = typeof (String.prototype as WellFormed).toWellFormed === 'function';

/**
 * Makes any JS string storable: U+0000 and lone surrogates become U+FFFD.
 * Strings from `text()` are already safe; this is for strings from JSON.parse.
 */
export function storable(s: string): string {
  if (s.indexOf('\u0000') !== -1) s = s.replaceAll('\u0000', REPLACEMENT);
  if (HAS_WELL_FORMED) {
    const w = s as unknown as Required<WellFormed>;
    return w.isWellFormed() ? s : w.toWellFormed();
  }
  return replaceLoneSurrogates(s);
}

/**
 * A header field (hostname, app name, procid, msgid) with its control characters (below 0x20, and
 * 0x7f) written as rsyslog writes them on receipt (`#ooo`, octal: ESC is `#033`, LF `#012`), so
 * they reach neither a column nor a metric label (terminals, dashboards and scrapers take them for
 * commands). The raw frame keeps the bytes as received. The same string when there are none.
 */
export function escapeControls(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? `#${c.toString(8).padStart(3, '0')}` : s[i];
  }
  return out;
}

/** Portable fallback of `String#toWellFormed`. */
export function replaceLoneSurrogates(s: string): string {
  let out: string[] | null = null;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    (out ??= []).push(s.slice(last, i), REPLACEMENT);
    last = i + 1;
  }
  if (out === null) return s;
  out.push(s.slice(last));
  return out.join('');
}

/** True when `s` satisfies the storage rule: no U+0000 and no lone surrogate. */
export function isStorable(s: string): boolean {
  if (s.indexOf('\u0000') !== -1) return false;
  return replaceLoneSurrogates(s) === s;
}

/**
 * Offset of the first byte of [start, end) that breaks strict UTF-8 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or -1 when the range is valid.
 */
export function firstInvalidUtf8(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f; // U+D800..U+DFFF are not characters
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else {
      return i;
    }
    if (i + need >= end) return i; // truncated sequence
    const b1 = buf[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const bk = buf[i + k]!;
      if (bk < 0x80 || bk > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}
