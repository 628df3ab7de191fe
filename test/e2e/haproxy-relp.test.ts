/**
 * RELP behind the real HAProxy (deploy/haproxy/haproxy.cfg's RELP frontend: mode tcp,
 * send-proxy-v2 to each server's --relp-listen, /readyz checks), three servers on one PostgreSQL,
 * real rsyslog omrelp running the published deploy/clients/rsyslog-relp.conf (window 1024).
 *
 * The server that holds rsyslog's session is killed with SIGKILL under load, at the worst moment:
 * every server arms the test crash point (SIGKILL between a COMMIT and its acks after CRASH_AFTER
 * committed RELP frames; N < 2 x CRASH_AFTER, so exactly one server dies). rsyslog reconnects
 * through the balancer to another server and resends every frame it holds unacknowledged.
 *
 * Shown: every line rsyslog was given is stored (no loss); each is stored exactly once (the
 * surviving server recognizes the resent frames that the killed server had committed, by reading
 * that session's tail back from the other chains: src/relp/seed.ts); `verify` exits 0 on every
 * chain; peer_addr is rsyslog's own address and port, never the balancer's.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, type DevPkiFiles } from '../../src/pki/devpki.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { findHaproxy, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, scrape } from '../helpers/tls-client.js';
import { findRsyslog } from '../interop/harness/binaries.js';
import { startRsyslog, type ClientProcess } from '../interop/harness/clients.js';
import { ranges, rowsOfRun, tally, waitForRun } from '../interop/harness/ledger.js';
import { plainLines, writeLines } from '../interop/harness/lines.js';
import { prepareClient } from '../interop/harness/scenario.js';

const haproxy = findHaproxy();
const rsyslog = findRsyslog();
const omrelp = rsyslog?.moduleDir !== undefined && existsSync(join(rsyslog.moduleDir, 'omrelp.so'));
const N = 6000;
const CRASH_AFTER = 3500;
/** omrelp windowSize in deploy/clients/rsyslog-relp.conf: the most frames in flight on one session. */
const WINDOW = 1024;
const CN = 'relp-haproxy.e2e.test';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Local ports of the established connections to `port` on loopback (rsyslog's, the only client). */
function clientPorts(port: number): number[] {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  return [...out.matchAll(/127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+/g)].map((m) => Number(m[1]));
}

describe.skipIf(!haproxy || !rsyslog || !omrelp)('RELP through HAProxy to three servers, kill -9 of the one holding the session', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let root: string;
  let pki: DevPkiFiles;
  const servers: RunningServer[] = [];
  let lb: RunningHaproxy | undefined;
  let proc: ClientProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('sl_haproxy_relp');
    root = await mkdtemp(join(tmpdir(), 'sl-haproxy-relp-'));
    pki = await createDevPki({ dir: join(root, 'pki'), clients: [{ cn: 'client1.example.com' }] });
    const env = { SYSLOG_LEDGER_TEST_CRASH: 'after-commit-before-ack', SYSLOG_LEDGER_TEST_CRASH_AFTER: String(CRASH_AFTER) };
    for (const n of [1, 2, 3]) {
      servers.push(
        await startServer({
          databaseUrl: db.url,
          pki,
          env,
          args: ['--chain', `r${n}`, '--proxy-protocol', 'v2', '--trusted-proxy', '127.0.0.1/32', '--relp-listen', '127.0.0.1:0', '--verify-interval', '0'],
        }),
      );
    }
    const relpPort = (s: RunningServer): number => Number(String(s.logs.find((l) => l.msg === 'syslog-ledger serving')?.relpListen).split(':').pop());
    lb = await startHaproxy(haproxy!, servers.map((s) => ({ tlsPort: s.port, metricsPort: s.metricsPort, relpPort: relpPort(s) })));
  }, 120_000);

  afterAll(async () => {
    await proc?.stop();
    await lb?.stop();
    for (const s of servers) await s.stop('SIGKILL').catch(() => undefined);
    for (const s of servers) await rm(s.workDir, { recursive: true, force: true });
    await db?.drop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('rsyslog resends to a survivor: every line stored exactly once, verify 0 on every chain, peer_addr is rsyslog', async () => {
    const client = await prepareClient({ pkiDir: pki.dir, port: lb!.relpPort } as RunningServer, 'rsyslog-relp', join(root, 'rsyslog'), CN);
    proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog omrelp via haproxy' });
    const run = randomBytes(6).toString('hex');
    const lines = plainLines(run, N);
    // rsyslog's connections to the balancer, seen from here: peer_addr must be one of them.
    const ports = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const p of clientPorts(lb!.relpPort)) ports.add(p);
        await sleep(100);
      }
    })();
    const t0 = Date.now();
    const deaths = servers.map((s) => new Promise<number>((res) => s.child.once('exit', () => res(Date.now() - t0))));
    // ~2,000 lines/s through imfile.
    await writeLines(client.input, lines, { batch: 200, pauseMs: 100 });
    const firstDeath = await Promise.race([...deaths, sleep(60_000).then(() => -1)]);
    expect(firstDeath, 'the server holding the session hit the crash point').toBeGreaterThan(0);
    const waited = await waitForRun(db.url, CN, run, N, { idleMs: 25_000, timeoutMs: 70_000 });
    watching = false;
    await watcher;

    const dead = servers.map((s) => s.child.exitCode !== null || s.child.signalCode !== null);
    const victims = dead.flatMap((d, i) => (d ? [`r${i + 1}`] : []));
    const resends = (await Promise.all(servers.filter((_, i) => !dead[i]).map(async (s) => metricValue(await scrape(s.metricsPort), 'syslog_ledger_relp_resends_total') ?? 0))).reduce((a, b) => a + b, 0);
    const rows = await rowsOfRun(db.url, CN, run);
    const t = tally(lines, rows.map((r) => r.message));
    const byChain = new Map<string, number>();
    for (const r of rows) byChain.set(r.chain, (byChain.get(r.chain) ?? 0) + 1);
    const peers = await query<{ peer_addr: string; n: number }>(
      db.url,
      `SELECT peer_addr, count(*)::int AS n FROM ledger_rows WHERE peer_cn = $1 AND position(convert_to($2, 'UTF8') in raw) > 0 GROUP BY 1`,
      [CN, run],
    );
    console.log(
      `[haproxy-relp] ${N} lines, crash point after ${CRASH_AFTER} commits: killed ${victims.join(',')} at ${firstDeath} ms; ledger has ${t.received} (all ${N} after ${waited.reachedAfterMs} ms); ` +
        `by chain ${JSON.stringify(Object.fromEntries(byChain))}; missing ${t.missing.length}${t.missing.length ? ` [${ranges(t.missing).slice(0, 200)}]` : ''}, ` +
        `duplicates ${t.duplicates}${t.duplicates ? ` [${ranges(t.duplicated).slice(0, 200)}]` : ''}; resends recognized by the survivors ${resends}; ` +
        `rsyslog's ports ${[...ports].join(',')}; peer_addr ${peers.map((p) => `${p.peer_addr} x${p.n}`).join(', ')}`,
    );
    expect(victims).toHaveLength(1);
    // The session moved: rows on the killed server's chain and on a survivor's.
    expect(byChain.size).toBe(2);
    expect(byChain.has(victims[0]!)).toBe(true);
    expect(t.unknown).toEqual([]);
    expect(t.missing.length).toBe(0);
    // The crash point leaves committed, unacknowledged frames: the survivor got them again.
    expect(resends).toBeGreaterThan(0);
    expect(resends).toBeLessThanOrEqual(WINDOW + 1);
    expect(t.duplicates).toBe(0);
    // peer_addr: rsyslog's own connections to the balancer, one per session (before and after the kill).
    expect(peers.length).toBeGreaterThanOrEqual(2);
    for (const p of peers) expect(ports.has(Number(p.peer_addr.split(':').pop())), `${p.peer_addr} is one of rsyslog's ports`).toBe(true);
    expect(peers.every((p) => p.peer_addr.startsWith('127.0.0.1:'))).toBe(true);

    // verify: every chain, the killed one included (intact up to its last commit).
    for (const [i, s] of servers.entries()) {
      const v = await s.cli(['verify', '--chain', `r${i + 1}`]);
      expect(v.code, `verify r${i + 1}: ${v.stdout}${v.stderr}`).toBe(0);
    }
    await proc.stop();
    proc = undefined;
  }, 150_000);
});
