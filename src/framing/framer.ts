/**
 * Splits a syslog byte stream into frames, deciding per frame between
 *  - octet counting, RFC 5425 §4.3 / RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`, and
 *  - non-transparent framing, RFC 6587 §3.4.2: a frame ends at LF (CRLF or NUL also end one),
 * as rsyslog's imtcp does. Unlike rsyslog (and Vector, see its issue about LF frames that start
 * with a digit), a leading number counts as a length only when the byte after `MSG-LEN SP` is `<`
 * or `{`, the first byte of every syslog or JSON message; so `404 not found\n` stays one LF frame.
 *
 * An explicit state machine: `push(chunk)` never blocks on bad input. Frames over `maxFrameBytes`
 * are cut at the maximum, flagged `truncated`, and the rest of that frame is discarded, so the
 * stream always moves on to the next frame.
 */
import { CR, LBRACE, LF, LT, NUL, SP } from '../ascii.js';

/** One frame as received. */
export interface Frame {
  /** The frame's bytes exactly as sent (octet-counted: the MSG-LEN bytes; LF: up to the delimiter). */
  readonly raw: Buffer;
  /** What the parser reads: `raw` without a trailing LF / CRLF (rsyslog's protocol-23 format ends with one). */
  readonly body: Buffer;
  /** The frame was longer than the maximum and was cut. */
  readonly truncated: boolean;
  readonly framing: 'octet-counted' | 'lf';
}

const enum State {
  /** Between frames: nothing of the next frame seen yet. */
  Start,
  /** Reading digits that may be an octet count (or the start of an LF frame such as `2024-...`). */
  Count,
  /** Saw `digits SP`: the next byte decides between octet counting and LF framing. */
  CountSpace,
  /** Reading the body of an octet-counted frame. */
  Octets,
  /** Reading an LF-terminated frame. */
  Line,
  /** Skipping the rest of an octet-counted frame that was over the maximum. */
  DiscardOctets,
  /** Skipping the rest of an LF frame that was over the maximum. */
  DiscardLine,
}

/** More digits than this cannot be a sane frame length (and would overflow our arithmetic). */
const MAX_COUNT_DIGITS = 10;

export interface FramerOptions {
  /** Frames longer than this are cut and flagged (default 64 KiB). */
  readonly maxFrameBytes: number;
}

export class Framer {
  readonly #max: number;
  #state: State = State.Start;
  /** Pieces of the frame being assembled. */
  #parts: Buffer[] = [];
  #partsLength = 0;
  /** Octet count being read, or bytes still to read / discard. */
  #count = 0;
  #countDigits = 0;
  #truncated = 0;

  constructor(options: FramerOptions) {
    if (!(options.maxFrameBytes >= 1)) throw new RangeError('maxFrameBytes must be >= 1');
    this.#max = options.maxFrameBytes;
  }

  /** Frames longer than the maximum seen so far. */
  get truncatedFrames(): number {
    return this.#truncated;
  }

  /** Bytes of an incomplete frame held between pushes. */
  get pendingBytes(): number {
    return this.#partsLength;
  }

