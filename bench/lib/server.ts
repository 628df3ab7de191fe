/**
 * Starts the real `syslog-ledger serve` (dist/src/main.js) as a child process on ephemeral ports,
 * for one benchmark scenario. `spawnServe` is the one way to start it and wait for it to serve:
 * test/helpers/server.ts uses it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { DevPkiFiles } from '../../src/pki/devpki.js';

export const MAIN = resolve(import.meta.dirname, '../../src/main.js');

/** One line of serve's JSON log, parsed; undefined for anything else (npm's banner, a console line). */
export function logRecord(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A `serve` child process that has logged "syslog-ledger serving". */
export interface ServeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  /** The RELP port, when the args include `--relp-listen`. */
  readonly relpPort: number | undefined;
  /** Log lines (parsed JSON) seen so far, the newest last. */
  readonly logs: Array<Record<string, unknown>>;
}

/**
 * Spawns `node [nodeArgs] <main> <args>` (args start with `serve`) and resolves once it logs
 * "syslog-ledger serving", with the ports it logged; rejects if it exits first or takes 60 s.
 */
export function spawnServe(o: { readonly args: readonly string[]; readonly cwd: string; readonly env?: Record<string, string>; readonly nodeArgs?: readonly string[]; readonly main?: string; readonly maxLogs?: number }): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), o.main ?? MAIN, ...o.args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-10000);
  });
  return new Promise((res, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 60 s; stderr: ${stderr}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before serving; stderr: ${stderr}; logs: ${JSON.stringify(logs.slice(-5))}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const rec = logRecord(line);
      if (rec === undefined) return;
      logs.push(rec);
      if (o.maxLogs !== undefined && logs.length > o.maxLogs) logs.splice(0, o.maxLogs / 2);
      if (rec.msg === 'syslog-ledger serving') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        res({
          child,
          port: Number(String(rec.listen).split(':').pop()),
          metricsPort: Number(String(rec.metrics).split(':').pop()),
          relpPort: rec.relpListen === undefined ? undefined : Number(String(rec.relpListen).split(':').pop()),
          logs,
        });
      }
    });
  });
}

export interface BenchServerOptions {
  readonly databaseUrl: string;
  readonly pki: DevPkiFiles;
  readonly chain: string;
  /** Extra `serve` flags (e.g. `--batch-size 2000`). */
  readonly args?: readonly string[];
  /** Extra node flags (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

export interface BenchServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number;
  /** The RELP port, when the args include `--relp-listen`. */
  readonly relpPort: number | undefined;
  readonly workDir: string;
  /** The last log lines (parsed JSON). */
  readonly logs: Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  /** SIGTERM (commit everything, exit 0) and wait; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
}

export async function startBenchServer(o: BenchServerOptions): Promise<BenchServer> {
  const workDir = mkdtempSync(join(tmpdir(), 'syslog-ledger-bench-'));
  const args = [
    'serve',
    '--listen', '127.0.0.1:0',
    '--metrics', '127.0.0.1:0',
    '--database-url', o.databaseUrl,
    '--tls-cert', o.pki.server, '--tls-key', o.pki.serverKey, '--tls-ca', o.pki.ca,
    '--chain', o.chain,
    '--log-level', 'info',
    '--data-dir', join(workDir, 'data'),
    '--signing-key', join(workDir, 'ledger-signing.key'),
    '--checkpoint-file', join(workDir, 'data', 'checkpoints.jsonl'),
    ...(o.args ?? []),
  ];
  const { child, logs, ...ready } = await spawnServe({ args, cwd: workDir, maxLogs: 200, ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}) });
  return {
    child,
    pid: child.pid!,
    port: ready.port,
    metricsPort: ready.metricsPort,
    relpPort: ready.relpPort,
    workDir,
    logs,
    metrics: async () => (await fetch(`http://127.0.0.1:${ready.metricsPort}/metrics`)).text(),
    async stop(timeoutMs = 60_000) {
      try {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    },
  };
}

/** Value of one sample in a Prometheus exposition (labels must match exactly those given). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[lm[1]!] = lm[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Sum of every sample of a metric (over all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Quantile from a Prometheus histogram's cumulative buckets: the upper bound of the first bucket
 * that holds the quantile (so "p99 <= X"), as a worst case within the bucket's resolution; with
 * `before`, of the observations made after that scrape.
 */
export function histogramQuantileUpper(text: string, name: string, q: number, before?: string): number | undefined {
  const read = (t: string): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    for (const line of t.split('\n')) {
      const m = new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\}\\s+(\\S+)`).exec(line);
      if (m) out.push([m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
    }
    return out;
  };
  // With `before` (a scrape at the start of a run): the observations made since.
  const earlier = new Map(before === undefined ? [] : read(before));
  const buckets = read(text).map(([le, c]): [number, number] => [le, c - (earlier.get(le) ?? 0)]);
  if (buckets.length === 0) return undefined;
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets[buckets.length - 1]![1];
  if (total === 0) return undefined;
  for (const [le, c] of buckets) if (c >= q * total) return le;
  return Number.POSITIVE_INFINITY;
}
