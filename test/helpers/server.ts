/**
 * Runs the real `syslog-ledger serve` (dist/src/main.js, built by `npm test`) as a child process on
 * ephemeral ports, against a fresh database, with a fresh dev PKI, in its own working directory
 * (started as the benches start it: bench/lib/server.ts's spawnServe).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnServe, type ServeProcess } from '../../bench/lib/server.js';
import { createDevPki, type DevPkiFiles } from '../../src/pki/devpki.js';
import { createTestDatabase } from './db.js';

export const MAIN = resolve(import.meta.dirname, '../../dist/src/main.js');

export interface RunningServer {
  port: number;
  metricsPort: number;
  databaseUrl: string;
  pkiDir: string;
  pki: DevPkiFiles;
  workDir: string;
  /** Log lines (parsed JSON) seen so far. */
  logs: Array<Record<string, unknown>>;
  child: ChildProcess;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stop, then start again on the same ports, database and PKI. */
  restart(): Promise<void>;
  /** Drop the database and remove the work dir. */
  cleanup(): Promise<void>;
  /** Runs a syslog-ledger command (verify, migrate...) against this server's database. */
  cli(args: string[], opts?: { env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface StartOptions {
  pkiDir?: string;
  pki?: DevPkiFiles;
  env?: Record<string, string>;
  args?: string[];
  databaseUrl?: string;
  clients?: Array<{ cn: string; sans?: string[] }>;
}

function startServe(workDir: string, args: string[], env: Record<string, string>): Promise<ServeProcess> {
  return spawnServe({ main: MAIN, args: ['serve', ...args], cwd: workDir, env });
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const workDir = mkdtempSync(join(tmpdir(), 'syslog-ledger-serve-'));
  const pki = opts.pki ?? (await createDevPki({ dir: opts.pkiDir ?? join(workDir, 'certs'), clients: opts.clients ?? [{ cn: 'client1.example.com' }] }));
  const db = opts.databaseUrl ? { url: opts.databaseUrl, drop: async () => {} } : await createTestDatabase('sl_serve');
  let listenPort = 0;
  let metricsPort = 0;
  const argsFor = (): string[] => [
    '--listen', `127.0.0.1:${listenPort}`,
    '--metrics', `127.0.0.1:${metricsPort}`,
    '--database-url', db.url,
    '--tls-cert', pki.server, '--tls-key', pki.serverKey, '--tls-ca', pki.ca,
    '--chain', 'test-chain',
    '--log-level', 'info',
    ...(opts.args ?? []),
  ];
  const env = opts.env ?? {};
  let run = await startServe(workDir, argsFor(), env);
  listenPort = run.port;
  metricsPort = run.metricsPort;

  const stopChild = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    const child = run.child;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  const server: RunningServer = {
    get port() {
      return listenPort;
    },
    get metricsPort() {
      return metricsPort;
    },
    databaseUrl: db.url,
    pkiDir: pki.dir,
    pki,
    workDir,
    get logs() {
      return run.logs;
    },
    get child() {
      return run.child;
    },
    stop: stopChild,
    async restart() {
      await stopChild();
      run = await startServe(workDir, argsFor(), env);
    },
    async cleanup() {
      await stopChild();
      await db.drop();
      rmSync(workDir, { recursive: true, force: true });
    },
    cli: (args, o = {}) => runCli(args, { cwd: workDir, env: { DATABASE_URL: db.url, ...o.env } }),
  };
  return server;
}

export function runCli(args: string[], o: { cwd?: string; env?: Record<string, string>; input?: string | Buffer } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => res({ code, stdout, stderr }));
    child.stdin.end(o.input ?? '');
  });
}
