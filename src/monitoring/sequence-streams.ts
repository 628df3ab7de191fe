import type { Episode } from './episode.js';
import type { AnomalyDetail, SequenceStream } from './sequence.js';

/**
 * Which numbering a message continues (docs/metrics.md, "Streams"): one per stream (peer identity +
 * HOSTNAME + APP-NAME + PROCID) while one connection at a time feeds it, one per connection while
 * several do. Bounded: an LRU of streams, at most 64 connections followed per stream.
 */

/** One followed numbering: a stream's, or one connection's share of a stream. */
export interface Numbering {
  /** Who it is, as findings name it (`connection` set while followed per connection). */
  id: SequenceStream;
  conn: string | null;
  lastSeenMs: number;
  lastSeq: number | null;
  /** A number that went back: if the next one follows it, the sender restarted its count there. */
  altSeq: number | null;
  /** Hashes that end a chain, least recently extended first. */
  readonly tips: string[];
  /** Hashes that were tips before being extended, newest last: a record naming one of them forks the chain. */
  readonly passed: string[];
  episode: Episode<AnomalyDetail> | null;
  missing: number;
  restartedAt: number | null;
  summaries: number;
  inOrderRun: number;
}

interface StreamState {
  readonly key: SequenceStream;
  /** Followed as one numbering, whichever connection feeds it... */
  single: Numbering | null;
  /** ...or per connection, while several feed it at once. */
  perConn: Map<string, Numbering> | null;
}

const MAX_CONNECTIONS_PER_STREAM = 64;

export interface StreamTableOptions {
  readonly maxStreams: number;
  /** Another connection sending on a stream within this long of its last message: concurrent connections. */
  readonly concurrentMs: number;
  /** A numbering forgotten (evicted, or merged back into its stream). */
  readonly onDrop: (n: Numbering) => void;
}

export class StreamTable {
  readonly #o: StreamTableOptions;
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly #streams = new Map<string, StreamState>();

  constructor(o: StreamTableOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** The numbering a message on this stream and connection continues, at receive time `atMs`. */
  numbering(source: string, stream: string | null, app: string | null, procid: string | null, conn: string | null, atMs: number): Numbering {
    const s = this.#state(source, stream, app, procid);
    if (s.perConn === null) {
      const n = s.single;
      if (n === null) return (s.single = fresh(s.key, conn, atMs, false));
      if (conn === null || n.conn === null || n.conn === conn || atMs - n.lastSeenMs > this.#o.concurrentMs) {
        // The same connection, or a new one after the last went quiet (a reconnect): the count goes on.
        n.conn = conn;
        n.lastSeenMs = atMs;
        return n;
      }
      // Another connection feeds the stream at the same time: its numbers and the first one's
      // interleave, and only per connection do they mean anything.
      n.id = { ...s.key, connection: n.conn };
      s.perConn = new Map([[n.conn, n]]);
      s.single = null;
    }
    const shares = s.perConn;
    let n = shares.get(conn ?? '');
    let othersActive = false;
    for (const [c, m] of shares) if (c !== conn && atMs - m.lastSeenMs <= this.#o.concurrentMs) othersActive = true;
    if (!othersActive) {
      // One connection left: the stream is followed as one again, from the newest share's count.
      let latest = n;
      if (latest === undefined) for (const m of shares.values()) if (latest === undefined || m.lastSeenMs > latest.lastSeenMs) latest = m;
      for (const m of shares.values()) if (m !== latest) this.#o.onDrop(m);
      s.perConn = null;
      s.single = latest!;
      latest!.id = s.key;
      latest!.conn = conn;
      latest!.lastSeenMs = atMs;
      return latest!;
    }
    if (n === undefined) {
      if (shares.size >= MAX_CONNECTIONS_PER_STREAM) {
        let oldest: [string, Numbering] | undefined;
        for (const e of shares) if (oldest === undefined || e[1].lastSeenMs < oldest[1].lastSeenMs) oldest = e;
        shares.delete(oldest![0]);
        this.#o.onDrop(oldest![1]);
      }
      n = fresh(s.key, conn, atMs, true);
      shares.set(conn ?? '', n);
    }
    n.lastSeenMs = atMs;
    return n;
  }

  #state(source: string, stream: string | null, app: string | null, procid: string | null): StreamState {
    const key = `${source}\u0000${stream ?? ''}\u0000${app ?? ''}\u0000${procid ?? ''}`;
    let state = this.#streams.get(key);
    if (state) {
      this.#streams.delete(key);
    } else {
      state = { key: { source, stream, app, procid, connection: null }, single: null, perConn: null };
      if (this.#streams.size >= this.#o.maxStreams) {
        const oldest = this.#streams.entries().next();
        if (!oldest.done) {
          this.#streams.delete(oldest.value[0]);
          const gone = oldest.value[1];
          if (gone.single) this.#o.onDrop(gone.single);
          for (const m of gone.perConn?.values() ?? []) this.#o.onDrop(m);
        }
      }
    }
    this.#streams.set(key, state);
    return state;
  }
}

function fresh(key: SequenceStream, conn: string | null, atMs: number, perConnection: boolean): Numbering {
  return {
    id: { ...key, connection: perConnection ? conn : null },
    conn,
    lastSeenMs: atMs,
    lastSeq: null,
    altSeq: null,
    tips: [],
    passed: [],
    episode: null,
    missing: 0,
    restartedAt: null,
    summaries: 0,
    inOrderRun: 0,
  };
}
