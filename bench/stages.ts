/**
 * Micro-benchmarks per pipeline stage, in events/s on one core (this process's main thread), over
 * the same frame mix the load test sends. A slowdown in the end-to-end figure can be traced here to
 * the stage that caused it. The stage functions are the server's own (dist/src/...).
 *
 *   framing          Framer.push over 16 KiB chunks (one TLS record each) of a mixed octet/LF stream
 *   parse            parseFrame, auto-detect, the whole mix; and per format
 *   normalize        normalize() of an already parsed frame
 *   toRecord         parse + normalize + lift columns + metrics: what the listener callback does per frame
 *   canonicalJson    canonicalJson(syslog) + canonicalJson(event)
 *   chainHash        canonical bytes + SHA-256, given the canonical JSON texts
 *   copyLine         COPY text encoding of one chained row
 *   COPY bytes       copyLine, then copyChunks: the lines as the UTF-8 chunks the writer sends
 *   ledger (writer)  everything the writer does per row before COPY: canonicalJson x2 + chainHash + COPY bytes
 */
import { Framer } from '../src/framing/framer.js';
import type { PeerIdentity } from '../src/listener/identity.js';
import { canonicalJson, canonicalRowOf, chainHash, chainRecord, ledgerColumns, type CanonicalRow } from '../src/ledger/canonical.js';
import { copyChunks, copyLine } from '../src/ledger/copy.js';
import { chainConnection, chainRecordV3Into, v3Values, type ChainConnection } from '../src/ledger/v3.js';
import { CopyBuffer } from '../src/ledger/copy-binary.js';
import { encodeV3Linked, encodeV3Tail, v3TailMaxSize } from '../src/ledger/row.js';
import { sha256 } from '../src/ledger/sha256.js';
import { deserialize, serialize } from 'node:v8';
import { ZERO_HASH, type ChainedRecord, type LedgerRecord } from '../src/ledger/types.js';
import { toRecord } from '../src/stages.js';
import { Metrics } from '../src/metrics/registry.js';
import { normalize } from '../src/normalize/index.js';
import { parseFrame } from '../src/parsing/index.js';
import type { ParsedMessage } from '../src/parsing/types.js';
import { framedStream, messages, MIX_KINDS, type MixKind } from './lib/frames.js';
import { keep, measure, type OpsResult } from './lib/measure.js';

export const BENCH_PEER: PeerIdentity = {
  cn: 'client1.example.com',
  sans: ['DNS:client1.example.com'],
  subject: 'O=syslog-ledger,CN=client1.example.com',
  fingerprint: 'ab'.repeat(32),
  address: '127.0.0.1:50000',
};

const RECEIVED_US = Date.UTC(2026, 10, 28, 12, 0, 1) * 1000 + 123;
const CFG = { format: 'auto', timeZone: 'UTC' } as const;

/** Frames of the mix, cut by the real framer (so `raw`/`body` are exactly what the server sees). */
export function mixFrames(count: number, seed = 7, start = 0): ReturnType<Framer['push']> {
  const s = framedStream(count, 'mixed', seed, start);
  const f = new Framer({ maxFrameBytes: 64 * 1024 });
  return [...f.push(s.buffer), ...f.end()];
}

/** Records (toRecord) for frames `start`.., received 20 µs apart (a 50,000/s stream). */
export function mixRecords(count: number, seed = 7, start = 0): LedgerRecord[] {
  const metrics = new Metrics({ defaultMetrics: false });
  return mixFrames(count, seed, start).map((fr, i) => toRecord(fr, BENCH_PEER, RECEIVED_US + (start + i) * 20, CFG, metrics));
}

/** Chains records as the writer does (src/ledger/chainer.ts Chainer.chainBatch); returns rows and COPY lines. */
let benchConn: ChainConnection | undefined;
/** The connection record of BENCH_PEER (id: the first seq chained). */
function benchConnection(id: number): ChainConnection {
  if (benchConn === undefined || benchConn.id !== id) benchConn = chainConnection(id, BENCH_PEER);
  return benchConn;
}

