import { readFileSync } from 'node:fs';
import tls from 'node:tls';

export interface ClientFiles {
  cert?: string;
  key?: string;
  ca: string;
}

/** Opens an mTLS connection to the server on 127.0.0.1. */
export function connect(port: number, files: ClientFiles): Promise<tls.TLSSocket> {
  return new Promise((res, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(files.ca),
      ...(files.cert ? { cert: readFileSync(files.cert) } : {}),
      ...(files.key ? { key: readFileSync(files.key) } : {}),
    });
    socket.once('secureConnect', () => res(socket));
    socket.once('error', reject);
  });
}

/** Writes all frames respecting backpressure, then ends the connection and waits for close. */
export async function sendAndClose(socket: tls.TLSSocket, data: Buffer | string): Promise<void> {
  await new Promise<void>((res, reject) => {
    socket.once('error', reject);
    socket.end(data, () => res());
  });
  await new Promise<void>((res) => {
    if (socket.closed) res();
    else socket.once('close', () => res());
  });
}

/** Resolves true if the server closes the connection without accepting data, false if it stays open. */
export function refusedSoon(port: number, files: ClientFiles, ms = 3000): Promise<boolean> {
  return new Promise((res) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(files.ca),
      ...(files.cert ? { cert: readFileSync(files.cert) } : {}),
      ...(files.key ? { key: readFileSync(files.key) } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      res(false);
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      res(true);
    };
    socket.on('error', done);
    socket.on('close', done);
    socket.on('secureConnect', () => socket.write('<13>1 - - - - - probe\n'));
  });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function scrape(metricsPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  return res.text();
}

/** Value of one sample in a Prometheus exposition, e.g. metricValue(text, 'x_total', {reason: 'expired'}). */
export { metricValue } from '../../bench/lib/server.js';
