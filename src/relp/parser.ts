/**
 * RELP frames (Reliable Event Logging Protocol, librelp doc/relp.md "RELP Frames"):
 *
 *   RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER
 *   TXNR = 1*9DIGIT;  COMMAND = 1*32ALPHA;  DATALEN = 1*9DIGIT;  TRAILER = LF
 *
 * With DATALEN 0 the LF follows DATALEN directly (`4 close 0\n`); librelp also accepts `0 SP LF`.
 * An explicit state machine like src/framing/framer.ts: `push(chunk)` never blocks on bad input.
 * DATA longer than `maxDataBytes` is read through (counted, not kept) and the frame is returned
 * cut and flagged: an aborted session makes rsyslog resend the same frame forever (rsyslog#2633).
 * A malformed header yields a `RelpParseError` (the session closes on it), after which the parser
 * skips to the next LF and goes on, so it can never hang on a stream.
 */
import { LF, SP } from '../ascii.js';

/** One RELP frame as received. */
export interface RelpFrame {
  readonly txnr: number;
  readonly command: string;
  /** DATA (cut at the maximum when `truncated`). */
  readonly data: Buffer;
  /** DATALEN as declared by the sender. */
  readonly dataLength: number;
  readonly truncated: boolean;
}

/** Why a frame could not be read (metric label values). */
export const RELP_PARSE_ERRORS = ['bad_txnr', 'bad_command', 'bad_datalen', 'missing_trailer'] as const;
export type RelpParseErrorReason = (typeof RELP_PARSE_ERRORS)[number];

/** A malformed frame: where and why. */
export interface RelpParseError {
  readonly error: RelpParseErrorReason;
  /** Byte offset in the stream where the bad byte was seen. */
  readonly offset: number;
  readonly detail: string;
}

export type RelpItem = RelpFrame | RelpParseError;

export function isParseError(item: RelpItem): item is RelpParseError {
  return 'error' in item;
}

const enum State {
  /** Reading TXNR digits. */
  Txnr,
  /** Reading COMMAND letters. */
  Command,
  /** Reading DATALEN digits. */
  DataLen,
  /** After DATALEN: SP (DATA follows) or LF (no DATA). */
  AfterDataLen,
  /** Reading DATA. */
  Data,
  /** Reading DATA past the maximum: counted, not kept. */
  DiscardData,
  /** DATA read: the LF trailer must follow. */
  Trailer,
  /** After a malformed frame: skip to the next LF. */
  Resync,
}

const MAX_DIGITS = 9;
const MAX_COMMAND = 32;

export interface RelpParserOptions {
  /** DATA over this is cut and flagged (default 128 KiB, librelp's default). */
  readonly maxDataBytes: number;
}

export class RelpParser {
  readonly #max: number;
  #state: State = State.Txnr;
  #offset = 0;
  #txnr = 0;
  #digits = 0;
  #command = '';
  #dataLength = 0;
  /** DATA bytes still to read (kept or discarded). */
  #left = 0;
  #parts: Buffer[] = [];
  #partsLength = 0;

  constructor(options: RelpParserOptions) {
    if (!(options.maxDataBytes >= 1)) throw new RangeError('maxDataBytes must be >= 1');
    this.#max = options.maxDataBytes;
  }

  /** Bytes of an incomplete frame held between pushes. */
  get pendingBytes(): number {
    return this.#partsLength;
  }

  /** True between frames (nothing of a next frame read). */
  get idle(): boolean {
    return this.#state === State.Txnr && this.#digits === 0;
  }

