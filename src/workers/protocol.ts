/**
 * What the main thread and a stage worker send each other: one message per batch of frames, its
 * bytes in ArrayBuffers that are transferred, not copied (a postMessage per frame, or a structured
 * clone of each event, costs more than the stages themselves: bench/stages.ts "worker transfer").
 */
import type { PeerIdentity } from '../listener/identity.js';
import type { HostBinding } from '../listener/limits.js';
import type { FormatOption } from '../parsing/types.js';
import type { RedactionConfig } from '../redact/config.js';
import type { RedactionKey } from '../redact/key.js';
import type { LedgerFormat } from '../ledger/types.js';

/** Doubles per frame in BatchIn.meta: raw start, raw length, body length, flags, receivedAtUs, peer index. */
export const IN_STRIDE = 6;
/** Doubles per frame in BatchOut.meta: tail start, tail length, raw start, raw length (inside the tail), format, flags. */
export const OUT_STRIDE = 6;

/** BatchIn flags. */
export const IN_TRUNCATED = 1;
export const IN_OCTET = 2;
/** BatchOut flags: the row encoding refused the stages' record; the row is the frame stored as received, with the error. */
export const OUT_UNENCODABLE = 1;

export const FORMAT_CODES: readonly LedgerFormat[] = ['rfc5424', 'rfc3164', 'json', 'unparsed', 'internal'];

/** Main -> worker: a batch of frames. */
export interface BatchIn {
  readonly id: number;
  /** The frames' raw bytes, one after another (transferred; the buffer may be longer than they are). */
  readonly bytes: ArrayBuffer;
  /** IN_STRIDE doubles per frame (transferred). */
  readonly meta: ArrayBuffer;
  /** The peers the frames name by index (small: the connections of this batch). */
  readonly peers: readonly PeerIdentity[];
}

/** Metric increments made in a worker, replayed on the main thread's registry. */
export type Tallies = Array<[metric: string, labels: Record<string, string> | string[] | null, n: number]>;

/** Worker -> main: the prepared rows of a batch, in its order. */
export interface BatchOut {
  readonly id: number;
  /** Each frame's canonical tail (transferred). */
  readonly bytes: ArrayBuffer;
  /** OUT_STRIDE doubles per frame (transferred). */
  readonly meta: ArrayBuffer;
  /** Sequence observations of the monitor (rare: frames with a sequence id), by frame index. */
  readonly observations: Array<[index: number, observation: unknown]>;
  readonly tallies: Tallies;
  /** BatchIn.bytes, given back (transferred) for the next batch: no new buffer per batch. */
  readonly input: ArrayBuffer;
}

/** What a worker is started with (workerData). */
export interface StageWorkerData {
  readonly format: FormatOption;
  readonly timeZone: string;
  readonly hostBindings?: readonly HostBinding[] | undefined;
  readonly redaction?: { readonly config: RedactionConfig; readonly key: RedactionKey } | undefined;
  /** For a worker script of the caller's (StagePoolOptions.script): its own data, passed as it is. */
  readonly scriptData?: unknown;
}
