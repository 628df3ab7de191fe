/**
 * After a restart, the candidates of resend recognition (src/relp/resends.ts) come from the
 * database: the tails of the RELP sessions the previous process stored last. Frames whose
 * acknowledgement a crash swallowed are the last ones those sessions committed.
 *
 * The one place that knows how the ledger says "RELP" and "which session": `readRelpTails`. Each
 * format v3 row names its connection (`conn`, a row of `ledger_connections`), and a RELP session is
 * one connection with `transport = 'relp'`. Plain-TCP rows of the same certificate never become
 * candidates; nor do rows written before format v3, which do not record their transport.
 */
import pg from 'pg';
import { sql } from 'kysely';
import { db, run } from '../ledger/db.js';
import { CHAIN_LOCK_PREFIX } from '../ledger/writer.js';
import { DIGEST_BYTES, SessionTail, StreamFrame, TAIL_FRAMES, UNKNOWN_DIGEST, type ResendIndex } from './resends.js';

/** Rows read back from the chain's tail at start. */
export const SEED_ROWS = 100_000;
/** Sessions per peer taken from the database: the most recent ones (by their last row). */
export const SEED_SESSIONS_PER_PEER = 8;

/** One stored RELP session's last frames, oldest first. */
export interface StoredRelpTail {
  readonly peer: string;
  readonly session: string;
  /** Digests of the frames as received (UNKNOWN_DIGEST for a row stored redacted). */
  readonly digests: string[];
  /** seq of its last row. */
  readonly lastSeq: number;
}

/**
 * The last TAIL_FRAMES frames of each RELP session among the chain's last `rows` rows, at most
 * SEED_SESSIONS_PER_PEER sessions per peer (the most recent), in seq order.
 */
export async function readRelpTails(client: pg.ClientBase, chain: string, rows = SEED_ROWS): Promise<StoredRelpTail[]> {
  const found = await run(
    client,
    db
      .selectFrom('ledger as l')
      .innerJoin('ledger_connections as c', (j) => j.onRef('c.chain', '=', 'l.chain').onRef('c.conn', '=', 'l.conn'))
      .select([
        sql<string>`coalesce(c.peer_cn, c.peer_sans[1], '')`.as('peer'),
        sql<string>`l.conn::text`.as('session'),
        sql<Buffer>`substring(sha256(l.raw) from 1 for ${sql.lit(DIGEST_BYTES)})`.as('d'),
        sql<boolean>`(coalesce(l.ocsf, l.event) -> 'raw_hmac') IS NOT NULL`.as('redacted'),
        sql<string>`l.seq::text`.as('seq'),
      ])
      .where('l.chain', '=', chain)
      .where('c.transport', '=', 'relp')
      .where(sql<boolean>`l.seq > (SELECT head_seq FROM chains WHERE chain = ${chain}) - ${rows}`)
      .orderBy('l.seq'),
  );
  const sessions = new Map<string, { peer: string; session: string; digests: string[]; lastSeq: number }>();
  for (const r of found) {
    const id = `${r.peer}\0${r.session}`;
    let s = sessions.get(id);
    if (!s) sessions.set(id, (s = { peer: r.peer, session: r.session, digests: [], lastSeq: 0 }));
    // Redacted rows store masked bytes: what the client resends is unknown, so nothing matches them.
    s.digests.push(r.redacted ? UNKNOWN_DIGEST : r.d.toString('latin1'));
    s.lastSeq = Number(r.seq);
  }
  const byPeer = new Map<string, StoredRelpTail[]>();
  for (const s of sessions.values()) {
    let list = byPeer.get(s.peer);
    if (!list) byPeer.set(s.peer, (list = []));
    list.push({ ...s, digests: s.digests.length > TAIL_FRAMES ? s.digests.slice(-TAIL_FRAMES) : s.digests });
  }
  const out: StoredRelpTail[] = [];
  for (const list of byPeer.values()) out.push(...list.sort((a, b) => b.lastSeq - a.lastSeq).slice(0, SEED_SESSIONS_PER_PEER));
  return out.sort((a, b) => a.lastSeq - b.lastSeq);
}