  /** Feeds bytes; returns the frames (and errors) they completed. */
  push(chunk: Buffer): RelpItem[] {
    const out: RelpItem[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const b = chunk[i]!;
      switch (this.#state) {
        case State.Txnr:
          if (b >= 0x30 && b <= 0x39 && this.#digits < MAX_DIGITS) {
            this.#txnr = this.#txnr * 10 + (b - 0x30);
            this.#digits++;
            i++;
          } else if (b === SP && this.#digits > 0) {
            this.#state = State.Command;
            this.#command = '';
            i++;
          } else if (b === LF && this.#digits === 0) {
            // A stray LF between frames: librelp tolerates it, so do we.
            i++;
          } else {
            i = this.#bad(out, 'bad_txnr', `byte 0x${b.toString(16)} in TXNR`, chunk, i);
          }
          break;
        case State.Command:
          if (((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)) && this.#command.length < MAX_COMMAND) {
            this.#command += String.fromCharCode(b);
            i++;
          } else if (b === SP && this.#command.length > 0) {
            this.#state = State.DataLen;
            this.#digits = 0;
            this.#dataLength = 0;
            i++;
          } else {
            i = this.#bad(out, 'bad_command', `byte 0x${b.toString(16)} in COMMAND`, chunk, i);
          }
          break;
        case State.DataLen:
          if (b >= 0x30 && b <= 0x39 && this.#digits < MAX_DIGITS) {
            this.#dataLength = this.#dataLength * 10 + (b - 0x30);
            this.#digits++;
            i++;
          } else if (this.#digits > 0 && (b === SP || b === LF)) {
            this.#state = State.AfterDataLen;
          } else {
            i = this.#bad(out, 'bad_datalen', `byte 0x${b.toString(16)} in DATALEN`, chunk, i);
          }
          break;
        case State.AfterDataLen:
          if (b === LF && this.#dataLength === 0) {
            // `4 close 0\n`: no SP, no DATA.
            out.push(this.#emit(false));
            i++;
          } else if (b === SP) {
            i++;
            this.#left = this.#dataLength;
            this.#state = this.#dataLength === 0 ? State.Trailer : State.Data;
          } else {
            i = this.#bad(out, 'bad_datalen', `DATALEN ${this.#dataLength} without SP before DATA`, chunk, i);
          }
          break;
        case State.Data: {
          const room = Math.min(this.#left, this.#max - this.#partsLength);
          const take = Math.min(room, n - i);
          if (take > 0) {
            // Copy: a frame outlives the socket's chunk, and must not pin it in memory.
            this.#parts.push(Buffer.from(chunk.subarray(i, i + take)));
            this.#partsLength += take;
            this.#left -= take;
            i += take;
          }
          if (this.#left === 0) this.#state = State.Trailer;
          else if (this.#partsLength >= this.#max) this.#state = State.DiscardData;
          break;
        }
        case State.DiscardData: {
          // Over --relp-max-data: read through, keep nothing, so the session goes on.
          const take = Math.min(this.#left, n - i);
          this.#left -= take;
          i += take;
          if (this.#left === 0) this.#state = State.Trailer;
          break;
        }
        case State.Trailer:
          if (b === LF) {
            out.push(this.#emit(this.#dataLength > this.#partsLength));
            i++;
          } else {
            // DATALEN did not match the DATA: the stream is out of step; report and resync.
            i = this.#bad(out, 'missing_trailer', `byte 0x${b.toString(16)} where the LF after ${this.#dataLength} bytes of DATA belongs`, chunk, i);
          }
          break;
        case State.Resync: {
          const lf = chunk.indexOf(LF, i);
          if (lf === -1) {
            i = n;
          } else {
            i = lf + 1;
            this.#reset();
          }
          break;
        }
      }
    }
    this.#offset += n;
    return out;
  }

  /** Reports a malformed frame and skips to the next LF (the byte at `i` may be that LF). */
  #bad(out: RelpItem[], error: RelpParseErrorReason, detail: string, chunk: Buffer, i: number): number {
    out.push({ error, offset: this.#offset + i, detail });
    this.#parts = [];
    this.#partsLength = 0;
    if (chunk[i] === LF) {
      this.#reset();
      return i + 1;
    }
    this.#state = State.Resync;
    return i + 1;
  }

  #emit(truncated: boolean): RelpFrame {
    const data = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#partsLength);
    const frame: RelpFrame = { txnr: this.#txnr, command: this.#command, data, dataLength: this.#dataLength, truncated };
    this.#reset();
    return frame;
  }

  #reset(): void {
    this.#state = State.Txnr;
    this.#txnr = 0;
    this.#digits = 0;
    this.#command = '';
    this.#dataLength = 0;
    this.#left = 0;
    this.#parts = [];
    this.#partsLength = 0;
  }
}
