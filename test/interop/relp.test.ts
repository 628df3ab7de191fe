/**
 * Real rsyslog omrelp (Debian `rsyslog-relp`) running the published deploy/clients/rsyslog-relp.conf
 * against `serve --relp-listen`: exactly once, in order, including across kill -9 of the server.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert } from '../../src/pki/devpki.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { freePort } from '../relp/client.js';
import { findRsyslog } from './harness/binaries.js';
import { startRsyslog, type ClientProcess } from './harness/clients.js';
import { renderClientConfig } from './harness/configs.js';
import { countOfRun, ranges, rowsOfRun, tally, waitForRun } from './harness/ledger.js';
import { plainLines, writeLines } from './harness/lines.js';

const rsyslog = findRsyslog();
const omrelp = rsyslog?.moduleDir !== undefined && existsSync(join(rsyslog.moduleDir, 'omrelp.so'));

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function prepare(server: RunningServer, relpPort: number, dir: string, cn: string): Promise<{ input: string; dropIn: string; dir: string }> {
  const certDir = join(dir, 'tls');
  const input = join(dir, 'app', 'audit.log');
  await mkdir(certDir, { recursive: true });
  await mkdir(join(dir, 'app'), { recursive: true });
  await issueCert({ dir: server.pkiDir, cn, sans: [cn], out: join(certDir, 'client') });
  await copyFile(join(server.pkiDir, 'ca.pem'), join(certDir, 'ca.pem'));
  await writeFile(input, '');
  return { input, dir, dropIn: renderClientConfig('rsyslog-relp', { target: 'localhost', port: relpPort, certDir, input }) };
}

describe.skipIf(!rsyslog || !omrelp)('rsyslog omrelp -> serve --relp-listen', () => {
  let root: string;
  const servers: RunningServer[] = [];
  const procs: ClientProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sl-relp-interop-'));
  });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    for (const s of servers) await s.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('60,000 numbered lines through imfile: each stored exactly once, in order; verify exits 0', async () => {
    const relpPort = await freePort();
    const server = await startServer({ args: ['--relp-listen', `127.0.0.1:${relpPort}`] });
    servers.push(server);
    const cn = 'relp-bulk.interop.test';
    const client = await prepare(server, relpPort, join(root, 'bulk'), cn);
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog omrelp (bulk)' });
    procs.push(proc);
    const run = randomBytes(6).toString('hex');
    const lines = plainLines(run, 60_000);
    const t0 = Date.now();
    // ~1,400 lines/s: below what this sender drains, so its queue never spills to disk. Once it does,
    // rsyslog runs the disk queue's worker beside the in-memory one, on a second RELP session, and
    // the two interleave (measured: 60,000 lines written at once arrived exactly once, ~23,000 of
    // them out of order, over 2 sessions; docs/interop.md).
    await writeLines(client.input, lines, { batch: 1000, pauseMs: 700 });
    const waited = await waitForRun(server.databaseUrl, cn, run, lines.length, { idleMs: 60_000, timeoutMs: 400_000 });
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    const t = tally(lines, rows.map((r) => r.message));
    console.log(`[relp] 60,000 lines: ledger has ${t.received} after ${Date.now() - t0} ms (reached N after ${waited.reachedAfterMs} ms); missing ${t.missing.length} [${ranges(t.missing).slice(0, 200)}], duplicates ${t.duplicates}, out of order ${t.outOfOrder}, unknown ${t.unknown.length}`);
    if (t.outOfOrder) {
      const idx = rows.map((r) => Number(/ n=(\d+) /.exec(r.message ?? '')?.[1]));
      const breaks = idx.map((v, i) => (i > 0 && v < idx[i - 1]! ? `${i}:${idx[i - 1]}->${v}@${rows[i]!.seq}` : '')).filter(Boolean);
      console.log(`[relp] order breaks: ${breaks.slice(0, 20).join(' ')}`);
      const q = await (await import('../helpers/db.js')).query<{ peer_addr: string; n: number }>(server.databaseUrl, 'SELECT peer_addr, count(*)::int AS n FROM ledger_rows GROUP BY 1', []);
      console.log(`[relp] connections: ${JSON.stringify(q)}\n${proc.output().slice(-3000)}\n${server.logs.filter((l) => /peer|RELP/.test(String(l.msg))).map((l) => JSON.stringify(l)).join('\n').slice(0, 4000)}`);
    }
    expect(t.missing.length).toBe(0);
    expect(t.duplicates).toBe(0);
    expect(t.outOfOrder).toBe(0);
    expect(t.unknown).toEqual([]);
    expect(rows.every((r) => r.format === 'rfc5424' && r.peerCn === cn)).toBe(true);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    await proc.stop();
  }, 600_000);

  it('~3,000 lines/s while the server is killed (SIGKILL) 3 times and restarted: 0 missing, 0 stored twice, resends counted, verify 0', async () => {
    const relpPort = await freePort();
    // Lifetimes 1 and 3 die at the crash point: SIGKILL between a COMMIT and its acks once 1,000 RELP
    // frames are committed, so frames committed but never acknowledged are certain. Lifetime 2 is
    // killed with SIGKILL from here, a few seconds in; lifetime 4 runs to the end.
    const CRASH = { SYSLOG_LEDGER_TEST_CRASH: 'after-commit-before-ack', SYSLOG_LEDGER_TEST_CRASH_AFTER: '1000' };
    const env: Record<string, string> = { ...CRASH };
    const server = await startServer({ args: ['--relp-listen', `127.0.0.1:${relpPort}`], env });
    servers.push(server);
    const cn = 'relp-crash.interop.test';
    const client = await prepare(server, relpPort, join(root, 'crash'), cn);
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog omrelp (server killed)' });
    procs.push(proc);
    const run = randomBytes(6).toString('hex');
    const N = 45_000;
    const lines = plainLines(run, N);
    // The resend counter of each lifetime, polled (a killed process takes its metrics with it).
    const resendsByPid = new Map<number, number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const pid = server.child.pid!;
        const v = await metric(server, 'syslog_ledger_relp_resends_total').catch(() => NaN);
        if (Number.isFinite(v)) resendsByPid.set(pid, Math.max(resendsByPid.get(pid) ?? 0, v));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const t0 = Date.now();
    const writing = writeLines(client.input, lines, { batch: 300, pauseMs: 100 });
    const deaths: string[] = [];
    for (let k = 0; k < 3; k++) {
      const child = server.child;
      const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_c, sig) => res(sig)));
      const since = await countOfRun(server.databaseUrl, cn, run);
      const started = Date.now();
      let how = 'crash point (SIGKILL between COMMIT and acks)';
      for (;;) {
        const sig = await Promise.race([exited, new Promise<'poll'>((r) => setTimeout(() => r('poll'), 250))]);
        if (sig !== 'poll') break;
        const grown = (await countOfRun(server.databaseUrl, cn, run)) - since;
        if ((k === 1 && Date.now() - started > 3000 && grown >= 1500) || Date.now() - started > 120_000) {
          how = 'kill -9';
          child.kill('SIGKILL');
          await exited;
          break;
        }
      }
      deaths.push(`${how} at ${Date.now() - t0} ms`);
      if (k === 1) Object.assign(env, CRASH);
      else {
        delete env.SYSLOG_LEDGER_TEST_CRASH;
        delete env.SYSLOG_LEDGER_TEST_CRASH_AFTER;
      }
      (child as unknown as { exitCode: number | null }).exitCode = 137;
      for (let attempt = 0; ; attempt++) {
        try {
          await server.restart();
          break;
        } catch (err) {
          // The killed process's database sessions may hold the chain lock for a moment.
          if (attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
    await writing;
    const writeMs = Date.now() - t0;
    const waited = await waitForRun(server.databaseUrl, cn, run, N, { idleMs: 90_000, timeoutMs: 500_000 });
    polling = false;
    await poller;
    const resends = [...resendsByPid.values()].reduce((a, b) => a + b, 0);
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    const t = tally(lines, rows.map((r) => r.message));
    console.log(
      `[relp] server killed 3 times (${deaths.join('; ')}): wrote ${N} in ${writeMs} ms; ledger has ${t.received} (N reached ${waited.reachedAfterMs} ms later); ` +
        `missing ${t.missing.length} [${ranges(t.missing).slice(0, 200)}], duplicates ${t.duplicates} [${ranges(t.duplicated).slice(0, 200)}], out of order ${t.outOfOrder}; ` +
        `resends recognized and not stored again: ${resends} (${[...resendsByPid.values()].join(', ')})`,
    );
    expect(deaths).toHaveLength(3);
    expect(t.missing.length).toBe(0);
    expect(t.duplicates).toBe(0);
    expect(t.unknown).toEqual([]);
    expect(resends).toBeGreaterThan(0);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    await proc.stop();
  }, 900_000);
});
