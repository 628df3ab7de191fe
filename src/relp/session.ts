/**
 * One RELP session, server side (librelp doc/relp.md; the dialect librelp 1.11 and rsyslog 8.2302
 * speak, ../shared/research/relp.md §1):
 *
 *   client: 1 open 85 relp_version=0\nrelp_software=...\ncommands=syslog
 *   server: 1 rsp 52 200 OK\nrelp_version=0\nrelp_software=syslog-ledger\ncommands=syslog
 *   client: 2 syslog 43 <13>2026-11-28T12:00:00+00:00 host1 app: a000001
 *   server: 2 rsp 6 200 OK          <- only after the COMMIT of the batch holding frame 2
 *   client: 3 close 0
 *   server: 3 rsp 6 200 OK          <- after every earlier rsp
 *
 * Responses go out strictly in TXNR order. A `syslog` frame is never answered `500`: librelp drops
 * a nacked frame for good (scrsp.c). During a database outage acks simply wait. A protocol
 * violation (no `open` first, a TXNR out of sequence, a malformed frame) closes the session.
 */
import type { Logger } from 'pino';
import type { Frame } from '../framing/framer.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { RateLimitedLog } from '../listener/ratelimit-log.js';
import type { ConnectionHandler, ConnectionIo } from '../listener/server.js';
import type { RelpMetrics, RelpViolation } from '../metrics/relp.js';
import { isParseError, RelpParser, type RelpFrame } from './parser.js';
import { frameDigest, HOLD_MAX_MS, peerKey, StreamFrame, type Alignment, type AlignmentDecision, type ResendIndex, type SessionTail } from './resends.js';
import { CR, LF } from '../ascii.js';

export interface RelpSessionOptions {
  readonly peer: PeerIdentity;
  readonly io: ConnectionIo;
  readonly maxDataBytes: number;
  readonly metrics: RelpMetrics;
  readonly log: Logger;
  /** Violations are logged through it: once per reason per interval, however many sessions break. */
  readonly violationLog: RateLimitedLog;
  readonly resends: ResendIndex;
  /**
   * Stores one `syslog` frame's DATA (called only for frames stored, not for recognized resends): the
   * stages, then the writer; `onCommitted` runs right after the transaction holding it commits.
   */
  readonly store: (frame: Frame, receivedAtUs: number, onCommitted: () => void) => void;
}

/** The offers syslog-ledger answers an `open` with: version 0, as librelp (relp.h RELP_CURR_PROTOCOL_VERSION). */
export const OPEN_OFFERS = 'relp_version=0\nrelp_software=syslog-ledger\ncommands=syslog';
/** More frames than this unacknowledged on one session, or more bytes: stop reading it. */
export const SESSION_MAX_OUTSTANDING = 4096;
export const SESSION_MAX_OUTSTANDING_BYTES = 16 << 20;
/** librelp's offer limits (src/offers.h): name 32, value 255, 64 offers. */
const MAX_OFFERS = 64;
const MAX_OFFER_NAME = 32;
const MAX_OFFER_VALUE = 255;
const MAX_TXNR = 999_999_999;
const OK = 'rsp 6 200 OK\n';

type State = 'new' | 'open' | 'closing' | 'done';

interface Pending {
  readonly txnr: number;
  readonly bytes: number;
  /** The rsp to send, once known; null while waiting for the COMMIT. */
  text: string | null;
}

/** A `syslog` frame held while the session's leading run is aligned with a broken session's tail. */
interface Held {
  readonly frame: RelpFrame;
  readonly entry: Pending;
  readonly digest: string;
  readonly receivedAtUs: number;
}

export function rsp(txnr: number, body: string): string {
  return `${txnr} rsp ${Buffer.byteLength(body)} ${body}\n`;
}

