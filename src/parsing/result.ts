/**
 * The bounded set of parse-failure reasons (the `reason` label of
 * `syslog_ledger_parse_failures_total`) and the builders every parser uses for its result.
 */
import type { Format, ParsedMessage, SyslogFields } from './types.js';

/** Every value `parse_error_reason` can take. Metrics may pre-register these labels. */
export const PARSE_ERROR_REASONS = [
  'empty',
  'rfc5424_pri',
  'rfc5424_version',
  'rfc5424_timestamp',
  'rfc5424_hostname',
  'rfc5424_app_name',
  'rfc5424_procid',
  'rfc5424_msgid',
  'rfc5424_sd',
  'rfc5424_msg',
  'rfc3164_pri',
  'json_syntax',
  'json_not_object',
  'json_depth',
  'internal',
] as const;
export type ParseErrorReason = (typeof PARSE_ERROR_REASONS)[number];

/** A SyslogFields with every field absent. */
export function emptyFields(): SyslogFields {
  return {
    facility: null,
    severity: null,
    timestamp: null,
    hostname: null,
    app_name: null,
    procid: null,
    msgid: null,
    structured_data: null,
    message: null,
  };
}

export function parsed(format: Format, syslog: SyslogFields): ParsedMessage {
  return { format, syslog, parse_error: null, parse_error_reason: null };
}

/**
 * A failed parse: format `unparsed`, the fields known so far, and `message` set to the
 * whole frame text when the caller does not know better.
 */
export function unparsed(
  reason: ParseErrorReason,
  error: string,
  syslog: SyslogFields,
): ParsedMessage {
  return { format: 'unparsed', syslog, parse_error: error, parse_error_reason: reason };
}
