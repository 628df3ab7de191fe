/**
 * Recognizes RELP resends. On every reconnect librelp opens a new session (TXNR back to 1) and,
 * before any new frame, resends byte-identical and in their original order the frames it has not
 * seen acknowledged (librelp relpsess.c `relpSessTryReestablish`; ../shared/research/relp.md §4).
 * Acknowledgements and commits are in order, so the frames of the old session that were stored
 * (committed, or still pending in the writer) but never acknowledged are a SUFFIX of that session's
 * ordered stream, and the resend starts with exactly that suffix.
 *
 * So each session keeps its ordered tail (the last TAIL_FRAMES frames it handed to the writer, or
 * recognized as resends, each with its commit state). A session that ends without a clean `close`
 * exchange leaves its tail behind as a candidate for that peer; a clean close means the client
 * got every rsp, and the tail is dropped. A new session's first frames are aligned against every
 * candidate of the peer: the longest m such that new[1..m] equals the last m frames of a candidate.
 * The session holds its frames (neither stored nor acknowledged) while a longer alignment is still
 * possible, and decides as soon as none is: the matched prefix is acknowledged (once the frames it
 * repeats have committed) and not stored; the rest is stored in order. Nothing that is not the
 * leading run of a session is ever compared, and nothing is compared with a cleanly closed session,
 * so a repeated message is stored as often as it is sent.
 *
 * One ambiguity remains: a sender whose first frames after a reconnect legitimately repeat,
 * byte for byte, the last frames a broken session of the same peer stored. Those are taken for
 * resends. A template with an id per message (`%uuid%`, as deploy/clients/rsyslog-relp.conf ships)
 * removes it; docs/interop.md has the details.
 *
 * Bounds: TAIL_FRAMES frames per tail, HOLD_MAX_FRAMES / HOLD_MAX_BYTES held per session (past
 * either, the session decides with the longest alignment complete so far: a longer resend then
 * gets stored twice, never lost), CANDIDATE_MAX_FRAMES frames in all candidates (the oldest
 * candidate is forgotten first: again a duplicate, never a loss).
 */
import { hash } from 'node:crypto';
import type { PeerIdentity } from '../listener/identity.js';

/** Bytes of SHA-256 kept per frame: 2^-64 collision odds per comparison. */
export const DIGEST_BYTES = 8;
/**
 * Frames kept of each session's tail, and the longest resend recognized. librelp resends at most its
 * window (omrelp `windowSize`, 1024 in the shipped config) plus one per failed reconnect, and a
 * session here stops reading at SESSION_MAX_OUTSTANDING (4,096) unacknowledged frames; the hold must
 * decide below that, or it would wait for frames the session no longer reads.
 */
export const TAIL_FRAMES = 4000;
/** A session decides its alignment after at most this many held frames, or bytes. */
export const HOLD_MAX_FRAMES = TAIL_FRAMES;
export const HOLD_MAX_BYTES = 8 << 20;
/**
 * ... or this long after the first held frame. librelp sends its resends in one burst right after
 * `open`; a run still undecided after this is most likely a sender repeating an earlier stretch of
 * lines (it might also be a resend delayed by backpressure: then it is stored twice, never lost).
 */
export const HOLD_MAX_MS = 5000;
/** Frames remembered in the candidates of all peers together (about 100 B each). */
export const CANDIDATE_MAX_FRAMES = 262_144;
/** Candidates remembered per peer (concurrent sessions of one certificate, repeated breaks). */
export const CANDIDATES_PER_PEER = 64;

/**
 * A frame's digest: the first 8 bytes of SHA-256 of the frame's DATA as received (before parsing or
 * redaction), latin1. A string digest, as src/ledger/sha256.ts explains: a Buffer digest costs a
 * malloc per frame.
 */
export function frameDigest(data: Buffer): string {
  return hash('sha256', data, 'binary').slice(0, DIGEST_BYTES);
}

/** A digest no frame has (a stored row whose received bytes are unknown: redacted). */
export const UNKNOWN_DIGEST = '';

/** Who "the same peer" is: the certificate's CN (what the ledger stores), else its first SAN. */
export function peerKey(peer: Pick<PeerIdentity, 'cn' | 'sans'>): string {
  return peer.cn ?? peer.sans[0] ?? '';
}

/** One frame of a session's stream: handed to the writer (pending) or committed. */
export class StreamFrame {
  readonly digest: string;
  #committed: boolean;
  #waiters: Array<() => void> | undefined;

  constructor(digest: string, committed = false) {
    this.digest = digest;
    this.#committed = committed;
  }

  get committed(): boolean {
    return this.#committed;
  }