/** Seeds `index` with the stored tails; returns how many sessions became candidates. */
export async function seedResends(index: ResendIndex, client: pg.ClientBase, chain: string, rows = SEED_ROWS): Promise<number> {
  const tails = await readRelpTails(client, chain, rows);
  for (const t of tails) index.add(new SessionTail(t.peer, t.digests.map((d) => new StreamFrame(d, true))));
  return tails.length;
}

/**
 * Several servers behind a balancer (docs/operations.md): a server killed outright leaves its RELP
 * sessions' committed-but-unacknowledged frames in its own chain, and the client resends them to
 * whichever server the balancer picks next. So before a new session reads its first frame, the
 * server adopts, once per head, the RELP tails of every other chain whose writer is gone (nobody
 * holds the chain's advisory lock, src/ledger/writer.ts): the resend is then recognized here too.
 *
 * A writer that is alive but cut off from its client (a partition between balancer and server)
 * still holds its lock: its tail is not adopted, and what the client resends elsewhere is stored
 * twice (at most omrelp's window), never lost. A chain adopted at a head that moves on (its writer
 * came back) is read again at the next session.
 */
export class OrphanTails {
  readonly #pool: pg.Pool;
  readonly #index: ResendIndex;
  readonly #own: string;
  readonly #onAdopt: (chain: string, sessions: number) => void;
  /** chain -> head_seq its tails were read at. */
  readonly #seen = new Map<string, string>();
  readonly #adopted = new Set<string>();
  #current: Promise<void> = Promise.resolve();
  #queued: Promise<void> | undefined;

  /** Its one connection closes itself when idle (2 s): nothing to close at shutdown. */
  constructor(o: { databaseUrl: string; index: ResendIndex; ownChain: string; onAdopt: (chain: string, sessions: number) => void }) {
    // Sessions wait for it: bounded, so an unreachable database delays them by seconds, not minutes.
    this.#pool = new pg.Pool({
      connectionString: o.databaseUrl,
      max: 1,
      idleTimeoutMillis: 2000,
      connectionTimeoutMillis: 5000,
      allowExitOnIdle: true,
      application_name: 'syslog-ledger relp adopt',
      options: '-c statement_timeout=10000',
    });
    this.#pool.on('error', () => undefined);
    this.#index = o.index;
    this.#own = o.ownChain;
    this.#onAdopt = o.onAdopt;
  }

  /**
   * Looks for chains whose writer is gone and adopts their RELP tails. Concurrent callers share one
   * pending check, which starts after the running one: a session always waits for a check that
   * began after it opened.
   */
  check(): Promise<void> {
    if (this.#queued) return this.#queued;
    const q = this.#current.then(() => {
      this.#queued = undefined;
      return this.#check();
    });
    this.#queued = q;
    this.#current = q.catch(() => undefined);
    return q;
  }

  async #check(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      const orphans = await run(
        client,
        db
          .selectFrom('chains as c')
          .select(['c.chain', sql<string>`c.head_seq::text`.as('head')])
          .where('c.chain', '<>', this.#own)
          .where(sql<boolean>`c.head_seq > 0`)
          // pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low), objsubid 1.
          .where(sql<boolean>`NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND ((l.classid::int8 << 32) | l.objid::int8) = hashtextextended(${CHAIN_LOCK_PREFIX}::text || c.chain, 0))`),
      );
      for (const o of orphans) {
        if (this.#seen.get(o.chain) === o.head) continue;
        let sessions = 0;
        for (const t of await readRelpTails(client, o.chain)) {
          const id = `${o.chain}\0${t.session}`;
          if (this.#adopted.has(id)) continue;
          this.#adopted.add(id);
          this.#index.add(new SessionTail(t.peer, t.digests.map((d) => new StreamFrame(d, true))));
          sessions++;
        }
        this.#seen.set(o.chain, o.head);
        if (sessions > 0) this.#onAdopt(o.chain, sessions);
      }
    } finally {
      client.release();
    }
  }
}