  /** Feeds bytes; returns the frames they completed (possibly none). */
  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case State.Start: {
          const b = chunk[i]!;
          // Empty frames (blank lines, a LF after an octet-counted frame, NUL padding) carry nothing.
          if (b === LF || b === NUL) {
            i++;
          } else if (b >= 0x31 && b <= 0x39) {
            this.#state = State.Count;
            this.#count = b - 0x30;
            this.#countDigits = 1;
            i++;
          } else {
            this.#state = State.Line;
          }
          break;
        }
        case State.Count: {
          const b = chunk[i]!;
          if (b >= 0x30 && b <= 0x39 && this.#countDigits < MAX_COUNT_DIGITS) {
            this.#count = this.#count * 10 + (b - 0x30);
            this.#countDigits++;
            i++;
          } else if (b === SP) {
            this.#state = State.CountSpace;
            i++;
          } else {
            // Not a length after all (`2024-05-01 ...`): the digits start an LF frame.
            this.#keepCountAsText(false);
          }
          break;
        }
        case State.CountSpace: {
          const b = chunk[i]!;
          if (b === LT || b === LBRACE) {
            this.#state = State.Octets;
          } else {
            // `404 not found`: a line that starts with a number and a space.
            this.#keepCountAsText(true);
          }
          break;
        }
        case State.Octets: {
          const want = Math.min(this.#count, this.#max) - this.#partsLength;
          const take = Math.min(want, n - i);
          this.#append(chunk, i, i + take);
          i += take;
          if (this.#partsLength === Math.min(this.#count, this.#max)) {
            const truncated = this.#count > this.#max;
            out.push(this.#emit('octet-counted', truncated));
            if (truncated) {
              this.#count -= this.#max;
              this.#state = State.DiscardOctets;
            } else {
              this.#state = State.Start;
            }
          }
          break;
        }
        case State.Line: {
          const room = this.#max - this.#partsLength;
          const end = Math.min(n, i + room);
          const lf = chunk.indexOf(LF, i);
          let stop = lf === -1 || lf >= end ? end : lf;
          const nul = chunk.indexOf(NUL, i);
          if (nul !== -1 && nul < stop) stop = nul;
          this.#append(chunk, i, stop);
          if (stop < end || (stop === end && end < n && (chunk[end] === LF || chunk[end] === NUL))) {
            // Found the delimiter within the maximum: the frame is complete.
            out.push(this.#emit('lf', false));
            this.#state = State.Start;
            i = stop + 1;
          } else if (this.#partsLength >= this.#max && stop < n) {
            // Over the maximum with no delimiter yet: emit what fits, skip to the next delimiter.
            out.push(this.#emit('lf', true));
            this.#state = State.DiscardLine;
            i = stop;
          } else {
            // Chunk exhausted mid-line (or exactly at the maximum: the next byte decides).
            i = stop;
          }
          break;
        }
        case State.DiscardOctets: {
          const take = Math.min(this.#count, n - i);
          this.#count -= take;
          i += take;
          if (this.#count === 0) this.#state = State.Start;
          break;
        }
        case State.DiscardLine: {
          const lf = chunk.indexOf(LF, i);
          const nul = chunk.indexOf(NUL, i);
          const stop = lf === -1 ? nul : nul === -1 ? lf : Math.min(lf, nul);
          if (stop === -1) {
            i = n;
          } else {
            i = stop + 1;
            this.#state = State.Start;
          }
          break;
        }
      }
    }
    return out;
  }

  /**
   * The end of the stream: a last LF frame without its delimiter is still a frame (rsyslog
   * treats it so); an incomplete octet-counted frame is returned truncated, never dropped.
   */
  end(): Frame[] {
    const out: Frame[] = [];
    switch (this.#state) {
      case State.Count:
      case State.CountSpace:
        this.#keepCountAsText(this.#state === State.CountSpace);
        out.push(this.#emit('lf', false));
        break;
      case State.Line:
        if (this.#partsLength > 0) out.push(this.#emit('lf', false));
        break;
      case State.Octets:
        if (this.#partsLength > 0) out.push(this.#emit('octet-counted', true));
        break;
      default:
        break;
    }
    this.#state = State.Start;
    this.#parts = [];
    this.#partsLength = 0;
    return out;
  }

  /** The digits (and space) read in Count/CountSpace were message text, not a length. */
  #keepCountAsText(withSpace: boolean): void {
    const digits = String(this.#count);
    const text = withSpace ? `${digits} ` : digits;
    // The count was read from at most MAX_COUNT_DIGITS digits without leading zeros, so the
    // decimal rendering restores exactly the bytes that were consumed.
    const piece = Buffer.from(text, 'latin1');
    this.#parts.push(piece);
    this.#partsLength += piece.length;
    this.#state = State.Line;
  }

  #append(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    // Copy: a frame outlives the socket's chunk, and must not pin it in memory.
    this.#parts.push(Buffer.from(chunk.subarray(from, to)));
    this.#partsLength += to - from;
  }

  #emit(framing: Frame['framing'], truncated: boolean): Frame {
    const raw = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#partsLength);
    this.#parts = [];
    this.#partsLength = 0;
    if (truncated) this.#truncated++;
    let end = raw.length;
    if (framing === 'octet-counted' && end > 0 && raw[end - 1] === LF) end--;
    if (end > 0 && raw[end - 1] === CR) end--;
    return { raw, body: end === raw.length ? raw : raw.subarray(0, end), truncated, framing };
  }
}
