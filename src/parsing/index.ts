/**
 * The parsing stage: one frame (bytes, already cut by src/framing) -> one ParsedMessage.
 *
 * Detection per frame, unless the listener forces a format (`--format`):
 *   `<PRI>` + VERSION + SP      -> RFC 5424 (strict; a failure is `unparsed`, no fallback)
 *   `<PRI>` + anything else     -> RFC 3164 (lenient)
 *   `{`                         -> JSON object
 *   anything else               -> RFC 3164 (lenient: no PRI, maybe no timestamp)
 * VERSION is NONZERO-DIGIT 0*2DIGIT (RFC 5424 §6.2.2); every sender in practice sends `1`.
 */
import { parseJson } from './json.js';
import { emptyFields, unparsed } from './result.js';
import { parseRfc3164 } from './rfc3164.js';
import { parseRfc5424 } from './rfc5424.js';
import { replaceLoneSurrogates } from './text.js';
import type { Format, ParseContext, ParsedMessage } from './types.js';

export { FORMATS, FORMAT_OPTIONS } from './types.js';
export type {
  AppAuditRecord,
  Format,
  FormatOption,
  ParseContext,
  ParsedMessage,
  StructuredData,
  SyslogFields,
} from './types.js';
export { PARSE_ERROR_REASONS, type ParseErrorReason } from './result.js';
export { parseRfc5424, type Rfc5424Options } from './rfc5424.js';
export { parseRfc3164 } from './rfc3164.js';
export { parseJson, MAX_JSON_DEPTH } from './json.js';
export { isValidTimeZone } from './timestamp.js';

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** The format `auto` picks for a frame (before parsing it). */
export function detectFormat(frame: Buffer): Exclude<Format, 'unparsed'> {
  const c = frame[0];
  if (c === 0x3c) {
    let i = 1;
    while (i < 5 && isDigit(frame[i])) i++;
    if (i > 1 && frame[i] === 0x3e) {
      i++;
      const v = i;
      if (frame[i] !== undefined && frame[i]! >= 0x31 && frame[i]! <= 0x39) {
        i++;
        while (i - v < 3 && isDigit(frame[i])) i++;
        if (frame[i] === 0x20) return 'rfc5424';
      }
    }
    return 'rfc3164';
  }
  if (c === 0x7b) return 'json';
  return 'rfc3164';
}

/**
 * Parses one frame. Never throws: a frame no parser accepts comes back with format
 * `unparsed`, a precise `parse_error` and a bounded `parse_error_reason`, and every string in
 * the result is storable in PostgreSQL text/jsonb (no U+0000, no lone surrogates).
 */
export function parseFrame(frame: Buffer, ctx: ParseContext): ParsedMessage {
  try {
    const format = ctx.format === 'auto' ? detectFormat(frame) : ctx.format;
    switch (format) {
      case 'rfc5424':
        return parseRfc5424(frame);
      case 'json':
        return parseJson(frame, ctx);
      default:
        return parseRfc3164(frame, ctx);
    }
  } catch (err) {
    // A parser bug must not take the connection down; the frame is still stored raw.
    const fields = emptyFields();
    try {
      fields.message = replaceLoneSurrogates(frame.toString('utf8')).replaceAll('\u0000', '\uFFFD');
    } catch {
      fields.message = null;
    }
    const what = err instanceof Error ? err.message : String(err);
    return unparsed('internal', `internal parser error: ${replaceLoneSurrogates(what).replaceAll('\u0000', '\uFFFD').slice(0, 200)}`, fields);
  }
}
