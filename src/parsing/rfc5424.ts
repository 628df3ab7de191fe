/**
 * RFC 5424 (The Syslog Protocol), strict, per the ABNF of §6:
 *
 *   SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]                          §6
 *   HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *   PRI        = "<" PRIVAL ">"         PRIVAL = 1*3DIGIT ; 0-191          §6.2.1
 *   VERSION    = NONZERO-DIGIT 0*2DIGIT                                     §6.2.2
 *   TIMESTAMP  = NILVALUE / FULL-DATE "T" FULL-TIME                         §6.2.3 (timestamp.ts)
 *   HOSTNAME   = NILVALUE / 1*255PRINTUSASCII                               §6.2.4
 *   APP-NAME   = NILVALUE / 1*48PRINTUSASCII                                §6.2.5
 *   PROCID     = NILVALUE / 1*128PRINTUSASCII                               §6.2.6
 *   MSGID      = NILVALUE / 1*32PRINTUSASCII                                §6.2.7
 *   STRUCTURED-DATA                                                         §6.3 (structured-data.ts)
 *   MSG        = MSG-ANY / MSG-UTF8 ; MSG-UTF8 = BOM UTF-8-STRING           §6.4
 *
 * The TIMESTAMP is kept exactly as sent (never through a JS Date), so microseconds survive.
 * A BOM before MSG is removed (§6.4: it only marks the encoding). A MSG that is not valid
 * UTF-8 is still accepted (MSG-ANY) and decoded with U+FFFD; the ledger keeps the raw bytes.
 * With `compliantMsg`, a MSG that starts with a BOM must be valid UTF-8 (as go-syslog's
 * `WithCompliantMsg`). Leading zeros in PRIVAL are refused, as go-syslog does.
 *
 * Errors name the rule and the byte offset (0-based) where the frame stopped matching it.
 */
import { emptyFields, parsed, unparsed, type ParseErrorReason } from './result.js';
import { newSdScan, scanStructuredData } from './structured-data.js';
import { beginFrame, firstInvalidUtf8, frameText, text } from './text.js';
import { newTimestampScan, scanRfc3339 } from './timestamp.js';
import type { ParsedMessage, SyslogFields } from './types.js';
import { DASH, GT, LBRACKET as OPEN, LT, SP } from '../ascii.js';

export interface Rfc5424Options {
  /** Refuse a MSG that starts with a BOM but is not valid UTF-8 (RFC 5424 §6.4 MSG-UTF8). Default false. */
  readonly compliantMsg?: boolean;
}


const tsScan = newTimestampScan();
const sdScan = newSdScan();

