/**
 * The first hour of a new user (issue 20), following docs/tutorial.md ("Try it with rsyslog on this
 * machine" commands literally: `npm start` in its own process group with no DATABASE_URL (the
 * embedded PostgreSQL, in this run's own folder), a real rsyslog with the README's own config,
 * a JSON audit line in the common shape, the `failed_logins` view, `prove` without `--chain`,
 * `verify-proof`, then SIGTERM to the process group: exit 0, no error-level log line, nothing of
 * the run left running.
 *
 * The only departures from the README, each because a shared test machine needs them: the folder
 * is a temporary "checkout" (package.json copied, dist/ and deploy/ linked) so ./data and ./certs
 * are this run's; the server listens on a free port (SYSLOG_LEDGER_LISTEN, as the README permits)
 * and the rsyslog config gets that port instead of 6514; `npx syslog-ledger` runs as
 * `node dist/src/main.js` (the README's faster form; npx would install the temporary checkout);
 * rsyslogd is the binary test/interop/harness finds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logRecord } from '../../bench/lib/server.js';
import { freePort } from '../../src/db/embedded.js';
import { findRsyslog } from '../interop/harness/binaries.js';
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';

const root = resolve(import.meta.dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const tutorial = readFileSync(join(root, 'docs/tutorial.md'), 'utf8');
const rsyslog = findRsyslog();
const hasPsql = spawnSync('psql', ['--version']).status === 0;
const hasNpm = spawnSync('npm', ['--version']).status === 0;

/** The shell blocks of docs/tutorial.md's section `## Try it with rsyslog on this machine`, in order. */
function trialBlocks(): string[] {
  const start = tutorial.indexOf('## Try it with rsyslog on this machine');
  expect(start, 'docs/tutorial.md section "Try it with rsyslog on this machine"').toBeGreaterThanOrEqual(0);
  const end = tutorial.indexOf('\n## ', start);
  return [...tutorial.slice(start, end === -1 ? undefined : end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The user's shell: no DATABASE_URL (the test runner's), so commands find the embedded database as the README says. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.TEST_DATABASE_URL;
  return env;
}

function sh(script: string, cwd: string): { code: number | null; out: string } {
  const r = spawnSync('sh', ['-ec', script], { cwd, encoding: 'utf8', timeout: 120_000, env: userEnv() });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Processes whose command line mentions `dir` (the run's postgres, rsyslogd, node). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe.skipIf(!rsyslog || !hasPsql || !hasNpm)('README walkthrough: npm start, real rsyslog, failed_logins, prove, verify-proof, SIGTERM', () => {
  let work: string;
  let npm: ChildProcess | undefined;
  let npmExit: Promise<number | null>;
  const logs: Array<Record<string, unknown>> = [];
  let serverOut = '';
  const rsyslogs: ChildProcess[] = [];
  let port: number;
  let metricsPort: number;
  let postmasterPid: number | undefined;

  function startRsyslog(dir: string, args: string[]): ChildProcess {
    const child = spawn(rsyslog!.path, [...rsyslog!.baseArgs, ...args], { cwd: dir, env: { ...process.env, ...rsyslog!.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    (child as unknown as { output: () => string }).output = () => out;
    rsyslogs.push(child);
    return child;
  }

  async function stopRsyslogs(): Promise<void> {
    await Promise.all(
      rsyslogs.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((res) => c.once('exit', res));
        c.kill('SIGTERM');
        const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }),
    );
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'syslog-ledger-walkthrough-'));
    // Running as root, the embedded PostgreSQL runs as `postgres`, which must reach ./data.
    chmodSync(work, 0o755);
    copyFileSync(join(root, 'package.json'), join(work, 'package.json'));
    symlinkSync(join(root, 'dist'), join(work, 'dist'));
    symlinkSync(join(root, 'deploy'), join(work, 'deploy'));
    port = await freePort();
    // The console npm start turns on (127.0.0.1:9465) on a free port: other runs may hold 9465.
    const env = { ...userEnv(), SYSLOG_LEDGER_LISTEN: `127.0.0.1:${port}`, SYSLOG_LEDGER_METRICS: '127.0.0.1:0', SYSLOG_LEDGER_CONSOLE: '127.0.0.1:0' };
    // `npm start`, the README's command, leading its own process group as in a terminal.
    npm = spawn('npm', ['start'], { cwd: work, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    npmExit = new Promise((res) => npm!.once('exit', (code) => res(code)));
    npm.stderr!.on('data', (c: Buffer) => (serverOut += c.toString()));
    const serving = new Promise<Record<string, unknown>>((res, reject) => {
      createInterface({ input: npm!.stdout! }).on('line', (line) => {
        serverOut += `${line}\n`;
        const rec = logRecord(line);
        if (rec === undefined) return;
        logs.push(rec);
        if (rec.msg === 'syslog-ledger serving') res(rec);
      });
      void npmExit.then((code) => reject(new Error(`npm start exited (${code}) before serving:\n${serverOut}`)));
    });
    const rec = await serving;
    // The login URL goes to stderr, the log to stdout: the two pipes need not arrive in the order written.
    for (let i = 0; i < 100 && !serverOut.includes('Console: '); i++) await new Promise((r) => setTimeout(r, 50));
    metricsPort = Number(String(rec.metrics).split(':').pop());
    const pidFile = join(work, 'data/postgres/postmaster.pid');
    postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  }, 240_000);

  afterAll(async () => {
    await stopRsyslogs();
    if (npm && npm.exitCode === null && npm.signalCode === null) {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Only after a failure: the embedded PostgreSQL this run started.
    if (postmasterPid !== undefined && alive(postmasterPid)) process.kill(postmasterPid, 'SIGINT');
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('npm start used the embedded PostgreSQL of this folder and created the dev PKI', () => {
    // ...and serves the console, printing its login URL.
    expect(serverOut).toMatch(/Console: http:\/\/127\.0\.0\.1:\d+\/login\?token=[\w-]{32}/);
    expect(logs.find((l) => l.msg === 'migrations applied')).toBeDefined();
    expect(existsSync(join(work, 'data/embedded-postgres.json'))).toBe(true);
    expect(existsSync(join(work, 'certs/client.pem'))).toBe(true);
    expect(postmasterPid && alive(postmasterPid)).toBe(true);
    // One form of the certificate hint: the start-up hint and the README say the same command.
    const form = /syslog-ledger certs --issue (\S+) --ca-dir \.\/certs --out \.\/issued/;
    expect(serverOut).toMatch(form);
    expect(readme).toMatch(form);
    expect(serverOut).toContain('rsyslog: target="localhost"');
  });

  it("the README's rsyslog trial: a common-shape JSON audit line shows in failed_logins; the local auth log is forwarded too", async () => {
    const [setup, send] = trialBlocks();
    // Block 1: everything but the rsyslogd line through sh; rsyslogd started here, to be stopped here.
    const lines = setup!.trim().split('\n');
    const daemon = lines.pop()!;
    const m = /^rsyslogd (.+) &$/.exec(daemon);
    expect(m, daemon).not.toBeNull();
    const prep = sh(lines.join('\n'), work);
    expect(prep.code, prep.out).toBe(0);
    const confPath = join(work, 'trial/rsyslog.conf');
    const conf = readFileSync(confPath, 'utf8');
    expect(conf).toContain('target="localhost"');
    expect(conf).not.toMatch(/example\.com"|"\/etc\/|"\/var\//);
    writeFileSync(confPath, conf.replace('port="6514"', `port="${port}"`));
    // The shell's expansion of "$PWD/...": the one thing sh would do to this line.
    const daemonProc = startRsyslog(work, m![1]!.replaceAll('"$PWD', work).replaceAll('"', '').split(' '));
    const rsyslogOutput = (): string => (daemonProc as unknown as { output: () => string }).output();
    await waitFor(async () => existsSync(join(work, 'trial/rsyslogd.pid')), 60_000, 200).catch((err: unknown) => {
      throw new Error(`${String(err)}: rsyslogd wrote no pid file:\n${rsyslogOutput()}`);
    });

    // Block 2, literally: append the line, then query the view.
    const first = sh(send!, work);
    expect(first.code, first.out).toBe(0);
    // The seed's local auth log input (imfile on auth.log), with a failed sshd login in it.
    appendFileSync(join(work, 'trial/auth.log'), 'Dec  6 21:00:00 trialhost sshd[4242]: Failed password for root from 198.51.100.7 port 52311 ssh2\n');
    const query = send!.split('\n').filter((l) => !l.startsWith('echo ')).join('\n');
    const out = await waitFor(async () => {
      const r = sh(query, work);
      return r.code === 0 && /alice\s*\|\s*203\.0\.113\.9\s*\|\s*1/.test(r.out) && /root\s*\|\s*198\.51\.100\.7/.test(r.out) ? r.out : undefined;
    }, 60_000, 500).catch((err: unknown) => {
      throw new Error(`${String(err)}\nlast query output: ${sh(query, work).out}\nrsyslog: ${rsyslogOutput()}`);
    });
    expect(out).toMatch(/alice\s*\|\s*203\.0\.113\.9\s*\|\s*1/);
  }, 180_000);

  it('prove without --chain, then verify-proof (the README block; npx syslog-ledger as node dist/src/main.js)', async () => {
    const [, send, prove] = trialBlocks();
    const dbLine = send!.split('\n').find((l) => l.startsWith('DB='))!;
    const script = `${dbLine}\n${prove!.replaceAll('npx syslog-ledger ', 'node dist/src/main.js ')}`;
    expect(prove).not.toContain('--chain');
    // A checkpoint covers new events within a second or so: retry until it does.
    const r = await waitFor(async () => {
      const x = sh(script, work);
      return x.code === 0 ? x : undefined;
    }, 60_000, 1000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${sh(script, work).out}`);
    });
    expect(r.out).toMatch(/^valid: event seq \d+/m);
    const proof = JSON.parse(readFileSync(join(work, 'proof.json'), 'utf8')) as { event: { event: { user?: { name?: string } } } };
    expect(proof.event.event.user?.name).toBe('alice');
  }, 120_000);

  it('an rsyslog whose target is 127.0.0.1 (x509/name ignores IP SANs) gets a warning with a hint and a refusal count', async () => {
    const dir = join(work, 'trial-ip');
    const conf = readFileSync(join(work, 'trial/rsyslog.conf'), 'utf8')
      .replaceAll(`${work}/trial/`, `${dir}/`)
      .replace(`workDirectory="${work}/trial"`, `workDirectory="${dir}"`)
      .replace('target="localhost"', 'target="127.0.0.1"');
    sh(`mkdir -p '${dir}' && touch '${dir}/audit.log' '${dir}/auth.log'`, work);
    writeFileSync(join(dir, 'rsyslog.conf'), conf);
    startRsyslog(dir, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')]);
    await waitFor(async () => existsSync(join(dir, 'rsyslogd.pid')), 30_000);
    appendFileSync(join(dir, 'audit.log'), '{"user":"bob","action":"login","result":"success"}\n');
    const warn = await waitFor(async () => logs.find((l) => l.reason === 'client_closed_after_handshake'), 60_000, 200);
    expect(warn.level).toBe(40);
    expect(String(warn.msg)).toContain("rejected this server's certificate: check the name it expects, e.g. rsyslog's permitted peer / target");
    expect(String(warn.msg)).toMatch(/localhost/);
    const text = await scrape(metricsPort);
    expect(metricValue(text, 'syslog_ledger_tls_refusals_total', { reason: 'client_closed_after_handshake' })).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('SIGTERM to the process group: exit 0, no error-level line, the embedded PostgreSQL stopped, nothing of the run left', async () => {
    await stopRsyslogs();
    process.kill(-npm!.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-npm!.pid!, 'SIGKILL'), 60_000);
    const code = await npmExit;
    clearTimeout(timer);
    expect(code, serverOut.slice(-3000)).toBe(0);
    expect(logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(logs.find((l) => l.msg === 'shutdown complete; every received event is committed')).toBeDefined();
    expect(logs.find((l) => l.msg === 'embedded PostgreSQL stopped')).toBeDefined();
    expect(alive(postmasterPid!)).toBe(false);
    expect(processesUnder(work)).toEqual([]);
  }, 120_000);
});
