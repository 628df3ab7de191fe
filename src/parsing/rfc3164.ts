/**
 * RFC 3164 (BSD syslog), lenient in the way rsyslog's and syslog-ng's legacy parsers are:
 *
 *   [<PRI>] [SP] [TIMESTAMP [SP HOSTNAME]] SP [TAG[ '[' PID ']' ][':']] SP MSG     §4.1
 *
 * - PRI (§4.1.1) is optional; without it the frame gets PRI 13 (user.notice), as rsyslog
 *   does. A malformed or out-of-range PRI (`<abc>`, `<192>`) is refused: the frame is kept,
 *   `unparsed`, with reason `rfc3164_pri`.
 * - TIMESTAMP (§4.1.2) `Mmm dd hh:mm:ss`, with a space-padded or single-digit day, any case
 *   of month name, optional fraction, an optional year before or after the time, an optional
 *   trailing ':' and Cisco's `*`/`.` prefix and `NNN: ` sequence number; or an RFC 3339 /
 *   ISO 8601 date-time (`T` or space). A year-less timestamp gets the year that puts it
 *   nearest the receive time, never more than a day ahead; a zone-less one gets the peer's
 *   configured zone. `timestamp` is RFC 3339 with offset; `timestamp_original` the text sent.
 * - HOSTNAME (§4.1.2) is only looked for after a timestamp: the next word, when it is made of
 *   host-name characters (letters, digits, `.`, `_`, `-`, `:` and non-ASCII) and is not a TAG
 *   ending in ':' (an IPv6 address like `2001:db8::` is a host).
 * - TAG (§4.1.3) is the next word up to ':' or SP: `sshd[123]:`, `sshd(pam_unix)[123]:`,
 *   `postfix/smtpd[1]:`, or a bare word (as rsyslog). Without a timestamp, a word counts as a
 *   TAG only when it ends in ':' followed by SP; otherwise the whole text is the message.
 * - MSG: the rest, leading spaces removed. STRUCTURED-DATA in front of it (rsyslog's own
 *   `[origin software="rsyslogd" ...]`) is lifted into `structured_data` when it is valid
 *   and every element has parameters (so `[12345.678]` from the kernel stays in the message).
 */
import { emptyFields, parsed, unparsed } from './result.js';
import { newSdScan, scanStructuredData } from './structured-data.js';
import { beginFrame, escapeControls, frameText, text } from './text.js';
import { Zone, daysInMonth, newTimestampScan, pad2, pad4, scanRfc3339, formatOffset } from './timestamp.js';
import type { ParseContext, ParsedMessage, StructuredData, SyslogFields } from './types.js';
import { COLON, GT, LBRACKET as OPEN, LT, RBRACKET as CLOSE, SP } from '../ascii.js';


/** Longest HOSTNAME and TAG taken from a lenient frame; longer words stay in the message. */
const MAX_HOSTNAME = 255;
const MAX_TAG = 255;
const MAX_PROCID = 128;

const tsScan = newTimestampScan();
const sdScan = newSdScan();

let lastZoneName = '';
let lastZone: Zone = Zone.of('UTC');