/** Checks an `open`'s offers against librelp's limits; returns why they are refused, or null. */
export function checkOffers(data: Buffer): string | null {
  const lines = data.toString('latin1').split('\n').filter((l) => l.length > 0);
  if (lines.length > MAX_OFFERS) return `${lines.length} offers (most ${MAX_OFFERS})`;
  for (const line of lines) {
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    if (name.length === 0 || name.length > MAX_OFFER_NAME) return `offer name of ${name.length} bytes`;
    if (eq >= 0 && line.length - eq - 1 > MAX_OFFER_VALUE) return `offer ${name} with a value of ${line.length - eq - 1} bytes`;
  }
  return null;
}

export class RelpSession implements ConnectionHandler {
  readonly #o: RelpSessionOptions;
  readonly #parser: RelpParser;
  readonly #key: string;
  #state: State = 'new';
  #lastTxnr = 0;
  /** Responses owed, in TXNR order; `#head` is the first not yet sent. */
  #queue: Pending[] = [];
  #head = 0;
  #outstanding = 0;
  #outstandingBytes = 0;
  #held = false;
  #flushScheduled = false;
  /** The connection is gone (or is being torn down): nothing more is written. */
  #dead = false;
  /** Shutdown: frames read from now on are ignored (never stored, never acked: the client resends them). */
  #stopped = false;
  /** This session's ordered stream (what a reconnect after it breaks may resend). */
  #tail: SessionTail | undefined;
  /** While set, `syslog` frames are held: they may be resends of a broken session's tail. */
  #alignment: Alignment | undefined;
  #aligning: Held[] = [];
  #holdTimer: NodeJS.Timeout | undefined;
  /** The client's `close` was answered after every earlier rsp: it saw them all. */
  #clean = false;

  constructor(options: RelpSessionOptions) {
    this.#o = options;
    this.#parser = new RelpParser({ maxDataBytes: options.maxDataBytes });
    this.#key = peerKey(options.peer);
  }