function show(buf: Buffer, i: number): string {
  if (i >= buf.length) return 'end of frame';
  const c = buf[i]!;
  if (c >= 0x21 && c <= 0x7e) return `'${String.fromCharCode(c)}'`;
  if (c === SP) return 'SP';
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

function failure(reason: ParseErrorReason, rule: string, pos: number, detail: string, fields: SyslogFields): ParsedMessage {
  fields.message = frameText();
  return unparsed(reason, `RFC 5424: ${rule} at byte ${pos}: ${detail}`, fields);
}

/** Header fields in order: rule name, maximum length, failure reason. */
const HEADER_FIELDS = [
  ['HOSTNAME', 255, 'rfc5424_hostname'],
  ['APP-NAME', 48, 'rfc5424_app_name'],
  ['PROCID', 128, 'rfc5424_procid'],
  ['MSGID', 32, 'rfc5424_msgid'],
] as const;

/** Parses one frame as RFC 5424. Never throws: a frame that does not match comes back `unparsed`. */
export function parseRfc5424(buf: Buffer, options?: Rfc5424Options): ParsedMessage {
  beginFrame(buf);
  const end = buf.length;
  const fields = emptyFields();
  if (end === 0) return unparsed('empty', 'RFC 5424: empty frame', fields);

  // PRI
  if (buf[0] !== LT) return failure('rfc5424_pri', 'PRI', 0, `expected '<', found ${show(buf, 0)}`, fields);
  let i = 1;
  let prival = 0;
  while (i < end && i < 5 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    prival = prival * 10 + buf[i]! - 0x30;
    i++;
  }
  if (i === 1) return failure('rfc5424_pri', 'PRI', 1, `expected PRIVAL digits, found ${show(buf, 1)}`, fields);
  if (i - 1 > 3) return failure('rfc5424_pri', 'PRI', 4, 'PRIVAL longer than 3 digits', fields);
  if (buf[1] === 0x30 && i - 1 > 1) return failure('rfc5424_pri', 'PRI', 1, 'PRIVAL with a leading zero', fields);
  if (prival > 191) return failure('rfc5424_pri', 'PRI', 1, `PRIVAL ${prival} out of range 0-191`, fields);
  if (i >= end || buf[i] !== GT) return failure('rfc5424_pri', 'PRI', i, `expected '>' after PRIVAL, found ${show(buf, i)}`, fields);
  i++;
  fields.facility = prival >> 3;
  fields.severity = prival & 7;

  // VERSION
  const vStart = i;
  if (i >= end || buf[i]! < 0x31 || buf[i]! > 0x39) {
    return failure('rfc5424_version', 'VERSION', i, `expected VERSION 1-999, found ${show(buf, i)}`, fields);
  }
  let version = 0;
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    if (i - vStart === 3) return failure('rfc5424_version', 'VERSION', i, 'VERSION longer than 3 digits', fields);
    version = version * 10 + buf[i]! - 0x30;
    i++;
  }
  if (i >= end || buf[i] !== SP) return failure('rfc5424_version', 'VERSION', i, `expected SP after VERSION, found ${show(buf, i)}`, fields);
  i++;

  // TIMESTAMP
  if (i < end && buf[i] === DASH) {
    i++; // NILVALUE; the SP check below reports `--`
  } else {
    const tsStart = i;
    const tsEnd = scanRfc3339(buf, i, end, true, tsScan);
    if (tsEnd < 0) return failure('rfc5424_timestamp', 'TIMESTAMP', tsScan.errorPos, tsScan.error, fields);
    fields.timestamp = text(tsStart, tsEnd);
    i = tsEnd;
  }
  if (i >= end || buf[i] !== SP) {
    return failure('rfc5424_timestamp', 'TIMESTAMP', i, `expected SP after TIMESTAMP, found ${show(buf, i)}`, fields);
  }
  i++;

  // HOSTNAME, APP-NAME, PROCID, MSGID: NILVALUE / 1*n PRINTUSASCII, each followed by SP
  for (let f = 0; f < 4; f++) {
    const [rule, max, reason] = HEADER_FIELDS[f]!;
    const start = i;
    while (i < end && buf[i]! >= 0x21 && buf[i]! <= 0x7e) {
      if (i - start === max) return failure(reason, rule, i, `${rule} longer than ${max} characters`, fields);
      i++;
    }
    if (i === start) return failure(reason, rule, i, `expected ${rule} (printable US-ASCII) or '-', found ${show(buf, i)}`, fields);
    if (i >= end || buf[i] !== SP) {
      const what = i >= end ? 'end of frame' : `${show(buf, i)}, not printable US-ASCII`;
      return failure(reason, rule, i, `expected SP after ${rule}, found ${what}`, fields);
    }
    const value = i - start === 1 && buf[start] === DASH ? null : text(start, i);
    if (f === 0) fields.hostname = value;
    else if (f === 1) fields.app_name = value;
    else if (f === 2) fields.procid = value;
    else fields.msgid = value;
    i++;
  }

  // STRUCTURED-DATA
  if (i < end && buf[i] === DASH) {
    i++;
  } else if (i < end && buf[i] === OPEN) {
    const sdEnd = scanStructuredData(buf, i, end, sdScan);
    if (sdEnd < 0) return failure('rfc5424_sd', 'STRUCTURED-DATA', sdScan.errorPos, sdScan.error, fields);
    fields.structured_data = sdScan.data;
    sdScan.data = null;
    i = sdEnd;
  } else {
    return failure('rfc5424_sd', 'STRUCTURED-DATA', i, `expected '[' or '-', found ${show(buf, i)}`, fields);
  }

  // [SP MSG]
  if (i < end) {
    if (buf[i] !== SP) {
      return failure('rfc5424_sd', 'STRUCTURED-DATA', i, `expected SP or end of frame after STRUCTURED-DATA, found ${show(buf, i)}`, fields);
    }
    i++;
    if (i + 2 < end && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) {
      i += 3;
      if (options?.compliantMsg === true) {
        const bad = firstInvalidUtf8(buf, i, end);
        if (bad >= 0) return failure('rfc5424_msg', 'MSG', bad, 'invalid UTF-8 in a MSG that starts with a BOM', fields);
      }
      fields.message = text(i, end);
    } else if (i < end) {
      fields.message = text(i, end);
    }
  }
  const result = parsed('rfc5424', fields);
  fields.version = version;
  return result;
}
