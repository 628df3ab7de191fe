import { Counter, Gauge } from 'prom-client';
import type { Metrics } from './registry.js';

/** Why a RELP session was closed by the server (metric label values). */
export const RELP_VIOLATIONS = ['no_open', 'bad_txnr', 'malformed', 'bad_open', 'second_open', 'unexpected_rsp'] as const;
export type RelpViolation = (typeof RELP_VIOLATIONS)[number];

/** RELP commands counted by name; anything else is `other`. */
export const RELP_COMMANDS = ['open', 'syslog', 'close', 'other'] as const;
export type RelpCommandLabel = (typeof RELP_COMMANDS)[number];

/**
 * The RELP listener's metrics (docs/metrics.md), registered in the one registry. Kept beside it,
 * not in it, so the RELP stage owns its names.
 */
export class RelpMetrics {
  readonly sessionsOpen: Gauge;
  readonly sessions: Counter;
  readonly frames: Counter<'command'>;
  readonly acksOutstanding: Gauge;
  readonly resends: Counter;
  readonly violations: Counter<'reason'>;
  readonly responses: Counter<'code'>;

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.sessionsOpen = new Gauge({ name: 'syslog_ledger_relp_sessions_open', help: 'RELP sessions open (after a successful `open`).', registers });
    this.sessions = new Counter({ name: 'syslog_ledger_relp_sessions_total', help: 'RELP sessions opened since start.', registers });
    this.frames = new Counter({ name: 'syslog_ledger_relp_frames_total', help: 'RELP frames received, by command.', labelNames: ['command'] as const, registers });
    this.acksOutstanding = new Gauge({
      name: 'syslog_ledger_relp_acks_outstanding',
      help: 'RELP `syslog` frames received and not yet acknowledged (an ack goes out only after the frame\'s COMMIT).',
      registers,
    });
    this.resends = new Counter({
      name: 'syslog_ledger_relp_resends_total',
      help: 'RELP frames recognized as resends of frames already stored (after a reconnect), acknowledged and not stored again.',
      registers,
    });
    this.violations = new Counter({
      name: 'syslog_ledger_relp_violations_total',
      help: 'RELP sessions closed for a protocol violation, by reason.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.responses = new Counter({
      name: 'syslog_ledger_relp_responses_total',
      help: 'RELP rsp frames sent, by code (200 for every `syslog` frame, only after its COMMIT; 500 only to a refused `open` or an unknown command).',
      labelNames: ['code'] as const,
      registers,
    });
    for (const reason of RELP_VIOLATIONS) this.violations.inc({ reason }, 0);
    for (const code of ['200', '500']) this.responses.inc({ code }, 0);
    for (const command of RELP_COMMANDS) this.frames.inc({ command }, 0);
  }
}