  /** Runs `fn` once this frame has committed (now, if it has). */
  whenCommitted(fn: () => void): void {
    if (this.#committed) fn();
    else (this.#waiters ??= []).push(fn);
  }

  /** Its transaction committed. */
  commit(): void {
    this.#committed = true;
    const w = this.#waiters;
    this.#waiters = undefined;
    if (w) for (const fn of w) fn();
  }
}

/** The ordered tail of one session's stream (its last TAIL_FRAMES frames). */
export class SessionTail {
  readonly key: string;
  #frames: StreamFrame[] = [];
  /** Recognized as the resend of a candidate by a later session: not a candidate any more. */
  consumed = false;

  constructor(key: string, frames: StreamFrame[] = []) {
    this.key = key;
    this.#frames = frames.length > TAIL_FRAMES ? frames.slice(-TAIL_FRAMES) : frames;
  }

  push(f: StreamFrame): void {
    this.#frames.push(f);
    if (this.#frames.length >= 2 * TAIL_FRAMES) this.#frames = this.#frames.slice(-TAIL_FRAMES);
  }

  /** The last TAIL_FRAMES frames, oldest first. */
  frames(): StreamFrame[] {
    if (this.#frames.length > TAIL_FRAMES) this.#frames = this.#frames.slice(-TAIL_FRAMES);
    return this.#frames;
  }

  get length(): number {
    return Math.min(this.#frames.length, TAIL_FRAMES);
  }
}

/** What the leading run of a new session turned out to be. */
export interface AlignmentDecision {
  /** How many of the held frames are resends (the first `matched`), 0: none. */
  readonly matched: number;
  /** The candidate they repeat, and the frames they repeat, in order. */
  readonly tail: SessionTail | undefined;
  readonly frames: readonly StreamFrame[];
  /** The hold limit decided, with a longer alignment still possible. */
  readonly cut: boolean;
}

interface Candidate {
  readonly tail: SessionTail;
  readonly frames: StreamFrame[];
  /** Start indices into `frames` whose alignment is still consistent and not yet complete. */
  alive: number[];
  /** Longest complete alignment so far (0: none). */
  best: number;
}

/**
 * Aligns a new session's leading frames against the tails of a peer's broken sessions. `push` each
 * frame's digest as it arrives; it returns the decision once no longer alignment is possible, and
 * undefined while the frames must still be held.
 */
export class Alignment {
  readonly #candidates: Candidate[];
  #held = 0;
  #heldBytes = 0;

  constructor(tails: readonly SessionTail[]) {
    this.#candidates = tails.map((tail) => ({ tail, frames: tail.frames().slice(), alive: [], best: 0 }));
  }

  push(digest: string, bytes: number): AlignmentDecision | undefined {
    const j = this.#held++;
    this.#heldBytes += bytes;
    let open = false;
    for (const c of this.#candidates) {
      const f = c.frames;
      const n = f.length;
      if (j === 0) {
        // Every position holding this frame starts an alignment whose length is what follows it.
        for (let p = 0; p < n; p++) if (f[p]!.digest === digest) c.alive.push(p);
      } else {
        c.alive = c.alive.filter((p) => f[p + j]!.digest === digest);
      }
      // Starts that reached the end of the tail are complete: new[1..j+1] = the last j+1 frames.
      if (c.alive.length > 0 && c.alive[c.alive.length - 1]! + j + 1 === n) {
        c.best = j + 1;
        c.alive.pop();
      }
      if (c.alive.length > 0) open = true;
    }
    if (open && this.#held < HOLD_MAX_FRAMES && this.#heldBytes < HOLD_MAX_BYTES) return undefined;
    return this.#decide(open);
  }

  /**
   * No more frames are coming soon (a `close`, or the hold's time ran out): decide with the
   * longest complete alignment.
   */
  finish(): AlignmentDecision {
    return this.#decide(this.#candidates.some((c) => c.alive.length > 0));
  }

  /** The longest complete alignment (`cut`: a longer one was still possible). */
  #decide(cut: boolean): AlignmentDecision {
    let pick: Candidate | undefined;
    for (const c of this.#candidates) {
      // Another session took this candidate as its own resend meanwhile.
      if (c.best > 0 && !c.tail.consumed && (!pick || c.best > pick.best)) pick = c;
    }
    if (!pick) return { matched: 0, tail: undefined, frames: [], cut };
    return { matched: pick.best, tail: pick.tail, frames: pick.frames.slice(pick.frames.length - pick.best), cut };
  }
}

/** Per peer: the tails of its sessions that ended without a clean close. */
export class ResendIndex {
  readonly #byPeer = new Map<string, SessionTail[]>();
  /** Every candidate, oldest first, for the global bound. */
  readonly #all = new Set<SessionTail>();
  #frames = 0;

  /** A session of peer `key` opened: its own tail, and an alignment when it has candidates. */
  open(key: string): { tail: SessionTail; alignment: Alignment | undefined } {
    const candidates = this.#byPeer.get(key);
    return { tail: new SessionTail(key), alignment: candidates?.length ? new Alignment(candidates) : undefined };
  }

  /** A session ended. Clean: the client saw every rsp, nothing of it will be resent. */
  ended(tail: SessionTail, clean: boolean): void {
    if (clean || tail.length === 0) return;
    this.add(tail);
  }

  /** A session recognized `tail` as what it resent: it is no candidate any more. */
  consumed(tail: SessionTail): void {
    tail.consumed = true;
    const list = this.#byPeer.get(tail.key);
    const i = list ? list.indexOf(tail) : -1;
    if (i >= 0) {
      list!.splice(i, 1);
      if (list!.length === 0) this.#byPeer.delete(tail.key);
    }
    if (this.#all.delete(tail)) this.#frames -= tail.length;
  }

  /** Adds a candidate (a broken session, or one read back from the database). */
  add(tail: SessionTail): void {
    let list = this.#byPeer.get(tail.key);
    if (!list) this.#byPeer.set(tail.key, (list = []));
    list.push(tail);
    this.#all.add(tail);
    this.#frames += tail.length;
    if (list.length > CANDIDATES_PER_PEER) this.consumed(list[0]!);
    while (this.#frames > CANDIDATE_MAX_FRAMES && this.#all.size > 1) this.consumed(this.#all.values().next().value!);
  }

  /** Candidates of peer `key` (tests, logs). */
  candidates(key: string): number {
    return this.#byPeer.get(key)?.length ?? 0;
  }
}
