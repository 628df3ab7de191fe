import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Structured operational logs (JSON lines on stdout). Never one line per event at info level. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'syslog-ledger' }, timestamp: pino.stdTimeFunctions.isoTime });
}
