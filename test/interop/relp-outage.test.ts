/**
 * Real rsyslog omrelp (deploy/clients/rsyslog-relp.conf as published) under load while the server
 * stops on SIGTERM, and while its database is down for 60 s (opt-in: SYSLOG_LEDGER_LONG_TESTS=1).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert } from '../../src/pki/devpki.js';
import { adminUrl, createTestDatabase } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { freePort } from '../relp/client.js';
import { startDbSwitch, type DbSwitch } from '../relp/db-switch.js';
import { findRsyslog } from './harness/binaries.js';
import { startRsyslog, type ClientProcess } from './harness/clients.js';
import { renderClientConfig } from './harness/configs.js';
import { ranges, rowsOfRun, tally, waitForRun } from './harness/ledger.js';
import { plainLines, writeLines } from './harness/lines.js';

const rsyslog = findRsyslog();
const omrelp = rsyslog?.moduleDir !== undefined && existsSync(join(rsyslog.moduleDir, 'omrelp.so'));
const LONG = process.env.SYSLOG_LEDGER_LONG_TESTS === '1';

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

describe.skipIf(!rsyslog || !omrelp)('rsyslog omrelp: server stops and database outages', () => {
  let root: string;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sl-relp-outage-'));
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('SIGTERM under load: everything received is committed and acknowledged before serverclose; nothing stored is resent', async () => {
    const relpPort = await freePort();
    const server = await startServer({ args: ['--relp-listen', `127.0.0.1:${relpPort}`] });
    cleanups.push(() => server.cleanup());
    const cn = 'relp-sigterm.interop.test';
    const client = await prepare(server, relpPort, join(root, 'sigterm'), cn);
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog omrelp (SIGTERM)' });
    cleanups.push(() => proc.stop());
    const run = randomBytes(6).toString('hex');
    const N = 30_000;
    const lines = plainLines(run, N);
    const stops: Array<{ code: number | null; received: number; resendsBefore: number }> = [];
    let restarted: Promise<void> | undefined;
    await writeLines(client.input, lines, {
      batch: 200,
      pauseMs: 100,
      onBatch: (written) => {
        if (!restarted && written >= N / 3) {
          restarted = (async () => {
            const resendsBefore = await metric(server, 'syslog_ledger_relp_resends_total');
            const code = await server.stop('SIGTERM');
            stops.push({ code, received: written, resendsBefore });
            await server.restart();
          })();
        }
      },
    });
    await restarted;
    const waited = await waitForRun(server.databaseUrl, cn, run, N, { idleMs: 60_000, timeoutMs: 300_000 });
    const resendsAfter = await metric(server, 'syslog_ledger_relp_resends_total');
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    const t = tally(lines, rows.map((r) => r.message));
    console.log(
      `[relp] SIGTERM under load: exit ${stops[0]?.code}; ledger has ${t.received} of ${N} (N reached after ${waited.reachedAfterMs} ms); missing ${t.missing.length} [${ranges(t.missing).slice(0, 200)}], ` +
        `duplicates ${t.duplicates} [${ranges(t.duplicated).slice(0, 200)}], out of order ${t.outOfOrder}; resends recognized after the restart ${resendsAfter}`,
    );
    expect(stops[0]?.code).toBe(0);
    expect(t.missing.length).toBe(0);
    expect(t.duplicates).toBe(0);
    expect(resendsAfter).toBe(0);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 600_000);

  it.skipIf(!LONG)('the database down for 60 s under load: no 500 on the wire, every line stored exactly once afterwards', async () => {
    const db = await createTestDatabase('sl_relp_outage');
    cleanups.push(() => db.drop());
    const sw: DbSwitch = await startDbSwitch(Number(new URL(adminUrl()).port || 5432));
    cleanups.push(() => sw.close());
    const viaSwitch = new URL(db.url);
    viaSwitch.port = String(sw.port);
    const relpPort = await freePort();
    const server = await startServer({ databaseUrl: viaSwitch.toString(), args: ['--relp-listen', `127.0.0.1:${relpPort}`] });
    cleanups.push(() => server.cleanup());
    const cn = 'relp-dbdown.interop.test';
    const client = await prepare(server, relpPort, join(root, 'dbdown'), cn);
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog omrelp (database down)' });
    cleanups.push(() => proc.stop());
    const run = randomBytes(6).toString('hex');
    // ~500 lines/s for ~100 s; the database is down from 15 s to 75 s.
    const N = 50_000;
    const lines = plainLines(run, N);
    const t0 = Date.now();
    let outage: Promise<void> | undefined;
    let maxOutstanding = 0;
    await writeLines(client.input, lines, {
      batch: 100,
      pauseMs: 200,
      onBatch: async () => {
        if (!outage && Date.now() - t0 > 15_000) {
          sw.down();
          outage = (async () => {
            const end = Date.now() + 60_000;
            while (Date.now() < end) {
              maxOutstanding = Math.max(maxOutstanding, await metric(server, 'syslog_ledger_relp_acks_outstanding'));
              await new Promise((r) => setTimeout(r, 1000));
            }
            sw.up();
          })();
        }
      },
    });
    await outage;
    const waited = await waitForRun(server.databaseUrl, cn, run, N, { idleMs: 120_000, timeoutMs: 400_000 });
    const nacks = await metric(server, 'syslog_ledger_relp_responses_total{code="500"}');
    const acks = await metric(server, 'syslog_ledger_relp_responses_total{code="200"}');
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    const t = tally(lines, rows.map((r) => r.message));
    console.log(
      `[relp] database down 60 s under load: ledger has ${t.received} of ${N} (N reached after ${waited.reachedAfterMs} ms); missing ${t.missing.length} [${ranges(t.missing).slice(0, 200)}], ` +
        `duplicates ${t.duplicates}, out of order ${t.outOfOrder}; acks outstanding during the outage up to ${maxOutstanding}; rsp 200 ${acks}, rsp 500 ${nacks}`,
    );
    expect(nacks).toBe(0);
    expect(maxOutstanding).toBeGreaterThan(0);
    expect(t.missing.length).toBe(0);
    expect(t.duplicates).toBe(0);
    expect(proc.output()).not.toMatch(/error in (rsp|response)|500/);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 900_000);
});
