/**
 * What a stage worker does with a batch: per frame, the stages (parse, normalize, host binding,
 * lift, redact: toRecord, the same function the inline path calls) and the v3 row's part that needs
 * no place in the chain: its canonical tail (src/ledger/prepared.ts). The main thread keeps TLS,
 * framing, the chain link (one SHA-256 over prev || row) and COPY (written from the tail).
 * The worker's script (stage-worker.ts) only starts this; tests start it with hooks of their own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LedgerRecord } from '../ledger/types.js';
import { encodeV3Tail, v3TailMaxSize, v3TailOffset } from '../ledger/row.js';
import { unencodableRecord } from '../ledger/unprocessed.js';
import { chainConnection, v3Values, type ChainConnection } from '../ledger/v3.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import { observationOf } from '../monitoring/sequence.js';
import type { ParsedMessage } from '../parsing/types.js';
import { Redactor } from '../redact/redactor.js';
import { toRecord, type RecordConfig } from '../stages.js';
import { FORMAT_CODES, IN_OCTET, IN_STRIDE, IN_TRUNCATED, OUT_UNENCODABLE, OUT_STRIDE, type BatchIn, type BatchOut, type StageWorkerData, type Tallies } from './protocol.js';

/** Calls into the stages, for tests (a stage that throws, hangs or exits; a record the row encoding refuses). */
export interface StageHooks {
  /** Each frame's parse result, inside the stages (as the monitor sees it). */
  readonly onParsed?: (parsed: ParsedMessage) => void;
  /** Each record the stages made, before its row is prepared. */
  readonly onRecord?: (record: LedgerRecord) => void;
}

/** A metric stand-in that counts increments for the main thread's registry (replayed there per batch). */
class TallyCounter {
  constructor(
    readonly name: string,
    readonly sink: Map<string, [string, Record<string, string> | string[] | null, number]>,
  ) {}

  inc(labels?: Record<string, string> | number, n?: number): void {
    if (typeof labels === 'number' || labels === undefined) return this.#add(null, typeof labels === 'number' ? labels : 1);
    this.#add(labels, n ?? 1);
  }

  labels(...values: string[]): { inc(n?: number): void } {
    return { inc: (n = 1) => this.#add(values, n) };
  }

  #add(labels: Record<string, string> | string[] | null, n: number): void {
    // Every frame counts here: a key of the label values, not JSON.stringify of the labels.
    let key = this.name;
    if (Array.isArray(labels)) for (let i = 0; i < labels.length; i++) key += `\u0000${labels[i]}`;
    else if (labels !== null) for (const k in labels) key += `\u0000${k}\u0001${labels[k]}`;
    const t = this.sink.get(key);
    if (t === undefined) this.sink.set(key, [this.name, labels, n]);
    else t[2] += n;
  }
}

