/**
 * Recognizes RELP resends. On every reconnect librelp opens a new session (TXNR back to 1) and
 * first resends, byte-identical and in their original order, every frame it has not seen
 * acknowledged (librelp relpsess.c `relpSessTryReestablish`; ../shared/research/relp.md §4). Some
 * of those were committed here: their acknowledgement was lost in a crash or a broken connection.
 *
 * Those frames are the unacknowledged suffix of what the session sent, so the ones already stored
 * form a prefix of the resend: a new session's leading frames are checked, one by one, against
 * what the same peer committed recently (or has pending in the writer), and the check ends at the
 * first frame that is new. Only that leading run ("the resend span") is ever compared, so a
 * message that merely repeats an earlier one later in a session is stored as usual.
 *
 * What a peer recently committed is kept per peer as a ring of 8-byte SHA-256 prefixes of the
 * stored frame bytes (the ledger's `raw`). The ring survives a restart because `seed` rebuilds it
 * from the tail of the chain in the database (`sha256(raw)` computed by PostgreSQL): frames whose
 * ack a crash swallowed are the last ones the previous process committed.
 */
import { hash } from 'node:crypto';
import type pg from 'pg';
import type { PeerIdentity } from '../listener/identity.js';

/** Bytes of SHA-256 kept per frame: 2^-64 collision odds against a ring of a few thousand frames. */
export const DIGEST_BYTES = 8;
/** Committed frames remembered per peer (a window of 1024, several connections, reconnect growth). */
export const RING_FRAMES = 16_384;
/** Rows read back from the chain's tail at start. */
export const SEED_ROWS = 100_000;

/**
 * A frame's digest as a Map key: the first 8 bytes of SHA-256 of the stored bytes, latin1. A string
 * digest, as src/ledger/sha256.ts explains: a Buffer digest costs a malloc per frame.
 */
export function frameDigest(raw: Buffer): string {
  return hash('sha256', raw, 'binary').slice(0, DIGEST_BYTES);
}

/** Who "the same peer" is: the certificate's CN (what the ledger stores), else its first SAN. */
export function peerKey(peer: Pick<PeerIdentity, 'cn' | 'sans'>): string {
  return peer.cn ?? peer.sans[0] ?? '';
}

/** A frame handed to the writer and not yet known committed. */
export interface PendingFrame {
  readonly digest: string;
  committed: boolean;
  /** Acknowledgements of resends of this frame, sent once it commits. */
  waiters: Array<() => void> | undefined;
}

class PeerHistory {
  #ring = Buffer.alloc(256 * DIGEST_BYTES);
  #next = 0;
  #filled = 0;
  readonly pending = new Map<string, PendingFrame[]>();

  push(digest: string): void {
    const cap = this.#ring.length / DIGEST_BYTES;
    if (this.#filled === cap && cap < RING_FRAMES) {
      // Grow (oldest first), so quiet peers cost little.
      const bigger = Buffer.alloc(Math.min(cap * 2, RING_FRAMES) * DIGEST_BYTES);
      this.#ring.copy(bigger, 0, this.#next * DIGEST_BYTES);
      this.#ring.copy(bigger, (cap - this.#next) * DIGEST_BYTES, 0, this.#next * DIGEST_BYTES);
      this.#ring = bigger;
      this.#next = cap;
    }
    const capNow = this.#ring.length / DIGEST_BYTES;
    this.#ring.write(digest, this.#next * DIGEST_BYTES, DIGEST_BYTES, 'latin1');
    this.#next = (this.#next + 1) % capNow;
    if (this.#filled < capNow) this.#filled++;
  }

  /** How many times each digest is in the ring. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (let i = 0; i < this.#filled; i++) {
      const d = this.#ring.toString('latin1', i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    return counts;
  }
}

/** What a frame of a resend span matched. */
export type ResendMatch = { readonly committed: true } | { readonly committed: false; readonly pending: PendingFrame };

/** The leading run of one session: each stored frame can absorb one resent copy. */
export class ResendSpan {
  readonly #counts: Map<string, number>;
  readonly #pending: Map<string, PendingFrame[]>;
  readonly #usedPending = new Set<PendingFrame>();

  constructor(counts: Map<string, number>, pending: Map<string, PendingFrame[]>) {
    this.#counts = counts;
    this.#pending = pending;
  }

  /** The frame was stored (or is being stored) already: it is a resend. Null: a new frame. */
  match(digest: string): ResendMatch | null {
    const n = this.#counts.get(digest) ?? 0;
    if (n > 0) {
      this.#counts.set(digest, n - 1);
      return { committed: true };
    }
    for (const p of this.#pending.get(digest) ?? []) {
      if (this.#usedPending.has(p)) continue;
      this.#usedPending.add(p);
      return p.committed ? { committed: true } : { committed: false, pending: p };
    }
    return null;
  }
}

export class ResendIndex {
  readonly #peers = new Map<string, PeerHistory>();

  #history(key: string): PeerHistory {
    let h = this.#peers.get(key);
    if (!h) {
      h = new PeerHistory();
      this.#peers.set(key, h);
    }
    return h;
  }

  /** A frame of `peer` goes to the writer. */
  track(key: string, digest: string): PendingFrame {
    const p: PendingFrame = { digest, committed: false, waiters: undefined };
    const pending = this.#history(key).pending;
    const list = pending.get(digest);
    if (list) list.push(p);
    else pending.set(digest, [p]);
    return p;
  }

  /** The frame committed: remember it, and acknowledge the resends that waited for it. */
  committed(key: string, p: PendingFrame): void {
    const h = this.#history(key);
    const list = h.pending.get(p.digest);
    if (list) {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) h.pending.delete(p.digest);
    }
    h.push(p.digest);
    p.committed = true;
    const waiters = p.waiters;
    p.waiters = undefined;
    if (waiters) for (const w of waiters) w();
  }

  /** A session of `peer` opened: its leading frames are checked against this. */
  startSpan(key: string): ResendSpan {
    const h = this.#history(key);
    return new ResendSpan(h.counts(), h.pending);
  }

  /** Remembers committed frames read back from the database (oldest first). */
  remember(key: string, digest: string): void {
    this.#history(key).push(digest);
  }

  /**
   * Reads the last SEED_ROWS rows of `chain` (the frames the previous process committed, whose
   * acknowledgements a crash may have lost) into the rings. Returns how many rows were read.
   */
  async seed(client: pg.ClientBase, chain: string, rows = SEED_ROWS): Promise<number> {
    const res = await client.query<{ peer: string; d: Buffer }>({
      text: `SELECT coalesce(peer_cn, peer_sans[1], '') AS peer, substring(sha256(raw) from 1 for ${DIGEST_BYTES}) AS d
               FROM ledger_rows
              WHERE chain = $1 AND seq > (SELECT head_seq FROM chains WHERE chain = $1) - $2 AND format <> 'internal'
              ORDER BY seq`,
      values: [chain, rows],
    });
    for (const r of res.rows) this.remember(r.peer, r.d.toString('latin1'));
    return res.rows.length;
  }
}
