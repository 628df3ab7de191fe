/**
 * The one severity rule (docs/ocsf.md, "Severity"):
 *
 *   severity_id = max(from_syslog(severity), status_id == Failure ? 3 Medium : 0)
 *
 * from_syslog: 0 Emergency -> 6 Fatal, 1 Alert and 2 Critical -> 5 Critical, 3 Error -> 4 High,
 * 4 Warning -> 3 Medium, 5 Notice -> 2 Low, 6 Informational and 7 Debug -> 1 Informational,
 * no PRI -> 0 Unknown. So a failed logon logged at auth.info is Medium, a successful one Informational,
 * and a sender's own alarm level is never lowered.
 */

const FROM_SYSLOG = [6, 5, 5, 4, 3, 2, 1, 1] as const;

/** Failure outcomes are raised to at least this OCSF severity. */
export const FAILURE_FLOOR = 3;

export function severityOf(syslogSeverity: number | null, statusId: number): number {
  const base = syslogSeverity !== null && syslogSeverity >= 0 && syslogSeverity <= 7 ? FROM_SYSLOG[syslogSeverity]! : 0;
  return statusId === 2 && base < FAILURE_FLOOR ? FAILURE_FLOOR : base;
}