  /** Returns how many `syslog` frames the chunk completed (what the per-peer rate limit counts). */
  onData(chunk: Buffer, receivedAtUs: number): number {
    // Stopped (shutdown): the bytes are read, so that the client's FIN is seen, and ignored.
    if (this.#dead || this.#stopped || this.#state === 'closing' || this.#state === 'done') return 0;
    let events = 0;
    for (const item of this.#parser.push(chunk)) {
      if (isParseError(item)) {
        this.#violation('malformed', `${item.error} at byte ${item.offset}: ${item.detail}`);
        return events;
      }
      if (item.command === 'syslog') events++;
      if (!this.#frame(item, receivedAtUs)) break;
    }
    this.#flush();
    return events;
  }

  /** Handles one frame; false: read no further frames of this session. */
  #frame(f: RelpFrame, receivedAtUs: number): boolean {
    const m = this.#o.metrics;
    m.frames.inc({ command: f.command === 'open' || f.command === 'syslog' || f.command === 'close' ? f.command : 'other' });
    if (this.#state === 'new' && f.command !== 'open') {
      this.#violation('no_open', `first command "${f.command}" (txnr ${f.txnr}) is not open`);
      return false;
    }
    // Strictly 1, 2, 3 ...; after 999,999,999 comes 1 (doc/relp.md).
    const expected = this.#lastTxnr === 0 || this.#lastTxnr === MAX_TXNR ? 1 : this.#lastTxnr + 1;
    if (f.txnr !== expected) {
      this.#violation('bad_txnr', `txnr ${f.txnr} where ${expected} was due (${f.command})`);
      return false;
    }
    this.#lastTxnr = f.txnr;
    switch (f.command) {
      case 'open': {
        if (this.#state !== 'new') {
          this.#push(f.txnr, 0, rsp(f.txnr, '500 session already open'));
          this.#violation('second_open', `open again at txnr ${f.txnr}`);
          return false;
        }
        const refused = checkOffers(f.data);
        if (refused) {
          this.#push(f.txnr, 0, rsp(f.txnr, `500 invalid offers: ${refused}`));
          this.#violation('bad_open', refused);
          return false;
        }
        this.#state = 'open';
        this.#push(f.txnr, 0, rsp(f.txnr, `200 OK\n${OPEN_OFFERS}`));
        m.sessions.inc();
        m.sessionsOpen.inc();
        // The frames librelp resends after a reconnect come first: align the leading run.
        ({ tail: this.#tail, alignment: this.#alignment } = this.#o.resends.open(this.#key));
        return true;
      }
      case 'syslog':
        this.#syslog(f, receivedAtUs);
        return true;
      case 'close':
        // Nothing follows a close: the leading run is what it is.
        if (this.#alignment) this.#release(this.#alignment.finish());
        this.#push(f.txnr, 0, `${f.txnr} ${OK}`);
        this.#state = 'closing';
        return false;
      case 'rsp':
        this.#violation('unexpected_rsp', `rsp from the client at txnr ${f.txnr}`);
        return false;
      default:
        // librelp answers commands it does not know with 500 and goes on (never the case for syslog).
        this.#push(f.txnr, 0, rsp(f.txnr, '500 command not supported'));
        return true;
    }
  }

  #syslog(f: RelpFrame, receivedAtUs: number): void {
    const entry = this.#push(f.txnr, f.data.length, null);
    // The resend check comes before parsing: a resend is never parsed, monitored or counted as received.
    const digest = frameDigest(f.data);
    if (this.#alignment) {
      this.#aligning.push({ frame: f, entry, digest, receivedAtUs });
      const decision = this.#alignment.push(digest, f.data.length);
      if (decision) this.#release(decision);
      else if (!this.#holdTimer) {
        this.#holdTimer = setTimeout(() => {
          this.#holdTimer = undefined;
          if (!this.#alignment || this.#dead || this.#stopped) return;
          this.#release(this.#alignment.finish());
          this.#flush();
        }, HOLD_MAX_MS);
        this.#holdTimer.unref();
      }
      return;
    }
    this.#store(f, entry, digest, receivedAtUs);
  }

  /** The leading run is decided: the first `matched` held frames are resends, the rest are new. */
  #release(d: AlignmentDecision): void {
    const held = this.#aligning;
    this.#aligning = [];
    this.#alignment = undefined;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (d.tail) this.#o.resends.consumed(d.tail);
    for (let i = 0; i < d.matched; i++) {
      // Stored already: acknowledged once the original committed, stored nothing.
      const original = d.frames[i]!;
      const entry = held[i]!.entry;
      this.#tail!.push(original);
      original.whenCommitted(() => this.#ready(entry));
    }
    if (d.matched > 0) {
      this.#o.metrics.resends.inc(d.matched);
      this.#o.log.info({ peer: this.#o.peer.cn, address: this.#o.peer.address, resent: d.matched }, 'RELP: resent frames recognized after a reconnect and not stored again');
    }
    if (d.cut) this.#o.log.warn({ peer: this.#o.peer.cn, address: this.#o.peer.address, held: held.length }, 'RELP: resend alignment cut at its hold limit; frames past it are stored, possibly twice');
    for (let i = d.matched; i < held.length; i++) {
      const h = held[i]!;
      this.#store(h.frame, h.entry, h.digest, h.receivedAtUs);
    }
  }

  #store(f: RelpFrame, entry: Pending, digest: string, receivedAtUs: number): void {
    const sf = new StreamFrame(digest);
    this.#tail!.push(sf);
    this.#o.store(toFrame(f), receivedAtUs, () => {
      sf.commit();
      this.#ready(entry);
    });
  }

  #push(txnr: number, bytes: number, text: string | null): Pending {
    const p: Pending = { txnr, bytes, text };
    this.#queue.push(p);
    if (text === null) {
      this.#outstanding++;
      this.#outstandingBytes += bytes;
      this.#o.metrics.acksOutstanding.inc();
      if (!this.#held && (this.#outstanding >= SESSION_MAX_OUTSTANDING || this.#outstandingBytes >= SESSION_MAX_OUTSTANDING_BYTES)) {
        this.#held = true;
        this.#o.io.hold(true);
      }
    }
    return p;
  }

  /** The frame committed (or was a resend of a committed one): its `200 OK` may go out. */
  #ready(p: Pending): void {
    if (p.text !== null) return;
    p.text = `${p.txnr} ${OK}`;
    this.#outstanding--;
    this.#outstandingBytes -= p.bytes;
    if (!this.#dead) this.#o.metrics.acksOutstanding.dec();
    // Many acks become ready in one commit: write them with one call.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  /** Sends every response whose turn has come, in TXNR order. */
  #flush(): void {
    if (this.#dead) return;
    let out = '';
    let sent = 0;
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.text !== null) {
      const text = this.#queue[this.#head++]!.text!;
      out += text;
      if (text.includes(' rsp ') && !text.includes(' 200 OK')) this.#o.metrics.responses.inc({ code: '500' });
      else sent++;
    }
    if (sent > 0) this.#o.metrics.responses.inc({ code: '200' }, sent);
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (out.length > 0) this.#o.io.write(out);
    if (this.#held && this.#outstanding < SESSION_MAX_OUTSTANDING / 2 && this.#outstandingBytes < SESSION_MAX_OUTSTANDING_BYTES / 2) {
      this.#held = false;
      this.#o.io.hold(false);
    }
    if (this.#state === 'closing' && this.#head === this.#queue.length) {
      // `close` answered after every earlier rsp: done, and the client saw every rsp.
      this.#state = 'done';
      this.#clean = true;
      this.#o.io.end();
    }
  }

  #violation(reason: RelpViolation, detail: string): void {
    this.#o.metrics.violations.inc({ reason });
    this.#o.violationLog.warn(reason, { peer: this.#o.peer.cn, address: this.#o.peer.address, detail }, 'RELP protocol violation: session closed');
    this.#flush();
    this.#dead = true;
    this.#o.metrics.acksOutstanding.dec(this.#outstanding);
    this.#o.io.destroy();
  }

  /**
   * Shutdown, step 1: take no more frames (frames already taken are still committed and acked).
   * Frames held for alignment are dropped unacknowledged: the client resends them.
   */
  stop(): void {
    this.#stopped = true;
    this.#dropHeld();
    // Bytes are read on (and ignored) so that the client's FIN is seen.
    if (this.#held) {
      this.#held = false;
      this.#o.io.hold(false);
    }
  }

  /** Frames held for alignment are neither stored nor acknowledged: the client still has them. */
  #dropHeld(): void {
    this.#alignment = undefined;
    this.#aligning = [];
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
  }

  /**
   * Shutdown, last step (after the writer committed everything): send what is owed, then the
   * `serverclose` hint, and end the connection. librelp marks the session broken and reconnects
   * when it next has something to send; nothing acknowledged is resent.
   */
  serverClose(): void {
    if (this.#dead || this.#state === 'done') return;
    this.#flush();
    if ((this.#state as State) === 'done') return; // #flush answered a close
    this.#o.io.write('0 serverclose 0\n');
    this.#state = 'done';
    this.#o.io.end();
  }

  /** The connection closed (either side). Frames already handed to the writer are still committed. */
  onClose(): void {
    this.#dropHeld();
    if (this.#tail) {
      this.#o.resends.ended(this.#tail, this.#clean);
      this.#tail = undefined;
    }
    if (!this.#dead) {
      this.#dead = true;
      this.#o.metrics.acksOutstanding.dec(this.#outstanding);
    }
    if (this.#state !== 'new') this.#o.metrics.sessionsOpen.dec();
    this.#state = 'done';
  }
}


/** A `syslog` frame's DATA as a ledger frame: stored as sent; parsed without a trailing LF (protocol-23 templates end with one). */
function toFrame(f: RelpFrame): Frame {
  const raw = f.data;
  let end = raw.length;
  if (end > 0 && raw[end - 1] === LF) end--;
  if (end > 0 && raw[end - 1] === CR) end--;
  return { raw, body: end === raw.length ? raw : raw.subarray(0, end), truncated: f.truncated, framing: 'octet-counted' };
}
