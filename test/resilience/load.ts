/**
 * Shared pieces of the resilience tests: a paced mTLS load client that counts what it wrote, an
 * RSS sampler for the server process, and ledger read-back that checks "every event, once, in order".
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { RunningServer } from '../helpers/server.js';
import { query } from '../helpers/db.js';

export interface ClientFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export function clientOf(server: RunningServer, cert = server.pki.client, key = server.pki.clientKey): ClientFiles {
  return { cert, key, ca: server.pki.ca };
}

/** One RFC 5424 frame (LF-framed) whose message is `<prefix> <i>`, then `pad` more characters if given. */
export function frame(prefix: string, i: number, host = 'web-1.example.com', pad = 0): string {
  return `<134>1 2024-05-01T12:00:00.000000Z ${host} loadgen 4242 - - ${prefix} ${i}${pad > 0 ? ` ${'p'.repeat(pad)}` : ''}\n`;
}

export interface Load {
  /** Frames handed to the socket (`write()` called) while it was open. */
  readonly written: number;
  /** Frames whose write completed without error (handed to the kernel). */
  readonly flushed: number;
  /** Frames flushed before the server ended the connection (its FIN, or a reset). */
  readonly flushedBeforeServerClose: number | null;
  /** Frames written (flushed or still in the socket's buffer) when the server ended the connection. */
  readonly writtenBeforeServerClose: number | null;
  /** The connection closed (by either side). */
  readonly closed: boolean;
  /** The server ended or reset the connection before `stop()` was called. */
  readonly closedByServer: boolean;
  readonly socket: tls.TLSSocket;
  /** Stops generating, ends the connection after everything written is flushed, waits for close. */
  stop(): Promise<void>;
}

/**
 * Opens one mTLS connection and writes `rate` frames per second (in 20 ms ticks) until stopped or
 * until the server closes it. Like rsyslog, it stops writing once the server ends the connection;
 * while TCP pushes back, frames wait in the socket's buffer (the client's "queue").
 */
export async function startLoad(port: number, files: ClientFiles, opts: { rate: number; prefix: string; host?: string; maxFrames?: number; pad?: number }): Promise<Load> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(files.ca),
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
  });
  await new Promise<void>((res, reject) => {
    socket.once('secureConnect', () => res());
    socket.once('error', reject);
  });
  let written = 0;
  let flushed = 0;
  let flushedAtServerClose: number | null = null;
  let writtenAtServerClose: number | null = null;
  let stopping = false;
  let closed = false;
  let closedByServer = false;
  const serverClosed = (): void => {
    if (stopping || flushedAtServerClose !== null) return;
    closedByServer = true;
    flushedAtServerClose = flushed;
    writtenAtServerClose = written;
  };
  socket.on('end', serverClosed);
  socket.on('error', serverClosed);
  const closedP = new Promise<void>((res) => socket.once('close', () => {
    serverClosed();
    closed = true;
    res();
  }));
  const perTick = opts.rate / 50;
  let owed = 0;
  const tick = setInterval(() => {
    if (stopping || closedByServer || socket.destroyed || socket.writableEnded) return;
    owed += perTick;
    let chunk = '';
    let n = 0;
    while (owed >= 1 && (opts.maxFrames === undefined || written + n < opts.maxFrames)) {
      chunk += frame(opts.prefix, written + n, opts.host, opts.pad);
      n++;
      owed--;
    }
    if (n === 0) return;
    written += n;
    socket.write(chunk, (err) => {
      if (!err) flushed += n;
    });
  }, 20);
  return {
    get written() {
      return written;
    },
    get flushed() {
      return flushed;
    },
    get flushedBeforeServerClose() {
      return flushedAtServerClose;
    },
    get writtenBeforeServerClose() {
      return writtenAtServerClose;
    },
    get closed() {
      return closed;
    },
    get closedByServer() {
      return closedByServer;
    },
    socket,
    async stop() {
      clearInterval(tick);
      stopping = true;
      if (!socket.destroyed) socket.end();
      await closedP;
    },
  };
}

/** Samples the resident set size of a process every `everyMs` from /proc. */
export function sampleRss(pid: number, everyMs = 200): { readonly maxBytes: number; readonly lastBytes: number; stop(): void } {
  let max = 0;
  let last = 0;
  const read = (): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) {
        last = Number(m[1]) * 1024;
        max = Math.max(max, last);
      }
    } catch {
      // The process is gone.
    }
  };
  read();
  const t = setInterval(read, everyMs);
  return {
    get maxBytes() {
      return max;
    },
    get lastBytes() {
      return last;
    },
    stop: () => clearInterval(t),
  };
}

/** The numbers of the frames with `prefix` in the ledger, in seq order. */
export async function ledgerIndexes(databaseUrl: string, prefix: string): Promise<number[]> {
  const rows = await query<{ msg: string }>(
    databaseUrl,
    `SELECT syslog->>'message' AS msg FROM ledger_rows WHERE format <> 'internal' AND syslog->>'message' LIKE $1 ORDER BY chain, seq`,
    [`${prefix} %`],
  );
  return rows.map((r) => Number.parseInt(r.msg.slice(prefix.length + 1), 10));
}

export async function ledgerCount(databaseUrl: string, prefix: string): Promise<number> {
  const rows = await query<{ n: string }>(databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' LIKE $1`, [`${prefix} %`]);
  return Number(rows[0]!.n);
}

export interface Tally {
  readonly stored: number;
  /** Indexes below `expected` not in the ledger. */
  readonly missing: number;
  readonly duplicates: number;
  /** Adjacent pairs (by seq) whose indexes go backwards. */
  readonly outOfOrder: number;
  /** Highest index stored + 1 (frames written after `expected` may be there too). */
  readonly through: number;
}

/** Checks indexes 0..expected-1 are each there once, in increasing order. */
export function tally(indexes: readonly number[], expected: number): Tally {
  const seen = new Set<number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let through = 0;
  for (let i = 0; i < indexes.length; i++) {
    const v = indexes[i]!;
    if (seen.has(v)) duplicates++;
    seen.add(v);
    if (i > 0 && v < indexes[i - 1]!) outOfOrder++;
    through = Math.max(through, v + 1);
  }
  let missing = 0;
  for (let i = 0; i < expected; i++) if (!seen.has(i)) missing++;
  return { stored: indexes.length, missing, duplicates, outOfOrder, through };
}

export async function readyz(metricsPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const MiB = 1024 * 1024;
