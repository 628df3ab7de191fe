/**
 * Recomputes every chain from the stored rows and reports what does not add up, each finding with
 * its chain and seq. Streams with a server-side cursor (constant memory, whatever the ledger size).
 *
 * Per row: seq follows the previous one (no gap, no reordering), prev_hash is the previous row's
 * hash (no row removed or inserted), hash = SHA-256(prev_hash || canonical(row)) (no field changed,
 * raw bytes included), and the lifted filter columns agree with the event they were lifted from.
 * Per chain: the head recorded in `chains` is the last row. Signed checkpoints (truncation, re-chaining)
 * are checked by the checkpoint verifier fed through `onRow`.
 */
import pg from 'pg';
import { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { Format, ParsedMessage, SyslogFields } from '../parsing/types.js';
import { retentionBoundaries, type RetentionTrust } from '../retention/boundaries.js';
import { canonicalJson, chainHash } from './canonical.js';
import { rfc3339ToUtcMicros } from './time.js';
import { ZERO_HASH } from './types.js';

export const FINDING_KINDS = [
  'hash_mismatch', 'broken_link', 'seq_gap', 'seq_order', 'column_mismatch', 'head_mismatch', 'unreadable_row',
  'checkpoint_mismatch', 'checkpoint_signature', 'checkpoint_truncation', 'checkpoint_file',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  readonly chain: string;
  readonly seq: number;
  readonly kind: FindingKind;
  readonly detail: string;
}

/** A row as verify reads it back. */
export interface StoredRow {
  chain: string;
  seq: number;
  receivedAtUs: number;
  peerCn: string | null;
  peerSans: string[];
  peerAddr: string;
  format: string;
  truncated: boolean;
  parseError: string | null;
  raw: Buffer;
  syslogText: string;
  eventText: string;
  lifted: {
    event_time: string | null;
    hostname: string | null;
    app_name: string | null;
    class_uid: number;
    activity_id: number;
    status_id: number;
    severity_id: number;
    user_name: string | null;
    actor_user: string | null;
    src_ip: string | null;
  };
  prevHash: Buffer;
  hash: Buffer;
}

const SELECT = `SELECT chain, seq, (extract(epoch FROM received_at) * 1000000)::bigint AS us, peer_cn, peer_sans, peer_addr,
  format, truncated, parse_error, raw, syslog::text AS syslog, event::text AS event,
  to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS event_time, hostname, app_name,
  class_uid, activity_id, status_id, severity_id, user_name, actor_user, host(src_ip) AS src_ip, prev_hash, hash
  FROM ledger WHERE chain = $1 AND seq >= $2 ORDER BY seq`;

interface DbRow {
  chain: string;
  seq: string;
  us: string;
  peer_cn: string | null;
  peer_sans: string[];
  peer_addr: string;
  format: string;
  truncated: boolean;
  parse_error: string | null;
  raw: Buffer;
  syslog: string;
  event: string;
  event_time: string | null;
  hostname: string | null;
  app_name: string | null;
  class_uid: number;
  activity_id: number;
  status_id: number;
  severity_id: number;
  user_name: string | null;
  actor_user: string | null;
  src_ip: string | null;
  prev_hash: Buffer;
  hash: Buffer;
}

function toStored(r: DbRow): StoredRow {
  return {
    chain: r.chain,
    seq: Number(r.seq),
    receivedAtUs: Number(r.us),
    peerCn: r.peer_cn,
    peerSans: r.peer_sans,
    peerAddr: r.peer_addr,
    format: r.format,
    truncated: r.truncated,
    parseError: r.parse_error,
    raw: r.raw,
    syslogText: r.syslog,
    eventText: r.event,
    lifted: {
      event_time: r.event_time,
      hostname: r.hostname,
      app_name: r.app_name,
      class_uid: r.class_uid,
      activity_id: r.activity_id,
      status_id: r.status_id,
      severity_id: r.severity_id,
      user_name: r.user_name,
      actor_user: r.actor_user,
      src_ip: r.src_ip,
    },
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** Streams one chain's rows in seq order, `batch` at a time, through a cursor closed in `finally`. */
export async function* readChain(client: pg.Client, chain: string, fromSeq = 1, batch = 5000): AsyncGenerator<StoredRow[]> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await client.query(`DECLARE ledger_cur NO SCROLL CURSOR FOR ${SELECT}`, [chain, fromSeq]);
    for (;;) {
      const res = await client.query<DbRow>(`FETCH ${batch} FROM ledger_cur`);
      if (res.rows.length === 0) break;
      yield res.rows.map(toStored);
    }
  } finally {
    await client.query('COMMIT').catch(() => {});
  }
}

/** The recomputed hash of a stored row, given the prev_hash to chain from. */
export function recomputeHash(prevHash: Buffer, row: StoredRow): { hash: Buffer; syslog: SyslogFields; event: OcsfEvent } {
  const syslog = JSON.parse(row.syslogText) as SyslogFields;
  const event = JSON.parse(row.eventText) as OcsfEvent;
  const hash = chainHash(prevHash, {
    chain: row.chain,
    seq: row.seq,
    receivedAtUs: row.receivedAtUs,
    peerCn: row.peerCn,
    peerSans: row.peerSans,
    peerAddr: row.peerAddr,
    format: row.format,
    truncated: row.truncated,
    parseError: row.parseError,
    raw: row.raw,
    syslogJson: canonicalJson(syslog),
    eventJson: canonicalJson(event),
  });
  return { hash, syslog, event };
}

/** Compares the stored lifted columns with what the event gives; returns the names that differ. */
export function liftedMismatches(row: StoredRow, syslog: SyslogFields, event: OcsfEvent): string[] {
  const parsed = { format: row.format as Format, syslog, parse_error: row.parseError, parse_error_reason: null } as ParsedMessage;
  const want = liftColumns(event, parsed);
  const got = row.lifted;
  const bad: string[] = [];
  const wantTime = want.event_time === null ? null : rfc3339ToUtcMicros(want.event_time);
  if (got.event_time !== null && wantTime !== got.event_time) bad.push('event_time');
  if (got.event_time === null && wantTime !== null) {
    // A lifted time PostgreSQL refused is written as NULL (writer's data-error fallback); not tampering.
  }
  for (const k of ['hostname', 'app_name', 'class_uid', 'activity_id', 'status_id', 'severity_id', 'user_name', 'actor_user'] as const) {
    if (want[k] !== got[k]) bad.push(k);
  }
  if (got.src_ip !== null && (want.src_ip === null || !sameIp(want.src_ip, got.src_ip))) bad.push('src_ip');
  return bad;
}

function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  return a.includes(':') && b.includes(':') && expandV6(a) === expandV6(b);
}

