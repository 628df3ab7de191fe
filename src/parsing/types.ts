/** The formats a frame can be recorded as. `unparsed` means no parser accepted it. */
export const FORMATS = ['rfc5424', 'rfc3164', 'json', 'unparsed'] as const;
export type Format = (typeof FORMATS)[number];

/** What `--format` may force per listener; `auto` detects per frame. */
export const FORMAT_OPTIONS = ['auto', 'rfc5424', 'rfc3164', 'json'] as const;
export type FormatOption = (typeof FORMAT_OPTIONS)[number];

/** RFC 5424 STRUCTURED-DATA: SD-ID -> PARAM-NAME -> value (escapes resolved). */
export type StructuredData = Record<string, Record<string, string>>;

/** The syslog header and body fields, common to every format. Null means absent or NILVALUE. */
export interface SyslogFields {
  /** RFC 5424 VERSION (1-999); absent for other formats. */
  version?: number;
  facility: number | null;
  severity: number | null;
  /**
   * RFC 3339 timestamp with the sender's full precision, exactly as sent for RFC 5424
   * (never round-tripped through a JS Date); for RFC 3164 the inferred, zoned form.
   */
  timestamp: string | null;
  /** The timestamp text exactly as it appeared in the frame (RFC 3164 / JSON), when it was rewritten. */
  timestamp_original?: string | null;
  hostname: string | null;
  app_name: string | null;
  procid: string | null;
  msgid: string | null;
  structured_data: StructuredData | null;
  message: string | null;
}

/** The seed's application audit record (`AuditLogger`), found in a JSON frame or inside its `message`. */
export interface AppAuditRecord {
  timestamp?: string;
  service?: string;
  event_type?: string;
  user?: string;
  resource?: string;
  action?: string;
  result?: string;
  source_ip?: string | null;
  metadata?: Record<string, unknown>;
  prev_hash?: string | null;
  hash?: string;
  [key: string]: unknown;
}

/** One frame after parsing. Parsing never throws: failures come back with `format: 'unparsed'`. */
export interface ParsedMessage {
  format: Format;
  syslog: SyslogFields;
  /** Why parsing failed, with the position and the rule broken; null when it succeeded. */
  parse_error: string | null;
  /** Short machine label for the failure (metrics `reason`), e.g. `rfc5424_sd`; null on success. */
  parse_error_reason: string | null;
  /** For JSON frames: fields of the object that have no syslog home. */
  extra?: Record<string, unknown>;
  /** An application audit record found in the frame. */
  audit?: AppAuditRecord;
}

/** Per-peer context the parsers need. */
export interface ParseContext {
  /** Receive time, ms since the epoch: RFC 3164 year inference is relative to it. */
  readonly receivedAtMs: number;
  /** IANA zone or `UTC` for RFC 3164 timestamps that carry none. */
  readonly timeZone: string;
  /** Forced format, or `auto`. */
  readonly format: FormatOption;
}
