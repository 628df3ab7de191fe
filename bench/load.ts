/**
 * Load generator: N mTLS connections (client certificate) sending the benchmark's frame mix
 * (bench/lib/frames.ts), octet-counted, LF or mixed, either as fast as the server takes it (respecting
 * `drain`, so TCP backpressure throttles us rather than our memory growing) or at a fixed total rate.
 * Every frame is built before the clock starts. The clock starts at the first write after every
 * connection's handshake.
 *
 *   node dist/bench/load.js --port P --ca F --cert F --key F [--host 127.0.0.1] [--connections 8]
 *        [--count 200000] [--rate R] [--framing octet|lf|mixed] [--seed 1]
 * prints one JSON line: { t0Ms, tEndMs, frames, bytes, connections, framing, rate, sendRate }
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { FRAMINGS, framedStream, type FramedStream, type Framing } from './lib/frames.js';
import { isEntry } from './lib/entry.js';

export interface LoadTarget {
  readonly host?: string;
  readonly port: number;
  /** PEM contents. */
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface LoadOptions extends LoadTarget {
  readonly connections: number;
  /** Frames in total (split evenly over the connections). */
  readonly count: number;
  /** Frames per second in total; unset: as fast as possible. */
  readonly rate?: number;
  readonly framing: Framing;
  readonly seed?: number;
  /** Index of the first frame (default 0): a run after a warm-up continues its frames, not repeats them. */
  readonly first?: number;
}

export interface LoadResult {
  /** Epoch ms (fractional) of the first byte written. */
  readonly t0Ms: number;
  /** Epoch ms when every connection had flushed its last byte (written to the kernel). */
  readonly tEndMs: number;
  readonly frames: number;
  readonly bytes: number;
  readonly connections: number;
  readonly framing: Framing;
  readonly rate: number | null;
  /** Frames per second from first to last write (not a server figure). */
  readonly sendRate: number;
}

/** Wall clock in ms with sub-ms resolution, on the same footing as the server's receive times. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** A prepared load: frames built, not yet connected. */
export interface PreparedLoad {
  readonly streams: readonly FramedStream[];
  readonly options: LoadOptions;
}

/** Builds every connection's frames. Connection c sends frames c*per .. (c+1)*per-1 of the mix. */
export function prepareLoad(options: LoadOptions): PreparedLoad {
  const per = Math.floor(options.count / options.connections);
  const streams: FramedStream[] = [];
  for (let c = 0; c < options.connections; c++) {
    const n = c === options.connections - 1 ? options.count - per * c : per;
    streams.push(framedStream(n, options.framing, (options.seed ?? 1) * 1000 + c, (options.first ?? 0) + c * per));
  }
  return { streams, options };
}

/** Opens one mTLS connection; resolves after the handshake. */
export function connectTls(t: LoadTarget): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: t.host ?? '127.0.0.1', port: t.port, servername: 'localhost', ca: t.ca, cert: t.cert, key: t.key });
    s.once('secureConnect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Ends the connection and waits for the server to close its side (so no queued byte is lost to a RST). */
function finish(s: tls.TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => s.destroy(), 60_000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.end();
  });
}

/** Writes `buf` in ~64 KiB slices as fast as the socket drains. */
function pumpMax(s: tls.TLSSocket, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const STEP = 64 * 1024;
    let off = 0;
    s.once('error', reject);
    const pump = (): void => {
      while (off < buf.length) {
        const end = Math.min(buf.length, off + STEP);
        const ok = s.write(buf.subarray(off, end));
        off = end;
        if (!ok) {
          s.once('drain', pump);
          return;
        }
      }
      s.off('error', reject);
      resolve();
    };
    pump();
  });
}

/**
 * Sends all connections' frames at `rate` frames/s in total: every tick (~2 ms) each connection writes
 * the frames that are due by then, as one write. A connection that cannot keep up (no drain) falls
 * behind and catches up later, so the offered rate stays the target on average.
 */
function pumpPaced(sockets: tls.TLSSocket[], streams: readonly FramedStream[], rate: number, t0: number): Promise<void> {
  const perConn = rate / sockets.length;
  const sent = new Array<number>(sockets.length).fill(0);
  const blocked = new Array<boolean>(sockets.length).fill(false);
  return new Promise((resolve) => {
    const tick = (): void => {
      const elapsed = (performance.now() - t0) / 1000;
      let done = 0;
      for (let c = 0; c < sockets.length; c++) {
        const st = streams[c]!;
        if (sent[c] === st.frames) {
          done++;
          continue;
        }
        if (blocked[c]) continue;
        const due = Math.min(st.frames, Math.floor(perConn * elapsed));
        if (due > sent[c]!) {
          const from = sent[c] === 0 ? 0 : st.ends[sent[c]! - 1]!;
          const to = st.ends[due - 1]!;
          sent[c] = due;
          if (!sockets[c]!.write(st.buffer.subarray(from, to))) {
            blocked[c] = true;
            sockets[c]!.once('drain', () => (blocked[c] = false));
          }
        }
      }
      if (done === sockets.length) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
}

/** Connects every connection, then sends; resolves when all bytes are flushed and the connections closed. */
export async function runLoad(p: PreparedLoad): Promise<LoadResult> {
  const o = p.options;
  const sockets = await Promise.all(p.streams.map(() => connectTls(o)));
  for (const s of sockets) s.resume(); // the server sends nothing; never let reads stall the socket
  const t0Ms = epochMs();
  const t0 = performance.now();
  if (o.rate) await pumpPaced(sockets, p.streams, o.rate, t0);
  else await Promise.all(sockets.map((s, c) => pumpMax(s, p.streams[c]!.buffer)));
  // All bytes are queued; wait until they left this process.
  await Promise.all(sockets.map((s) => (s.writableNeedDrain ? new Promise((r) => s.once('drain', r)) : undefined)));
  const tEndMs = epochMs();
  await Promise.all(sockets.map(finish));
  const frames = p.streams.reduce((a, s) => a + s.frames, 0);
  const bytes = p.streams.reduce((a, s) => a + s.buffer.length, 0);
  return { t0Ms, tEndMs, frames, bytes, connections: sockets.length, framing: o.framing, rate: o.rate ?? null, sendRate: (frames * 1000) / (tEndMs - t0Ms) };
}

async function cli(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      connections: { type: 'string', default: '8' },
      count: { type: 'string', default: '200000' },
      rate: { type: 'string' },
      framing: { type: 'string', default: 'mixed' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.port || !values.ca || !values.cert || !values.key) {
    console.error('usage: node dist/bench/load.js --port P --ca F --cert F --key F [--host H] [--connections 8] [--count 200000] [--rate R] [--framing octet|lf|mixed] [--seed 1]');
    return values.help ? 0 : 2;
  }
  const framing = values.framing as Framing;
  if (!FRAMINGS.includes(framing)) {
    console.error(`--framing must be one of ${FRAMINGS.join(', ')}`);
    return 2;
  }
  const prepared = prepareLoad({
    host: values.host,
    port: Number(values.port),
    ca: readFileSync(values.ca),
    cert: readFileSync(values.cert),
    key: readFileSync(values.key),
    connections: Number(values.connections),
    count: Number(values.count),
    ...(values.rate ? { rate: Number(values.rate) } : {}),
    framing,
    seed: Number(values.seed),
  });
  console.log(JSON.stringify(await runLoad(prepared)));
  return 0;
}

if (isEntry(import.meta.url)) process.exitCode = await cli(process.argv.slice(2));
