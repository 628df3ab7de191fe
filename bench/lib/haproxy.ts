/**
 * Runs the real HAProxy (tests and benches) with deploy/haproxy/haproxy.cfg as it is, its
 * addresses and ports given in the SL_* environment variables the file reads. Foreground (-db),
 * logs kept, stopped by the caller.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** From bench/lib/ and from dist/bench/lib/ alike: the first ancestor holding deploy/haproxy. */
export const HAPROXY_CFG = ((): string => {
  for (let d = import.meta.dirname; ; d = resolve(d, '..')) {
    const f = resolve(d, 'deploy/haproxy/haproxy.cfg');
    if (existsSync(f)) return f;
    if (resolve(d, '..') === d) return resolve(import.meta.dirname, '../../deploy/haproxy/haproxy.cfg');
  }
})();

/** The haproxy binary, or null when it is not installed (.ci/run installs it). */
export function findHaproxy(): string | null {
  for (const p of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** A port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', () => res()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

export interface Backend {
  readonly tlsPort: number;
  readonly metricsPort: number;
  readonly relpPort?: number;
}

export interface RunningHaproxy {
  readonly tlsPort: number;
  readonly relpPort: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts haproxy for up to three backends on 127.0.0.1; resolves once its TLS frontend accepts. */
export async function startHaproxy(bin: string, backends: readonly Backend[]): Promise<RunningHaproxy> {
  const tlsPort = await freePort();
  const relpPort = await freePort();
  const env: Record<string, string> = { SL_MAXCONN: '2000', SL_BIND: '127.0.0.1', SL_TLS_PORT: String(tlsPort), SL_RELP_PORT: String(relpPort) };
  backends.forEach((b, i) => {
    const n = i + 1;
    env[`SL_S${n}_ADDR`] = '127.0.0.1';
    env[`SL_S${n}_TLS`] = String(b.tlsPort);
    env[`SL_S${n}_METRICS`] = String(b.metricsPort);
    if (b.relpPort) env[`SL_S${n}_RELP`] = String(b.relpPort);
  });
  const check = spawn(bin, ['-c', '-f', HAPROXY_CFG], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const code = await new Promise<number | null>((res) => check.once('exit', (c) => res(c)));
  if (code !== 0) throw new Error(`haproxy -c rejected ${HAPROXY_CFG} (exit ${code})`);
  const child = spawn(bin, ['-db', '-f', HAPROXY_CFG], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer): void => {
    out = (out + c.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${out}`);
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect({ host: '127.0.0.1', port: tlsPort }, () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${tlsPort}: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    tlsPort,
    relpPort,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