/** Chains records as v3 rows (the writer's format) with their binary COPY data (V3_COPY_SQL), as the writer does. */
export function chainRecords(chain: string, records: readonly LedgerRecord[], from = { seq: 0, hash: ZERO_HASH }): { rows: ChainedRecord[]; copy: Buffer[] } {
  let seq = from.seq;
  let prevHash = from.hash;
  const rows: ChainedRecord[] = new Array(records.length);
  const out = new CopyBuffer();
  for (let i = 0; i < records.length; i++) {
    seq++;
    // Ledger format v3, as the writer writes it: one connection (BENCH_PEER) for all rows.
    rows[i] = chainRecordV3Into(records[i]!, chain, seq, prevHash, benchConnection(from.seq + 1), out);
    prevHash = rows[i]!.hash;
  }
  return { rows, copy: out.take() };
}

const canonicalRow = (chain: string, seq: number, r: LedgerRecord, syslogJson: string, eventJson: string): CanonicalRow => canonicalRowOf(r, chain, seq, syslogJson, eventJson, ledgerColumns(r.columns).lifted);

export interface StageReport {
  readonly stages: OpsResult[];
  /** Average frame size of the mix (framed bytes / frames). */
  readonly avgFrameBytes: number;
  /** Share of each kind in the mix, and how the server's parser classified them. */
  readonly formats: Record<string, number>;
  /** Average canonical JSON sizes (syslog, event), the v2 COPY text line and the v3 binary COPY row, bytes. */
  readonly sizes: { syslogJson: number; eventJson: number; copyLine: number; copyBinary: number };
  /** One core doing only these stages in sequence: 1 / sum(1/rate). */
  readonly pipelineOneCore: number;
}

