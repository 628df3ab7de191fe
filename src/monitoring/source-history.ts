/**
 * What the ledger says about its sources, read with bounded, indexed queries: at `serve` start (the
 * expected set, each source's last event, the silences left open) and for `syslog-ledger coverage`.
 *
 * The sources of a time range come from a skip scan over `ledger_source_idx` (migrations/003_views.sql,
 * the same walk as the `source_last_event` view): one index probe per distinct (peer CN, HOSTNAME)
 * pair, restricted to the range, so the cost grows with the number of senders and the partitions the
 * range touches, not with the number of events. Rows the server wrote itself (format `internal`,
 * peer `syslog-ledger`) are not sources.
 */
import { isoMicros } from '../ledger/copy.js';
import { SERVER_PEER } from '../ledger/internal-record.js';
import type { Queryable } from '../checkpoints/merkle-store.js';
import { peerSourceName, type SourceHistory } from './sources.js';

/** Most (peer, HOSTNAME) pairs one query walks; beyond it the result says `truncated`. */
export const MAX_SOURCE_PAIRS = 100_000;

/** One (peer CN, HOSTNAME) pair that sent within a range, with its last event in the range. */
export interface SourcePair {
  /** `coalesce(peer_cn, '')` and `coalesce(hostname, '')`: the key of `ledger_source_idx`. */
  readonly peerKey: string;
  readonly hostKey: string;
  /** The pair's sources: the peer's name (CN, or first SAN) and the HOSTNAME when it differs. */
  readonly peerName: string | null;
  readonly hostname: string | null;
  /** Receive time of the pair's last event in the range, µs since the epoch. */
  readonly lastUs: number;
}

/**
 * The skip scans: every distinct pair with a row received in [$1, $2), then the last event of each.
 * Rows written before ledger format v3 carry their peer (`ledger_source_idx`, partial: those rows);
 * v3 rows carry their connection (`ledger_conn_source_idx` on (conn, host, received_at)), whose
 * peer is in ledger_connections: the (conn, host) pairs are walked, then merged by (peer, host).
 * `received_at` bounds let PostgreSQL prune the partitions outside the range.
 */
export const SOURCE_PAIRS_SQL = `
WITH RECURSIVE legacy(peer, host) AS (
  (SELECT coalesce(peer_cn, ''), coalesce(hostname, '')
     FROM ledger
    WHERE conn IS NULL AND received_at >= $1::timestamptz AND received_at < $2::timestamptz
    ORDER BY coalesce(peer_cn, ''), coalesce(hostname, '')
    LIMIT 1)
  UNION ALL
  SELECT nxt.peer, nxt.host
    FROM legacy p
    CROSS JOIN LATERAL (
      SELECT coalesce(l.peer_cn, '') AS peer, coalesce(l.hostname, '') AS host
        FROM ledger l
       WHERE l.conn IS NULL AND (coalesce(l.peer_cn, ''), coalesce(l.hostname, '')) > (p.peer, p.host)
         AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
       ORDER BY coalesce(l.peer_cn, ''), coalesce(l.hostname, '')
       LIMIT 1) nxt
),
v3(conn, host) AS (
  (SELECT conn, coalesce(hostname, '')
     FROM ledger
    WHERE conn IS NOT NULL AND received_at >= $1::timestamptz AND received_at < $2::timestamptz
    ORDER BY conn, coalesce(hostname, '')
    LIMIT 1)
  UNION ALL
  SELECT nxt.conn, nxt.host
    FROM v3 p
    CROSS JOIN LATERAL (
      SELECT l.conn, coalesce(l.hostname, '') AS host
        FROM ledger l
       WHERE l.conn IS NOT NULL AND (l.conn, coalesce(l.hostname, '')) > (p.conn, p.host)
         AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
       ORDER BY l.conn, coalesce(l.hostname, '')
       LIMIT 1) nxt
),
found(peer, host, us, peer_sans) AS (
  SELECT p.peer, p.host, last.us, last.peer_sans
    FROM legacy p
    CROSS JOIN LATERAL (
      SELECT (extract(epoch FROM l.received_at) * 1000000)::bigint AS us, l.peer_sans
        FROM ledger l
       WHERE l.conn IS NULL AND coalesce(l.peer_cn, '') = p.peer AND coalesce(l.hostname, '') = p.host
         AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
         AND l.format <> 'internal'
       ORDER BY l.received_at DESC, l.seq DESC
       LIMIT 1) last
  UNION ALL
  SELECT coalesce(c.peer_cn, ''), p.host, last.us, c.peer_sans
    FROM v3 p
    JOIN ledger_connections c ON c.conn = p.conn
    CROSS JOIN LATERAL (
      SELECT (extract(epoch FROM l.received_at) * 1000000)::bigint AS us
        FROM ledger l
       WHERE l.conn = c.conn AND coalesce(l.hostname, '') = p.host AND l.chain = c.chain
         AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
         AND l.format <> 'internal'
       ORDER BY l.received_at DESC
       LIMIT 1) last
)
SELECT peer, host, last_us, peer_sans
  FROM (SELECT DISTINCT ON (peer, host) peer, host, us::text AS last_us, us, peer_sans
          FROM found WHERE peer <> $3 ORDER BY peer, host, us DESC) d
 ORDER BY peer, host
 LIMIT $4`;

