/**
 * Reading back what one client delivered: the ledger rows of one peer and one run, and a
 * tally of what is missing, duplicated or out of order compared with the lines written.
 */
import { query } from '../../helpers/db.js';

/** The columns the interop tests check, for one ledger row. */
export interface LedgerRow {
  readonly chain: string;
  readonly seq: number;
  readonly format: string;
  readonly peerCn: string | null;
  readonly peerSans: readonly string[];
  readonly hostname: string | null;
  readonly appName: string | null;
  readonly severity: number | null;
  readonly facility: number | null;
  readonly message: string | null;
  readonly parseError: string | null;
  readonly raw: string;
  readonly receivedAt: Date;
}

interface Row {
  chain: string;
  seq: string;
  format: string;
  peer_cn: string | null;
  peer_sans: string[];
  hostname: string | null;
  app_name: string | null;
  severity: unknown;
  facility: unknown;
  message: string | null;
  parse_error: string | null;
  raw: Buffer;
  received_at: Date;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Rows whose raw bytes contain `run` and that came from `peerCn`, in ledger order. */
export async function rowsOfRun(url: string, peerCn: string, run: string): Promise<LedgerRow[]> {
  const rows = await query<Row>(
    url,
    `SELECT chain, seq, format, peer_cn, peer_sans, hostname, app_name, syslog->'severity' AS severity,
            syslog->'facility' AS facility, syslog->>'message' AS message, parse_error, raw, received_at
       FROM ledger_rows
      WHERE peer_cn = $1 AND position(convert_to($2, 'UTF8') in raw) > 0
      ORDER BY chain, seq`,
    [peerCn, run],
  );
  return rows.map((r) => ({
    chain: r.chain,
    seq: Number(r.seq),
    format: r.format,
    peerCn: r.peer_cn,
    peerSans: r.peer_sans,
    hostname: r.hostname,
    appName: r.app_name,
    severity: num(r.severity),
    facility: num(r.facility),
    message: r.message,
    parseError: r.parse_error,
    raw: r.raw.toString('utf8'),
    receivedAt: r.received_at,
  }));
}

/** Rows from `peerCn` that do not belong to the run (e.g. the client's own status messages). */
export async function otherRowsFrom(url: string, peerCn: string, run: string): Promise<Array<{ appName: string | null; message: string | null }>> {
  const rows = await query<{ app_name: string | null; message: string | null }>(
    url,
    `SELECT app_name, syslog->>'message' AS message FROM ledger_rows
      WHERE peer_cn = $1 AND position(convert_to($2, 'UTF8') in raw) = 0 ORDER BY received_at, seq`,
    [peerCn, run],
  );
  return rows.map((r) => ({ appName: r.app_name, message: r.message }));
}

export async function countOfRun(url: string, peerCn: string, run: string): Promise<number> {
  return (await progressOfRun(url, peerCn, run)).count;
}

/** How many rows of the run are in the ledger, and when the last one was received. */
export async function progressOfRun(url: string, peerCn: string, run: string): Promise<{ count: number; lastReceived: Date | null }> {
  const rows = await query<{ n: string; last: Date | null }>(
    url,
    `SELECT count(*) AS n, max(received_at) AS last FROM ledger_rows WHERE peer_cn = $1 AND position(convert_to($2, 'UTF8') in raw) > 0`,
    [peerCn, run],
  );
  return { count: Number(rows[0]!.n), lastReceived: rows[0]!.last };
}

/**
 * Polls until at least `n` rows of the run are in the ledger and the count has not moved for
 * `settleMs` (so late duplicates are seen too), or until nothing new arrived for `idleMs`, or
 * `timeoutMs` passed. With `resumedAfter` (the moment a restarted server was up again), a count
 * below `n` is final once a row received after that moment exists and the count has not moved
 * for `settleMs`: the client has reconnected and flushed its queue, so whatever is still missing
 * was lost. Returns the last count and when it first reached `n` (ms since the call).
 */
export async function waitForRun(
  url: string,
  peerCn: string,
  run: string,
  n: number,
  opts: { settleMs?: number; idleMs?: number; timeoutMs?: number; stepMs?: number; resumedAfter?: Date } = {},
): Promise<{ count: number; reachedAfterMs: number | null; waitedMs: number }> {
  const settleMs = opts.settleMs ?? 1500;
  const idleMs = opts.idleMs ?? 20_000;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const stepMs = opts.stepMs ?? 200;
  const t0 = Date.now();
  let last = -1;
  let lastChange = t0;
  let reachedAfterMs: number | null = null;
  for (;;) {
    const { count, lastReceived } = await progressOfRun(url, peerCn, run);
    const now = Date.now();
    if (count !== last) {
      last = count;
      lastChange = now;
    }
    if (count >= n && reachedAfterMs === null) reachedAfterMs = now - t0;
    if (count >= n && now - lastChange >= settleMs) break;
    const resumed = opts.resumedAfter !== undefined && lastReceived !== null && lastReceived.getTime() >= opts.resumedAfter.getTime();
    if (resumed && now - lastChange >= Math.max(settleMs, 5000)) break;
    if (now - lastChange >= idleMs || now - t0 >= timeoutMs) break;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return { count: last, reachedAfterMs, waitedMs: Date.now() - t0 };
}

/** What arrived compared with what was written. */
export interface Tally {
  readonly written: number;
  readonly received: number;
  /** Indexes of written lines never received. */
  readonly missing: readonly number[];
  /** Extra copies received (a line received 3 times counts 2). */
  readonly duplicates: number;
  /** Indexes of lines received more than once. */
  readonly duplicated: readonly number[];
  /** Received messages that are not any written line (mangled). */
  readonly unknown: readonly string[];
  /** First receptions that came after a later line's first reception. */
  readonly outOfOrder: number;
}

export function tally(written: readonly string[], received: ReadonlyArray<string | null>): Tally {
  const index = new Map<string, number>();
  written.forEach((l, i) => index.set(l, i));
  const seen = new Uint32Array(written.length);
  const unknown: string[] = [];
  let outOfOrder = 0;
  let highest = -1;
  for (const m of received) {
    const i = m === null ? undefined : index.get(m);
    if (i === undefined) {
      unknown.push(String(m));
      continue;
    }
    if (seen[i] === 0) {
      if (i < highest) outOfOrder++;
      highest = Math.max(highest, i);
    }
    seen[i]!++;
  }
  const missing: number[] = [];
  const duplicated: number[] = [];
  let duplicates = 0;
  seen.forEach((c, i) => {
    if (c === 0) missing.push(i);
    if (c > 1) {
      duplicated.push(i);
      duplicates += c - 1;
    }
  });
  return { written: written.length, received: received.length, missing, duplicates, duplicated, unknown, outOfOrder };
}

/** `[first..last]` ranges of sorted indexes, for short reports. */
export function ranges(indexes: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indexes.length; ) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j]! + 1) j++;
    parts.push(i === j ? `${indexes[i]}` : `${indexes[i]}-${indexes[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