/** The batch handler of a stage worker started with `data`. */
export function stageBatches(data: StageWorkerData, hooks: StageHooks = {}): (m: BatchIn) => { out: BatchOut; transfer: ArrayBuffer[] } {
  const tallies = new Map<string, [string, Record<string, string> | string[] | null, number]>();
  const metrics = new Proxy({} as Record<string, TallyCounter>, {
    get: (cache, name: string) => (cache[name] ??= new TallyCounter(name, tallies)),
  }) as unknown as Metrics;
  const cfg: RecordConfig = {
    format: data.format,
    timeZone: data.timeZone,
    ...(data.hostBindings ? { hostBindings: data.hostBindings } : {}),
    ...(data.redaction ? { redactor: new Redactor(data.redaction.config, data.redaction.key, metrics) } : {}),
  };

  /** The connection of a peer (placeholder id: the main thread gives the real one), once per peer. */
  const connections = new WeakMap<PeerIdentity, ChainConnection>();
  const connectionFor = (peer: PeerIdentity): ChainConnection => {
    let c = connections.get(peer);
    if (c === undefined) connections.set(peer, (c = chainConnection(0, peer)));
    return c;
  };

  let observation: unknown = null;
  const onParsedHook = hooks.onParsed;
  const monitor = {
    onParsed(parsed: ParsedMessage, _peer: PeerIdentity, receivedAtUs: number): void {
      onParsedHook?.(parsed);
      observation = observationOf(parsed, receivedAtUs);
    },
  };

  /** The output being built, reused from batch to batch (only an exact copy is transferred). */
  let out = Buffer.allocUnsafeSlow(1 << 20);
  let w = 0;

  /** Appends the canonical tail of `record`'s row at out[w]; returns where it starts (throws if the encoding refuses the record). */
  const prepare = (record: LedgerRecord, peer: PeerIdentity): number => {
    const { values } = v3Values(record, '', 0, connectionFor(peer));
    const need = v3TailMaxSize(values);
    if (w + need > out.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, w + need));
      out.copy(bigger, 0, 0, w);
      out = bigger;
    }
    const start = w;
    w = encodeV3Tail(values, out, w);
    return start;
  };

  return (m: BatchIn) => {
    const bytes = Buffer.from(m.bytes);
    const meta = new Float64Array(m.meta);
    const n = meta.length / IN_STRIDE;
    const outMeta = new Float64Array(n * OUT_STRIDE);
    w = 0;
    const observations: BatchOut['observations'] = [];
    for (let i = 0; i < n; i++) {
      const at = i * IN_STRIDE;
      const start = meta[at]!;
      const raw = bytes.subarray(start, start + meta[at + 1]!);
      const flags = meta[at + 3]!;
      const frame = { raw, body: raw.subarray(0, meta[at + 2]!), truncated: (flags & IN_TRUNCATED) !== 0, framing: (flags & IN_OCTET) !== 0 ? ('octet-counted' as const) : ('lf' as const) };
      const peer = m.peers[meta[at + 5]!]!;
      observation = null;
      let record = toRecord(frame, peer, meta[at + 4]!, cfg, metrics, monitor);
      hooks.onRecord?.(record);
      if (observation !== null) observations.push([i, observation]);
      const o = i * OUT_STRIDE;
      let tail: number;
      try {
        tail = prepare(record, peer);
      } catch (err) {
        // The stages made a record the row encoding refuses (a bug): stored as received with the
        // error, as the writer does with such a record of its own (the main thread logs it).
        record = unencodableRecord(record, err, metrics);
        outMeta[o + 5] = OUT_UNENCODABLE;
        tail = prepare(record, peer);
      }
      outMeta[o] = tail;
      outMeta[o + 1] = w - tail;
      // The stored raw bytes (after redaction) are the tail's `raw` field: the main thread keeps no other copy.
      outMeta[o + 2] = v3TailOffset(out, tail, 'raw') + 4;
      outMeta[o + 3] = record.raw.length;
      outMeta[o + 4] = FORMAT_CODES.indexOf(record.format);
    }
    const t: Tallies = [...tallies.values()];
    tallies.clear();
    // Exactly sized: the records' subarrays keep this buffer alive until their batch commits, so no
    // slack is held per queued event (memory bound: bytes held, test/resilience/memory.test.ts).
    const buffer = new ArrayBuffer(w);
    new Uint8Array(buffer).set(out.subarray(0, w));
    return { out: { id: m.id, bytes: buffer, meta: outMeta.buffer, observations, tallies: t, input: m.bytes }, transfer: [buffer, outMeta.buffer, m.bytes] };
  };
}

/** Serves the pool's batches in this worker thread (started with StageWorkerData). */
export function serveStageBatches(hooks?: StageHooks): void {
  const run = stageBatches(workerData as StageWorkerData, hooks);
  parentPort!.on('message', (m: BatchIn) => {
    const { out, transfer } = run(m);
    parentPort!.postMessage(out, transfer);
  });
}