/**
 * The receive times of a pair's events, legacy rows and v3 rows alike, for "first after" and
 * "last before": each v3 connection of the peer probed on ledger_conn_source_idx.
 */
function pairEventsSql(order: 'ASC' | 'DESC', where: string): string {
  return `SELECT us::text AS us FROM (
    (SELECT (extract(epoch FROM received_at) * 1000000)::bigint AS us
       FROM ledger
      WHERE conn IS NULL AND coalesce(peer_cn, '') = $1 AND coalesce(hostname, '') = $2 AND ${where} AND format <> 'internal'
      ORDER BY received_at ${order}, seq ${order}
      LIMIT 1)
    UNION ALL
    SELECT x.us FROM ledger_connections c
      CROSS JOIN LATERAL (
        SELECT (extract(epoch FROM l.received_at) * 1000000)::bigint AS us
          FROM ledger l
         WHERE l.conn = c.conn AND l.chain = c.chain AND coalesce(l.hostname, '') = $2 AND ${where.replaceAll('received_at', 'l.received_at')} AND l.format <> 'internal'
         ORDER BY l.received_at ${order}
         LIMIT 1) x
     WHERE coalesce(c.peer_cn, '') = $1) e
   ORDER BY e.us ${order}
   LIMIT 1`;
}

/** The pairs with events received in [fromUs, toUs). */
export async function sourcePairs(db: Queryable, fromUs: number, toUs: number, limit = MAX_SOURCE_PAIRS): Promise<{ pairs: SourcePair[]; truncated: boolean }> {
  const r = await db.query<{ peer: string; host: string; last_us: string; peer_sans: string[] }>(SOURCE_PAIRS_SQL, [isoMicros(fromUs), isoMicros(toUs), SERVER_PEER.cn, limit + 1]);
  const rows = r.rows.slice(0, limit);
  const pairs = rows.map((row) => {
    const peerName = peerSourceName({ cn: row.peer || null, sans: row.peer_sans });
    const hostname = row.host === '' || row.host === peerName ? null : row.host;
    return { peerKey: row.peer, hostKey: row.host, peerName, hostname, lastUs: Number(row.last_us) };
  });
  return { pairs, truncated: r.rows.length > limit };
}

/** Receive time (µs) of the pair's first event after `afterUs` (and before `beforeUs`, if given), or null. */
export async function firstEventOfPair(db: Queryable, pair: SourcePair, afterUs: number, beforeUs?: number): Promise<number | null> {
  const r = await db.query<{ us: string }>(
    pairEventsSql('ASC', 'received_at > $3::timestamptz AND ($4::timestamptz IS NULL OR received_at < $4::timestamptz)'),
    [pair.peerKey, pair.hostKey, isoMicros(afterUs), beforeUs === undefined ? null : isoMicros(beforeUs)],
  );
  return r.rows[0] ? Number(r.rows[0].us) : null;
}

/** Receive time (µs) of the pair's last event before `beforeUs`, or null. */
export async function lastEventOfPairBefore(db: Queryable, pair: SourcePair, beforeUs: number): Promise<number | null> {
  const r = await db.query<{ us: string }>(pairEventsSql('DESC', 'received_at < $3::timestamptz'), [pair.peerKey, pair.hostKey, isoMicros(beforeUs)]);
  return r.rows[0] ? Number(r.rows[0].us) : null;
}

/** The sources a pair speaks for. */
export function sourcesOfPair(pair: SourcePair): Array<{ source: string; peer: boolean }> {
  const out: Array<{ source: string; peer: boolean }> = [];
  if (pair.peerName !== null) out.push({ source: pair.peerName, peer: true });
  if (pair.hostname !== null) out.push({ source: pair.hostname, peer: false });
  return out;
}

/** A silence finding (`source_silent`, `source_resumed`, `source_forgotten`) read back from the ledger. */
export interface SilenceFindingRow {
  readonly source: string;
  readonly kind: 'silent' | 'resumed' | 'forgotten';
  readonly atUs: number;
  readonly silentSinceUs: number | null;
  readonly resumedAtUs: number | null;
}

