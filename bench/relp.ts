/**
 * RELP throughput: one mTLS connection to `serve --relp-listen`, `open`, then N `syslog` frames of
 * the benchmark mix (bench/lib/frames.ts) with at most `window` frames unacknowledged, as omrelp
 * does with windowSize="1024". Each ack arrives only after the frame's COMMIT, so the clock, from
 * the first byte sent to the last ack received, measures committed events per second.
 */
import { isParseError, RelpParser } from '../src/relp/parser.js';
import { messages } from './lib/frames.js';
import { connectTls, epochMs, type LoadTarget } from './load.js';

export interface RelpLoadResult {
  readonly frames: number;
  readonly window: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
  /** Most frames seen unacknowledged at once. */
  readonly maxOutstanding: number;
}

export async function relpLoad(t: LoadTarget, count: number, window: number): Promise<RelpLoadResult> {
  // Every frame built before the clock starts; txnr 1 is the open.
  const frames = messages(count, 7).map((m, i) => {
    const data = Buffer.from(m.text);
    return Buffer.concat([Buffer.from(`${i + 2} syslog ${data.length} `), data, Buffer.from('\n')]);
  });
  const socket = await connectTls(t);
  const parser = new RelpParser({ maxDataBytes: 1 << 16 });
  let acked = 0;
  let sent = 0;
  let maxOutstanding = 0;
  const t0 = epochMs();
  const done = new Promise<number>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`RELP connection closed after ${acked} of ${count} acks`)));
    const pump = (): void => {
      const parts: Buffer[] = [];
      while (sent < count && sent - acked < window) parts.push(frames[sent++]!);
      if (parts.length) socket.write(Buffer.concat(parts));
      maxOutstanding = Math.max(maxOutstanding, sent - acked);
    };
    let opened = false;
    socket.on('data', (chunk: Buffer) => {
      for (const item of parser.push(chunk)) {
        if (isParseError(item) || item.command !== 'rsp') continue;
        if (!item.data.toString('latin1').startsWith('200')) return reject(new Error(`rsp ${item.txnr}: ${item.data.toString('latin1')}`));
        if (item.txnr === 1) opened = true;
        else acked++;
      }
      if (acked === count) return resolve(epochMs());
      if (opened) pump();
    });
  });
  const offers = 'relp_version=0\nrelp_software=syslog-ledger-bench\ncommands=syslog';
  socket.write(`1 open ${offers.length} ${offers}\n`);
  const tEnd = await done;
  socket.removeAllListeners('close');
  socket.destroy();
  const seconds = (tEnd - t0) / 1000;
  return { frames: count, window, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(count / seconds), maxOutstanding };
}
