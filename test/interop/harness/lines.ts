/**
 * The lines the tests write into a client's input file, and the writer that appends them.
 * Every line carries the run id, so a run's events can be told apart in the ledger whatever
 * the client adds around them (rsyslog's own status messages, say).
 */
import { createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';

/** A plain audit line: `run=<id> n=<i> ...`, unique per run and index. */
export function plainLines(run: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(`audit run=${run} n=${i} user=user${i % 97} action=login result=${i % 10 === 0 ? 'failure' : 'success'} src=192.0.2.${(i % 250) + 1}`);
  }
  return out;
}

/**
 * Lines as the seed's Python `AuditLogger` writes them (/var/log/app/audit.log): a JSON object
 * per line with its own hash chain, `hash = sha256(f"{prev_hash}:{json.dumps(entry, sort_keys=True)}")`.
 * Serialized exactly as Python's json.dumps does (", " and ": " separators, ASCII only).
 */
export function auditLoggerLines(run: string, n: number, start = Date.UTC(2024, 4, 1, 12, 0, 0)): string[] {
  const out: string[] = [];
  let prev: string | null = null;
  for (let i = 0; i < n; i++) {
    const entry = {
      timestamp: new Date(start + i).toISOString().replace('Z', '000+00:00'),
      service: `billing-${run}`,
      event_type: 'data_access',
      user: `user${i % 97}`,
      resource: 'invoices',
      action: i % 3 === 0 ? 'export' : 'read',
      result: 'success',
      source_ip: `192.0.2.${(i % 250) + 1}`,
      metadata: { record_count: i, run },
    };
    const raw = pyDumps(entry, true);
    const hash: string = createHash('sha256').update(`${prev ?? 'None'}:${raw}`).digest('hex');
    out.push(pyDumps({ ...entry, prev_hash: prev, hash }, false));
    prev = hash;
  }
  return out;
}

/** Python's json.dumps with default separators; `sortKeys` as sort_keys=True. */
export function pyDumps(v: unknown, sortKeys: boolean): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyDumps(x, sortKeys)).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}: ${pyDumps(x, sortKeys)}`).join(', ')}}`;
}

/** Progress callback: lines written so far. */
export type Progress = (written: number) => void | Promise<void>;

/**
 * Appends `lines` to `file` in batches, `batch` lines at a time with `pauseMs` between
 * batches, calling `onBatch` after each (the restart scenario restarts the server from there).
 */
export async function writeLines(file: string, lines: readonly string[], opts: { batch?: number; pauseMs?: number; onBatch?: Progress } = {}): Promise<void> {
  const batch = opts.batch ?? 1000;
  for (let i = 0; i < lines.length; i += batch) {
    await appendFile(file, lines.slice(i, i + batch).join('\n') + '\n');
    await opts.onBatch?.(Math.min(i + batch, lines.length));
    if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
  }
}