/**
 * The silence findings received in [fromUs, toUs), in ledger order; `chain` restricts them to one
 * server's. Reads the Detection Finding rows (class 2004, `ledger_class_status_idx`) of the range's
 * partitions only.
 */
export async function silenceFindings(db: Queryable, fromUs: number, toUs: number, chain?: string): Promise<SilenceFindingRow[]> {
  const r = await db.query<{ src: string; kind: string; at_us: string; since_us: string | null; resumed_us: string | null }>(
    `SELECT l.event #>> '{unmapped,syslog_ledger_finding,source}' AS src,
            l.event #>> '{unmapped,syslog_ledger_finding,kind}' AS kind,
            (extract(epoch FROM l.received_at) * 1000000)::bigint::text AS at_us,
            l.event #>> '{unmapped,syslog_ledger_finding,silent_since_us}' AS since_us,
            l.event #>> '{unmapped,syslog_ledger_finding,resumed_at_us}' AS resumed_us
       FROM ledger_rows l
      WHERE l.class_uid = 2004 AND l.format = 'internal'
        AND l.received_at >= $1::timestamptz AND l.received_at < $2::timestamptz
        AND ($3::text IS NULL OR l.chain = $3)
        AND l.event #>> '{finding_info,types,0}' IN ('source_silent', 'source_resumed', 'source_forgotten')
      ORDER BY l.received_at, l.chain, l.seq`,
    [isoMicros(fromUs), isoMicros(toUs), chain ?? null],
  );
  return r.rows
    .filter((row) => row.src !== null && (row.kind === 'silent' || row.kind === 'resumed' || row.kind === 'forgotten'))
    .map((row) => ({
      source: row.src,
      kind: row.kind as SilenceFindingRow['kind'],
      atUs: Number(row.at_us),
      silentSinceUs: row.since_us === null ? null : Number(row.since_us),
      resumedAtUs: row.resumed_us === null ? null : Number(row.resumed_us),
    }));
}

export interface LoadSourceHistoryOptions {
  /** The server's chain: the silences it left open are its own findings. */
  readonly chain: string;
  /** How far back sources count (the learning window; 7 days when learning is off). */
  readonly lookbackSec: number;
  /** Now, µs since the epoch (tests pin it). */
  readonly nowUs?: number;
  readonly limit?: number;
}

/**
 * The tracker's start state: the last event of every source that sent within the look-back, and
 * the silences this chain recorded as started and not ended (looked for over twice the look-back).
 */
export async function loadSourceHistory(db: Queryable, o: LoadSourceHistoryOptions): Promise<SourceHistory & { pairs: number; truncated: boolean }> {
  const nowUs = o.nowUs ?? Date.now() * 1000;
  const fromUs = nowUs - o.lookbackSec * 1e6;
  // A little past now: rows received in the same microsecond, or from a clock slightly ahead.
  const { pairs, truncated } = await sourcePairs(db, fromUs, nowUs + 60e6, o.limit);
  const last = new Map<string, { source: string; lastEventUs: number; peer: boolean }>();
  for (const pair of pairs) {
    for (const { source, peer } of sourcesOfPair(pair)) {
      const prior = last.get(source);
      if (!prior) last.set(source, { source, lastEventUs: pair.lastUs, peer });
      else last.set(source, { source, lastEventUs: Math.max(prior.lastEventUs, pair.lastUs), peer: prior.peer || peer });
    }
  }
  const latest = new Map<string, SilenceFindingRow>();
  for (const f of await silenceFindings(db, nowUs - 2 * o.lookbackSec * 1e6, nowUs + 60e6, o.chain)) latest.set(f.source, f);
  const openSilences: Array<SourceHistory['openSilences'][number]> = [];
  for (const f of latest.values()) {
    if (f.kind !== 'silent') continue;
    // Events after the silence began (a crash between their commit and the `resumed` finding).
    let firstEventAfterUs: number | null = null;
    if (f.silentSinceUs !== null) {
      const since = f.silentSinceUs;
      for (const pair of pairs) {
        if (pair.lastUs <= since || !sourcesOfPair(pair).some((s) => s.source === f.source)) continue;
        const us = await firstEventOfPair(db, pair, since);
        if (us !== null && (firstEventAfterUs === null || us < firstEventAfterUs)) firstEventAfterUs = us;
      }
    }
    openSilences.push({ source: f.source, silentSinceUs: f.silentSinceUs, firstEventAfterUs });
  }
  return { lastEvents: [...last.values()], openSilences, pairs: pairs.length, truncated };
}
