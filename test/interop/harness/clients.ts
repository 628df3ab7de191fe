/**
 * Runs rsyslog and syslog-ng as foreground child processes with their own configuration, pid
 * file, state and work folders: no systemd, no /etc/rsyslog.conf, no /dev/log (the main configs
 * below load no imuxsock/imklog and no system() source), nothing shared with a system daemon.
 *
 *   rsyslogd -n -f <dir>/rsyslog.conf -i <dir>/rsyslogd.pid          workDirectory <dir>/spool
 *   syslog-ng -F -f <dir>/syslog-ng.conf -R <dir>/persist -p <dir>/pid -c <dir>/ctl --no-caps -e
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { syslogNgConfigVersion, type ClientBinary } from './binaries.js';

/** A running client program. */
export interface ClientProcess {
  readonly name: string;
  readonly pid: number;
  /** The configuration it runs (main config with the published drop-in inside). */
  readonly config: string;
  /** What it printed (stdout and stderr), last 64 KiB. */
  output(): string;
  /** SIGTERM, wait for a clean exit (SIGKILL after `timeoutMs`); returns the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

function supervise(name: string, child: ChildProcess, config: string): ClientProcess {
  let out = '';
  const keep = (c: Buffer): void => {
    out += c.toString('utf8').replace(/\0/g, '');
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((res) => child.once('exit', (code, signal) => res(code ?? (signal ? -1 : null))));
  return {
    name,
    pid: child.pid!,
    config,
    output: () => out,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

async function waitUntil(what: string, proc: ClientProcess, child: ChildProcess, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${proc.output()}\n--- config ---\n${proc.config}`);
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: no ${what} after ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts rsyslogd in the foreground with `dropIn` (a deploy/clients file, values replaced) under
 * a minimal main configuration standing in for /etc/rsyslog.conf.
 */
export async function startRsyslog(bin: ClientBinary, opts: { dir: string; dropIn: string; name?: string }): Promise<ClientProcess> {
  const spool = join(opts.dir, 'spool');
  await mkdir(spool, { recursive: true });
  const config = [
    '# Test stand-in for /etc/rsyslog.conf: a private work directory and nothing else',
    '# (no imuxsock, no imklog: /dev/log and the kernel log stay with the system).',
    `global(workDirectory="${spool}")`,
    '',
    opts.dropIn,
  ].join('\n');
  const confPath = join(opts.dir, 'rsyslog.conf');
  const pidPath = join(opts.dir, 'rsyslogd.pid');
  await writeFile(confPath, config);
  const child = spawn(bin.path, [...bin.baseArgs, '-n', '-f', confPath, '-i', pidPath], {
    env: { ...process.env, ...bin.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = supervise(opts.name ?? 'rsyslogd', child, config);
  // rsyslogd writes its pid file once the configuration is loaded and inputs are running.
  await waitUntil('pid file', proc, child, () => existsSync(pidPath));
  return proc;
}

/**
 * Starts syslog-ng in the foreground with `dropIn` (a deploy/clients file, values replaced)
 * under a minimal main configuration standing in for /etc/syslog-ng/syslog-ng.conf.
 */
export async function startSyslogNg(bin: ClientBinary, opts: { dir: string; dropIn: string; name?: string }): Promise<ClientProcess> {
  await mkdir(opts.dir, { recursive: true });
  const config = [
    `@version: ${syslogNgConfigVersion(bin)}`,
    '# Test stand-in for /etc/syslog-ng/syslog-ng.conf: no system() source, no SCL.',
    'options { stats-freq(0); };',
    '',
    opts.dropIn,
  ].join('\n');
  const confPath = join(opts.dir, 'syslog-ng.conf');
  await writeFile(confPath, config);
  const child = spawn(
    bin.path,
    [
      ...bin.baseArgs,
      '-F',
      '-e',
      '--no-caps',
      '-f', confPath,
      '-R', join(opts.dir, 'syslog-ng.persist'),
      '-p', join(opts.dir, 'syslog-ng.pid'),
      '-c', join(opts.dir, 'syslog-ng.ctl'),
    ],
    { env: { ...process.env, ...bin.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const proc = supervise(opts.name ?? 'syslog-ng', child, config);
  await waitUntil('"starting up" message', proc, child, () => proc.output().includes('syslog-ng starting up'));
  return proc;
}