/** Runs every stage benchmark. `n` frames are cycled through (default 20,000). */
export function benchStages(n = Number(process.env.BENCH_STAGE_N ?? 20000)): StageReport {
  const stream = framedStream(n, 'mixed', 7);
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.buffer.length; o += 16384) chunks.push(stream.buffer.subarray(o, o + 16384));
  const frames = mixFrames(n);
  const metrics = new Metrics({ defaultMetrics: false });
  const results: OpsResult[] = [];

  results.push(
    measure('framing (Framer.push, 16 KiB chunks)', n, () => {
      const f = new Framer({ maxFrameBytes: 64 * 1024 });
      let k = 0;
      for (const c of chunks) k += f.push(c).length;
      return k;
    }),
  );

  const ctx = { receivedAtMs: Math.floor(RECEIVED_US / 1000), timeZone: 'UTC', format: 'auto' } as const;
  results.push(measure('parse (parseFrame, mix)', n, () => frames.map((f) => parseFrame(f.body, ctx))));
  const kinds = messages(n, 7).map((m) => m.kind);
  for (const kind of MIX_KINDS) {
    const sub = frames.filter((_, i) => kinds[i] === kind);
    if (sub.length) results.push(measure(`  parse: ${kind}`, sub.length, () => sub.map((f) => parseFrame(f.body, ctx))));
  }

  const parsed: ParsedMessage[] = frames.map((f) => parseFrame(f.body, ctx));
  const rawTexts = frames.map((f) => f.body.toString('utf8'));
  results.push(
    measure('normalize (parsed -> OCSF event)', n, () =>
      parsed.map((p, i) => normalize(p, { peer: BENCH_PEER, receivedAtMs: ctx.receivedAtMs, rawText: rawTexts[i]! })),
    ),
  );
  results.push(measure('toRecord (parse+normalize+lift)', n, () => frames.map((f, i) => toRecord(f, BENCH_PEER, RECEIVED_US + i, CFG, metrics))));

  const records = frames.map((f, i) => toRecord(f, BENCH_PEER, RECEIVED_US + i, CFG, metrics));
  // Rows as a stage worker prepares them (src/workers/stage-batch.ts): the canonical tail.
  const prepared = records.map((r) => {
    const { values } = v3Values(r, '', 0, chainConnection(0, BENCH_PEER));
    const b = Buffer.allocUnsafe(v3TailMaxSize(values));
    return { receivedAtUs: r.receivedAtUs, tail: b.subarray(0, encodeV3Tail(values, b, 0)) };
  });
  results.push(measure('canonicalJson (syslog + event)', n, () => records.map((r) => canonicalJson(r.syslog).length + canonicalJson(r.event).length)));
  const json = records.map((r) => [canonicalJson(r.syslog), canonicalJson(r.event)] as const);
  results.push(
    measure('chainHash (canonical bytes + SHA-256)', n, () => {
      let prev = ZERO_HASH;
      for (let i = 0; i < records.length; i++) prev = chainHash(prev, canonicalRow('bench', i + 1, records[i]!, json[i]![0], json[i]![1]));
      return prev;
    }),
  );
  const { rows, copy } = chainRecords('bench', records);
  const lines = rows.map((r, i) => copyLine(r, json[i]![0], json[i]![1]));
  results.push(measure('copyLine (COPY text encoding)', n, () => rows.map((r, i) => copyLine(r, json[i]![0], json[i]![1]))));
  results.push(measure('COPY bytes (copyLine + copyChunks, UTF-8)', n, () => copyChunks(rows.map((r, i) => copyLine(r, json[i]![0], json[i]![1])))));
  // In writer-sized batches (5,000), as the writer does: one pass over all n would measure a major GC of n rows.
  const batches: LedgerRecord[][] = [];
  for (let o = 0; o < records.length; o += 5000) batches.push(records.slice(o, o + 5000));
  results.push(measure('ledger prep (v3: split + canonical + hash + binary COPY)', n, () => batches.reduce((a, b) => a + chainRecords('bench', b).copy.length, 0)));

  // The v3 writer's own path (src/ledger/chainer.ts Chainer.chainBatch) against its reference, same batches.
  const conn = benchConnection(1);
  const copyOut = new CopyBuffer();
  results.push(
    measure('v3 split (v3Values: derive, split, canonical JSON)', n, () => records.reduce((a, r, i) => a + v3Values(r, 'bench', i + 1, conn).values.seq, 0)),
  );
  results.push(
    measure('COPY bytes (v3, direct: chainRecordV3Into + binary CopyBuffer)', n, () =>
      batches.reduce((a, b) => {
        let prev = ZERO_HASH;
        for (let i = 0; i < b.length; i++) prev = chainRecordV3Into(b[i]!, 'bench', i + 1, prev, conn, copyOut).hash;
        return a + copyOut.take().length;
      }, 0),
    ),
  );
  // What a worker's answer would cost the main thread as objects (why src/workers/ sends bytes).
  const slim = records.slice(0, 2000).map((r) => ({ syslog: r.syslog, event: r.event, columns: r.columns }));
  const cloned = serialize(slim);
  results.push(measure('worker transfer (structured clone of syslog+event+columns, deserialize)', slim.length, () => deserialize(cloned)));
  results.push(
    measure('worker link (main thread: encodeV3Linked + SHA-256 + binary COPY, prepared rows)', n, () => {
      let prev = ZERO_HASH;
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i]!;
        prev = sha256(encodeV3Linked(prev, 'bench', i + 1, p.receivedAtUs, conn.id, conn.bytes, p.tail, 0, p.tail.length));
        copyOut.linked('bench', i + 1, p.receivedAtUs, conn.id, p.tail, 0, p.tail.length, prev);
        if ((i & 4095) === 4095) copyOut.take();
      }
      return copyOut.take().length;
    }),
  );

  const avg = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
  const formats: Record<string, number> = {};
  for (const r of records) formats[r.format] = (formats[r.format] ?? 0) + 1;
  for (const k of MIX_KINDS) formats[`mix_${k}`] = kinds.filter((x: MixKind) => x === k).length;
  keep(lines);
  const get = (prefix: string): number => results.find((r) => r.name.startsWith(prefix))!.opsPerSec;
  const pipelineOneCore = 1 / (1 / get('framing') + 1 / get('toRecord') + 1 / get('COPY bytes (v3, direct'));
  return {
    stages: results,
    avgFrameBytes: Math.round(stream.buffer.length / n),
    formats,
    sizes: { syslogJson: avg(json.map((j) => Buffer.byteLength(j[0]))), eventJson: avg(json.map((j) => Buffer.byteLength(j[1]))), copyLine: avg(lines.map((l) => Buffer.byteLength(l))), copyBinary: Math.round(copy.reduce((a, b) => a + b.length, 0) / rows.length) },
    pipelineOneCore,
  };
}