function expandV6(ip: string): string {
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = ip.includes('::') ? new Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}

export interface VerifyOptions {
  readonly chain?: string;
  readonly fromSeq?: number;
  /** Every row, in order, with its verified (or stored) hash: for checkpoint and Merkle checks. */
  readonly onRow?: (chain: string, seq: number, hash: Buffer) => void;
  readonly onProgress?: (rows: number) => void;
  /** Stop collecting after this many findings (the count goes on). */
  readonly maxFindings?: number;
  /** Which retention records to believe about archived chain prefixes (docs/retention.md); default: the latest. */
  readonly retention?: RetentionTrust;
}

export interface VerifyReport {
  chains: number;
  rows: number;
  findings: Finding[];
  findingCount: number;
  heads: Record<string, { seq: number; hash: string }>;
  elapsedMs: number;
}

export async function verifyLedger(databaseUrl: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger verify' });
  await client.connect();
  const findings: Finding[] = [];
  let findingCount = 0;
  const max = opts.maxFindings ?? 1000;
  const report = (f: Finding): void => {
    findingCount++;
    if (findings.length < max) findings.push(f);
  };
  let rows = 0;
  const heads: VerifyReport['heads'] = {};
  try {
    const chainRows = await client.query<{ chain: string; head_seq: string; head_hash: Buffer }>(
      opts.chain ? 'SELECT chain, head_seq, head_hash FROM chains WHERE chain = $1' : 'SELECT chain, head_seq, head_hash FROM chains ORDER BY chain',
      opts.chain ? [opts.chain] : [],
    );
    // Rows of chains that have no `chains` entry are suspicious too: verify them as well.
    const orphan = await client.query<{ chain: string }>('SELECT DISTINCT chain FROM ledger WHERE chain <> ALL($1::text[])', [chainRows.rows.map((r) => r.chain)]);
    const chains = [
      ...chainRows.rows.map((r) => ({ chain: r.chain, headSeq: Number(r.head_seq), headHash: r.head_hash as Buffer | null })),
      ...orphan.rows.filter((r) => !opts.chain || r.chain === opts.chain).map((r) => ({ chain: r.chain, headSeq: -1, headHash: null })),
    ];
    // Chains whose oldest rows were archived start where a retention record vouches (seq and prev_hash).
    const boundaries = opts.fromSeq ? undefined : await retentionBoundaries(client, opts.retention);
    for (const c of chains) {
      const from = opts.fromSeq ?? 1;
      const b = boundaries?.get(c.chain);
      let expectSeq = b?.firstSeq ?? from;
      let prevStored: Buffer | null = b?.prevHash ?? (from === 1 ? ZERO_HASH : null);
      let lastSeq = expectSeq - 1;
      let lastHash: Buffer | null = b?.prevHash ?? null;
      if (c.headSeq < 0) report({ chain: c.chain, seq: 0, kind: 'head_mismatch', detail: 'rows exist for a chain with no head record' });
      for await (const batch of readChain(client, c.chain, from)) {
        for (const row of batch) {
          rows++;
          if (row.seq !== expectSeq) {
            report({
              chain: c.chain,
              seq: row.seq,
              kind: row.seq > expectSeq ? 'seq_gap' : 'seq_order',
              detail: row.seq > expectSeq ? `seq ${expectSeq}..${row.seq - 1} missing` : `seq ${row.seq} after ${expectSeq - 1}`,
            });
          }
          if (prevStored && !row.prevHash.equals(prevStored)) {
            report({ chain: c.chain, seq: row.seq, kind: 'broken_link', detail: 'prev_hash is not the previous row\'s hash' });
          }
          try {
            const { hash, syslog, event } = recomputeHash(row.prevHash, row);
            if (!hash.equals(row.hash)) {
              report({ chain: c.chain, seq: row.seq, kind: 'hash_mismatch', detail: 'row content does not match its hash' });
            }
            const bad = liftedMismatches(row, syslog, event);
            if (bad.length) report({ chain: c.chain, seq: row.seq, kind: 'column_mismatch', detail: `columns disagree with event: ${bad.join(', ')}` });
          } catch (err) {
            report({ chain: c.chain, seq: row.seq, kind: 'unreadable_row', detail: (err as Error).message });
          }
          opts.onRow?.(c.chain, row.seq, row.hash);
          prevStored = row.hash;
          expectSeq = row.seq + 1;
          lastSeq = row.seq;
          lastHash = row.hash;
        }
        opts.onProgress?.(rows);
      }
      if (c.headSeq >= 0 && !opts.fromSeq) {
        if (c.headSeq !== lastSeq || (lastHash && c.headHash && !lastHash.equals(c.headHash))) {
          report({ chain: c.chain, seq: lastSeq, kind: 'head_mismatch', detail: `chain head says seq ${c.headSeq}, last row is ${lastSeq}` });
        }
      }
      heads[c.chain] = { seq: lastSeq, hash: (lastHash ?? ZERO_HASH).toString('hex') };
    }
    return { chains: chains.length, rows, findings, findingCount, heads, elapsedMs: Date.now() - started };
  } finally {
    await client.end();
  }
}