function zoneFor(name: string): Zone {
  if (name !== lastZoneName) {
    lastZone = Zone.of(name);
    lastZoneName = name;
  }
  return lastZone;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Month number of three letters at `i` (any case), or 0. */
function monthAt(buf: Buffer, i: number, end: number): number {
  if (i + 3 > end) return 0;
  const a = buf[i]! | 0x20;
  const b = buf[i + 1]! | 0x20;
  const c = buf[i + 2]! | 0x20;
  switch (a) {
    case 0x6a: // j
      if (b === 0x61 && c === 0x6e) return 1;
      if (b === 0x75 && c === 0x6e) return 6;
      if (b === 0x75 && c === 0x6c) return 7;
      return 0;
    case 0x66: // f
      return b === 0x65 && c === 0x62 ? 2 : 0;
    case 0x6d: // m
      if (b === 0x61 && c === 0x72) return 3;
      if (b === 0x61 && c === 0x79) return 5;
      return 0;
    case 0x61: // a
      if (b === 0x70 && c === 0x72) return 4;
      if (b === 0x75 && c === 0x67) return 8;
      return 0;
    case 0x73: // s
      return b === 0x65 && c === 0x70 ? 9 : 0;
    case 0x6f: // o
      return b === 0x63 && c === 0x74 ? 10 : 0;
    case 0x6e: // n
      return b === 0x6f && c === 0x76 ? 11 : 0;
    case 0x64: // d
      return b === 0x65 && c === 0x63 ? 12 : 0;
    default:
      return 0;
  }
}

/** A timestamp found at the head of the frame. */
interface FoundTimestamp {
  /** Index after the timestamp and its separator(s). */
  next: number;
  start: number;
  end: number;
  value: string;
}

function num2(buf: Buffer, i: number): number {
  return (buf[i]! - 0x30) * 10 + (buf[i + 1]! - 0x30);
}

/** `Mmm dd [yyyy] hh:mm:ss[.fff] [yyyy][:]` at `i`, followed by SP or the end. */
function scanBsd(buf: Buffer, i: number, end: number, ctx: ParseContext): FoundTimestamp | null {
  const start = i;
  const month = monthAt(buf, i, end);
  if (month === 0) return null;
  i += 3;
  if (buf[i] !== SP) return null;
  while (i < end && buf[i] === SP) i++;
  if (!isDigit(buf[i])) return null;
  let day = buf[i]! - 0x30;
  i++;
  if (isDigit(buf[i])) {
    day = day * 10 + buf[i]! - 0x30;
    i++;
  }
  if (buf[i] !== SP || day < 1 || day > daysInMonth(2000, month)) return null;
  while (i < end && buf[i] === SP) i++;
  let year = -1;
  if (i + 4 < end && isDigit(buf[i]) && isDigit(buf[i + 1]) && isDigit(buf[i + 2]) && isDigit(buf[i + 3]) && buf[i + 4] === SP) {
    year = num2(buf, i) * 100 + num2(buf, i + 2);
    i += 5;
    while (i < end && buf[i] === SP) i++;
  }
  if (i + 8 > end || !isDigit(buf[i]) || !isDigit(buf[i + 1]) || buf[i + 2] !== COLON) return null;
  if (!isDigit(buf[i + 3]) || !isDigit(buf[i + 4]) || buf[i + 5] !== COLON || !isDigit(buf[i + 6]) || !isDigit(buf[i + 7])) return null;
  const hour = num2(buf, i);
  const minute = num2(buf, i + 3);
  const second = num2(buf, i + 6);
  if (hour > 23 || minute > 59 || second > 59) return null;
  i += 8;
  let fracStart = i;
  let fracEnd = i;
  if (buf[i] === 0x2e) {
    i++;
    fracStart = i;
    while (isDigit(buf[i])) i++;
    fracEnd = i;
  }
  let textEnd = i;
  // a year after the time (`Apr 15 21:28:13 2007 host`), as syslog-ng reads it
  if (year < 0 && buf[i] === SP && i + 5 <= end && isDigit(buf[i + 1]) && isDigit(buf[i + 2]) && isDigit(buf[i + 3]) && isDigit(buf[i + 4])) {
    const after = buf[i + 5];
    if (after === undefined || after === SP) {
      year = num2(buf, i + 1) * 100 + num2(buf, i + 3);
      i += 5;
      textEnd = i;
    }
  }
  if (buf[i] === COLON) i++;
  if (i < end && buf[i] !== SP) return null;
  if (year >= 0 && day > daysInMonth(year, month)) return null;

  const zone = zoneFor(ctx.timeZone);
  const frac = fracEnd > fracStart ? `.${text(fracStart, Math.min(fracEnd, fracStart + 6))}` : '';
  let value: string;
  if (year < 0) {
    const r = zone.resolveBsd(month, day, hour, minute, ctx.receivedAtMs);
    if (r === null) return null;
    value = `${r.prefix}${pad2(second)}${frac}${r.suffix}`;
  } else {
    const suffix = zone.suffixForLocal(year, month, day, hour, minute);
    value = `${pad4(year)}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}${frac}${suffix}`;
  }
  return { next: i, start, end: textEnd, value };
}

/** RFC 3339 / ISO 8601 date-time at `i` (lenient), followed by SP, ':' or the end. */
function scanIso(buf: Buffer, i: number, end: number, ctx: ParseContext): FoundTimestamp | null {
  const start = i;
  const tsEnd = scanRfc3339(buf, i, end, false, tsScan);
  if (tsEnd < 0) return null;
  i = tsEnd;
  if (buf[i] === COLON) i++;
  if (i < end && buf[i] !== SP) return null;
  const s = tsScan;
  const frac = s.fracEnd > s.fracStart ? `.${text(s.fracStart, Math.min(s.fracEnd, s.fracStart + 6))}` : '';
  const suffix = s.hasOffset
    ? s.offsetMinutes === 0 && (buf[tsEnd - 1]! | 0x20) === 0x7a
      ? 'Z'
      : formatOffset(s.offsetMinutes)
    : zoneFor(ctx.timeZone).suffixForLocal(s.year, s.month, s.day, s.hour, s.minute);
  const value = `${pad4(s.year)}-${pad2(s.month)}-${pad2(s.day)}T${pad2(s.hour)}:${pad2(s.minute)}:${pad2(s.second)}${frac}${suffix}`;
  return { next: i, start, end: tsEnd, value };
}

function scanTimestamp(buf: Buffer, i: number, end: number, ctx: ParseContext): FoundTimestamp | null {
  const c = buf[i];
  if (c === undefined) return null;
  if (isDigit(c)) {
    if (i + 4 < end && buf[i + 4] === 0x2d) return scanIso(buf, i, end, ctx);
    return null;
  }
  return scanBsd(buf, i, end, ctx);
}

/** Whether bytes [start, end) can be a HOSTNAME. */
function isHostname(buf: Buffer, start: number, end: number): boolean {
  const len = end - start;
  if (len < 1 || len > MAX_HOSTNAME) return false;
  let colons = 0;
  for (let k = start; k < end; k++) {
    const c = buf[k]!;
    if (c >= 0x80) continue;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f) continue;
    if (c === COLON) {
      colons++;
      continue;
    }
    return false;
  }
  // `sshd:` is a TAG; `fe80::1:` or `2001:db8::` is an IPv6 host
  return buf[end - 1] !== COLON || colons >= 2;
}

