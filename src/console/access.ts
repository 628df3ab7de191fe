/**
 * The console's reads on the record (docs/evidence.md "Access records"): each search page, event
 * view, proof download and export appends an OCSF API Activity (6003, Read) event to the access
 * chain through the evidence module, before the result is sent. `actor.user.name` is the console
 * user (the certificate's name, or `token`); the serve process's OS and database users are kept
 * under `unmapped.access` as for the commands.
 */
import type { OcsfEvent } from '../normalize/types.js';
import { apiRead, type Reader } from '../evidence/access.js';
import type { ExportSummary } from '../evidence/export.js';
import type { EvidenceQuery } from '../evidence/query.js';
import type { Principal } from './auth.js';

export const CONSOLE_OPERATIONS = ['search', 'view', 'prove', 'export'] as const;
export type ConsoleOperation = (typeof CONSOLE_OPERATIONS)[number];

/** What one console read was. */
export type ConsoleRead =
  | { readonly op: 'search'; readonly query: EvidenceQuery; readonly text: string | null; readonly total: number; readonly rows: number; readonly page: number }
  | { readonly op: 'view'; readonly chain: string; readonly seq: number }
  | { readonly op: 'prove'; readonly chain: string; readonly seq: number; readonly proofSha256: string; readonly valid: boolean }
  | { readonly op: 'export'; readonly summary: ExportSummary };

function describe(r: ConsoleRead): { message: string; details: Record<string, unknown> } {
  switch (r.op) {
    case 'search':
      return {
        message: `searched the ledger: ${r.total} matching rows, ${r.rows} shown (page ${r.page})`,
        details: { query: r.query, text: r.text, rows: r.rows, matching: r.total, page: r.page },
      };
    case 'view':
      return { message: `viewed event seq ${r.seq} of chain "${r.chain}"`, details: { chain: r.chain, seq: r.seq, rows: 1 } };
    case 'prove':
      return {
        message: `downloaded the inclusion proof of chain "${r.chain}" seq ${r.seq}${r.valid ? '' : ' (it did NOT verify)'}`,
        details: { chain: r.chain, seq: r.seq, rows: 1, proof_sha256: r.proofSha256, valid: r.valid },
      };
    case 'export': {
      const s = r.summary;
      return {
        message: `exported ${s.matching} ledger rows (${s.mode}); manifest sha256 ${s.manifestSha256}`,
        details: { mode: s.mode, query: s.query, rows: s.matching, lines: s.lines, runs: s.runs, package: { manifest_sha256: s.manifestSha256, bytes: s.bytes }, ledger_id: s.ledgerId },
      };
    }
  }
}

/** The access event of a console read, given who runs serve. */
export function consoleAccessEvent(p: Principal, r: ConsoleRead, nowMs = Date.now()): (who: Reader) => OcsfEvent {
  return (who) => {
    const { message, details } = describe(r);
    const e = apiRead(who, r.op, `console user ${p.name} (${p.auth}, from ${p.remote}) ${message}`, { ...details, via: 'console', console: { user: p.name, auth: p.auth, remote: p.remote } }, nowMs);
    return { ...e, actor: { user: { name: p.name, type: p.auth === 'certificate' ? 'Certificate' : 'Console token' }, app_name: 'syslog-ledger console' } };
  };
}
