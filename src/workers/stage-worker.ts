/**
 * A stage worker (worker_threads): per frame of a batch, the stages (parse, normalize, host binding,
 * lift, redact: toRecord, the same function the inline path calls) and the v3 row's part that needs
 * no place in the chain: its canonical tail (src/ledger/prepared.ts). The main thread keeps TLS,
 * framing, the chain link (one SHA-256 over prev || row) and COPY (written from the tail).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LedgerError } from '../errors.js';
import { encodeV3Tail, v3TailMaxSize, v3TailOffset } from '../ledger/row.js';
import { chainConnection, v3Values, type ChainConnection } from '../ledger/v3.js';
import type { PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import { observationOf } from '../monitoring/sequence.js';
import { Redactor } from '../redact/redactor.js';
import { toRecord, type RecordConfig } from '../stages.js';
import { FORMAT_CODES, IN_OCTET, IN_STRIDE, IN_TRUNCATED, OUT_PREP_FAILED, OUT_STRIDE, type BatchIn, type BatchOut, type StageWorkerData, type Tallies } from './protocol.js';

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

/** The failure a test asks for (StageWorkerData.failOnMarker). */
class StageFailure extends LedgerError {
  readonly canContinue = true;
}

const data = workerData as StageWorkerData;
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
function connectionFor(peer: PeerIdentity): ChainConnection {
  let c = connections.get(peer);
  if (c === undefined) connections.set(peer, (c = chainConnection(0, peer)));
  return c;
}

const frameText = (p: Parameters<typeof observationOf>[0]): string => `${p.syslog.app_name ?? ''}[${p.syslog.procid ?? ''}] ${p.syslog.message ?? ''}`;

let observation: unknown = null;
const monitor = {
  onParsed(parsed: Parameters<typeof observationOf>[0], _peer: PeerIdentity, receivedAtUs: number): void {
    if (data.failOnMarker !== undefined && parsed.syslog.message?.includes(data.failOnMarker)) throw new StageFailure(`test marker ${data.failOnMarker}`);
    if (data.exitOnMarker !== undefined && frameText(parsed).includes(data.exitOnMarker)) process.exit(1);
    if (data.hangOnMarker !== undefined && frameText(parsed).includes(data.hangOnMarker)) for (;;);
    observation = observationOf(parsed, receivedAtUs);
  },
};

/** The output being built, reused from batch to batch (only an exact copy is transferred). */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

function run(m: BatchIn): { out: BatchOut; transfer: ArrayBuffer[] } {
  const bytes = Buffer.from(m.bytes);
  const meta = new Float64Array(m.meta);
  const n = meta.length / IN_STRIDE;
  const outMeta = new Float64Array(n * OUT_STRIDE);
  const rawBytes = n > 0 ? meta[(n - 1) * IN_STRIDE]! + meta[(n - 1) * IN_STRIDE + 1]! : 0;
  let out = scratch.length >= rawBytes * 2 + n * 1024 ? scratch : (scratch = Buffer.allocUnsafeSlow(rawBytes * 2 + n * 1024));
  let w = 0;
  const observations: BatchOut['observations'] = [];
  for (let i = 0; i < n; i++) {
    const at = i * IN_STRIDE;
    const start = meta[at]!;
    const raw = bytes.subarray(start, start + meta[at + 1]!);
    const flags = meta[at + 3]!;
    const frame = { raw, body: raw.subarray(0, meta[at + 2]!), truncated: (flags & IN_TRUNCATED) !== 0, framing: (flags & IN_OCTET) !== 0 ? ('octet-counted' as const) : ('lf' as const) };
    const peer = m.peers[meta[at + 5]!]!;
    observation = null;
    const record = toRecord(frame, peer, meta[at + 4]!, cfg, metrics, monitor);
    if (observation !== null) observations.push([i, observation]);
    const o = i * OUT_STRIDE;
    outMeta[o + 4] = FORMAT_CODES.indexOf(record.format);
    try {
      const { values } = v3Values(record, '', 0, connectionFor(peer));
      const need = v3TailMaxSize(values);
      if (w + need > out.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, w + need));
        out.copy(bigger, 0, 0, w);
        out = scratch = bigger;
      }
      const tailEnd = encodeV3Tail(values, out, w);
      outMeta[o] = w;
      outMeta[o + 1] = tailEnd - w;
      // The stored raw bytes (after redaction) are the tail's `raw` field: the main thread keeps no other copy.
      outMeta[o + 2] = v3TailOffset(out, w, 'raw') + 4;
      outMeta[o + 3] = values.raw.length;
      w = tailEnd;
    } catch {
      // The main thread processes this frame on its own path (the writer's, which reports the error).
      outMeta[o + 5] = OUT_PREP_FAILED;
    }
  }
  const t: Tallies = [...tallies.values()];
  tallies.clear();
  // Exactly sized: the records' subarrays keep this buffer alive until their batch commits, so no
  // slack is held per queued event (memory bound: bytes held, test/resilience/memory.test.ts).
  const buffer = new ArrayBuffer(w);
  new Uint8Array(buffer).set(out.subarray(0, w));
  return { out: { id: m.id, bytes: buffer, meta: outMeta.buffer, observations, tallies: t, input: m.bytes }, transfer: [buffer, outMeta.buffer, m.bytes] };
}

parentPort!.on('message', (m: BatchIn) => {
  const { out, transfer } = run(m);
  parentPort!.postMessage(out, transfer);
});