const FORWARDED = Buffer.from('Message forwarded from ');

function startsWith(buf: Buffer, i: number, end: number, prefix: Buffer): boolean {
  if (i + prefix.length > end) return false;
  for (let k = 0; k < prefix.length; k++) if (buf[i + k] !== prefix[k]) return false;
  return true;
}

function everyElementHasParams(sd: StructuredData | null): boolean {
  if (sd === null) return false;
  for (const params of Object.values(sd)) {
    let any = false;
    for (const _ in params) {
      any = true;
      break;
    }
    if (!any) return false;
  }
  return true;
}

function failure(error: string, fields: SyslogFields): ParsedMessage {
  fields.message = frameText();
  return unparsed('rfc3164_pri', error, fields);
}

/** Parses one frame as RFC 3164 (lenient). Never throws. */
export function parseRfc3164(buf: Buffer, ctx: ParseContext): ParsedMessage {
  beginFrame(buf);
  const end = buf.length;
  const fields = emptyFields();
  if (end === 0) return unparsed('empty', 'RFC 3164: empty frame', fields);
  let i = 0;

  // PRI
  let pri = 13;
  if (buf[0] === LT) {
    i = 1;
    let v = 0;
    while (i < end && i < 5 && isDigit(buf[i])) {
      v = v * 10 + buf[i]! - 0x30;
      i++;
    }
    if (i === 1) return failure(`RFC 3164: PRI at byte 1: expected digits after '<'`, fields);
    if (i > 4) return failure(`RFC 3164: PRI at byte 4: PRI longer than 3 digits`, fields);
    if (buf[i] !== GT) return failure(`RFC 3164: PRI at byte ${i}: expected '>' after the PRI digits`, fields);
    if (v > 191) return failure(`RFC 3164: PRI at byte 1: PRI ${v} out of range 0-191`, fields);
    pri = v;
    i++;
  }
  fields.facility = pri >> 3;
  fields.severity = pri & 7;
  while (i < end && buf[i] === SP) i++;

  // TIMESTAMP, possibly behind Cisco's `NNN: ` sequence number and `*`/`.` sync marker
  let ts: FoundTimestamp | null = null;
  {
    let k = i;
    if (isDigit(buf[k]) && !(k + 4 < end && buf[k + 4] === 0x2d)) {
      while (isDigit(buf[k])) k++;
      if (buf[k] === COLON && buf[k + 1] === SP) k += 2;
      else k = -1;
    }
    if (k >= 0) {
      if (buf[k] === 0x2a || buf[k] === 0x2e) k++;
      ts = scanTimestamp(buf, k, end, ctx);
    }
  }
  if (ts !== null) {
    fields.timestamp = ts.value;
    fields.timestamp_original = text(ts.start, ts.end);
    i = ts.next;
    while (i < end && buf[i] === SP) i++;

    // HOSTNAME
    if (startsWith(buf, i, end, FORWARDED)) {
      // AIX: `Message forwarded from HOST: TAG...`
      let k = i + FORWARDED.length;
      const h = k;
      while (k < end && buf[k] !== COLON && buf[k] !== SP) k++;
      if (buf[k] === COLON && isHostname(buf, h, k)) {
        fields.hostname = text(h, k);
        i = k + 1;
        while (i < end && buf[i] === SP) i++;
      }
    } else {
      let k = i;
      while (k < end && buf[k] !== SP) k++;
      if (isHostname(buf, i, k)) {
        fields.hostname = text(i, k);
        i = k;
        while (i < end && buf[i] === SP) i++;
      }
    }
  }

  // TAG
  if (i < end && buf[i] !== OPEN) {
    const t0 = i;
    let k = i;
    let inBrackets = false;
    while (k < end && k - t0 <= MAX_TAG) {
      const c = buf[k]!;
      if (c === SP) break;
      if (c === COLON && !inBrackets) break;
      if (c === OPEN) inBrackets = true;
      else if (c === CLOSE) inBrackets = false;
      k++;
    }
    const t1 = k;
    const len = t1 - t0;
    let isTag = len > 0 && len <= MAX_TAG;
    if (isTag && ts === null) isTag = buf[t1] === COLON && (t1 + 1 === end || buf[t1 + 1] === SP);
    if (isTag) {
      let app = t1;
      if (buf[t1 - 1] === CLOSE) {
        let b = t1 - 2;
        while (b > t0 && buf[b] !== OPEN) b--;
        if (b > t0 && t1 - 1 - (b + 1) <= MAX_PROCID) {
          app = b;
          if (t1 - 1 > b + 1) fields.procid = escapeControls(text(b + 1, t1 - 1));
        }
      }
      fields.app_name = escapeControls(text(t0, app));
      i = t1;
      if (buf[i] === COLON) i++;
      while (i < end && buf[i] === SP) i++;
    }
  }

  // STRUCTURED-DATA in front of the message (rsyslog's own messages carry some)
  if (i < end && buf[i] === OPEN) {
    const sdEnd = scanStructuredData(buf, i, end, sdScan);
    // Only elements with parameters: `[12345.678] ...` (kernel) or `[audit] ...` is message text.
    if (sdEnd >= 0 && (sdEnd === end || buf[sdEnd] === SP) && everyElementHasParams(sdScan.data)) {
      fields.structured_data = sdScan.data;
      i = sdEnd;
      while (i < end && buf[i] === SP) i++;
    }
    sdScan.data = null;
  }

  fields.message = text(i, end);
  return parsed('rfc3164', fields);
}
