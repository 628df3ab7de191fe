/**
 * Many connections: (1) hold 1,000 concurrent mTLS connections and read the server's RSS with them
 * open; (2) a reconnect storm: 500 clients connect at once (full handshakes: the server issues no
 * session tickets) and each sends one frame; handshakes/s is counted on the server's side, from the
 * first connect to its `connections_accepted_total` reaching all 500 (certificate checked and accepted).
 * Connection i uses client identity i mod identities.length: one certificate per simulated host, as
 * in production (the server also caps connections per certificate identity, 50 by default).
 */
import tls from 'node:tls';
import { connectTls, type LoadTarget } from './load.js';
import { cpuSeconds, memory } from './lib/proc.js';
import { metricValue, type BenchServer } from './lib/server.js';

const FRAME = Buffer.from('<38>Nov 28 12:00:00 bastion-01 sshd[4242]: Accepted publickey for alice from 10.0.0.7 port 50022 ssh2\n');

async function accepted(server: BenchServer): Promise<{ accepted: number; open: number }> {
  const text = await server.metrics();
  return {
    accepted: metricValue(text, 'syslog_ledger_connections_accepted_total') ?? 0,
    open: metricValue(text, 'syslog_ledger_connections_open') ?? 0,
  };
}

async function until(fn: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await fn())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface HoldResult {
  readonly connections: number;
  readonly openSeconds: number;
  readonly rssBeforeMb: number;
  readonly rssWithMb: number;
  readonly perConnectionKb: number;
  readonly serverCpuMsPerHandshake: number;
}

/** Opens `n` connections (at most `concurrency` handshakes at a time), each sends one frame, all stay open. */
export interface Identity {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export async function holdConnections(server: BenchServer, target: LoadTarget, identities: readonly Identity[], n = 1000, concurrency = 100): Promise<HoldResult> {
  const base = await accepted(server);
  const rssBefore = memory(server.pid).rss;
  const cpu0 = cpuSeconds(server.pid);
  const sockets: tls.TLSSocket[] = [];
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const id = identities[next++ % identities.length]!;
      const s = await connectTls({ ...target, ...id });
      s.on('error', () => undefined);
      s.resume();
      s.write(FRAME);
      sockets.push(s);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
    await until(async () => (await accepted(server)).accepted >= base.accepted + n, 60_000);
    const openSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(server.pid) - cpu0;
    await new Promise((r) => setTimeout(r, 1000)); // let allocation settle
    const rssWith = memory(server.pid).rss;
    return {
      connections: n,
      openSeconds,
      rssBeforeMb: rssBefore / 2 ** 20,
      rssWithMb: rssWith / 2 ** 20,
      perConnectionKb: (rssWith - rssBefore) / 1024 / n,
      serverCpuMsPerHandshake: (cpu * 1000) / n,
    };
  } finally {
    for (const s of sockets) s.end();
    await until(async () => (await accepted(server)).open <= base.open, 30_000, 50).catch(() => {
      for (const s of sockets) s.destroy();
    });
  }
}

export interface StormResult {
  readonly clients: number;
  /** Server-side: all accepted (certificate verified) after this long. */
  readonly seconds: number;
  readonly handshakesPerSec: number;
  /** Client-side: every `secureConnect` seen after this long. */
  readonly clientSeconds: number;
  readonly failed: number;
  readonly serverCpuMsPerHandshake: number;
  /** The load generator's CPU per handshake (the client side shares the machine's 2 cores). */
  readonly clientCpuMsPerHandshake: number;
}

/** `n` clients connect at the same moment, each sends one frame and closes. */
export async function reconnectStorm(server: BenchServer, target: LoadTarget, identities: readonly Identity[], n = 500): Promise<StormResult> {
  const base = await accepted(server);
  // Client TLS contexts (key parsing) made before the clock starts: the storm measures handshakes.
  const contexts = identities.slice(0, n).map((id) => tls.createSecureContext({ ca: target.ca, cert: id.cert, key: id.key }));
  const cpu0 = cpuSeconds(server.pid);
  const own0 = process.cpuUsage();
  let failed = 0;
  const t0 = performance.now();
  const clientDone = Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = tls.connect({ host: target.host ?? '127.0.0.1', port: target.port, servername: 'localhost', secureContext: contexts[i % contexts.length]! });
          s.once('secureConnect', () => {
            s.resume();
            s.end(FRAME);
            resolve();
          });
          s.once('error', () => {
            failed++;
            resolve();
          });
        }),
    ),
  ).then(() => performance.now() - t0);
  await until(async () => (await accepted(server)).accepted >= base.accepted + n - failed, 120_000, 10);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  const own = process.cpuUsage(own0);
  const clientMs = await clientDone;
  await until(async () => (await accepted(server)).open <= base.open, 30_000, 50).catch(() => undefined);
  return {
    clients: n,
    seconds,
    handshakesPerSec: (n - failed) / seconds,
    clientSeconds: clientMs / 1000,
    failed,
    serverCpuMsPerHandshake: (cpu * 1000) / Math.max(1, n - failed),
    clientCpuMsPerHandshake: (own.user + own.system) / 1000 / Math.max(1, n - failed),
  };
}
