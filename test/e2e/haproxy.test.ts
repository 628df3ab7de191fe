/**
 * Three `serve` processes behind the real HAProxy (deploy/haproxy/haproxy.cfg as it is: mode tcp,
 * send-proxy-v2, /readyz checks), one PostgreSQL, each server its own chain. A load generator
 * (several mTLS connections that reconnect like rsyslog does) and a real rsyslog send through the
 * balancer; one server is killed with kill -9 under load. Shown: its senders reconnect and land on
 * the other two; every frame sent on a connection to a surviving server is stored exactly once; the
 * TCP loss (frames written to the killed server's connections and never committed) is measured and
 * printed; peer_addr is each sender's own address and port, not the balancer's; `verify` exits 0 on
 * every chain.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, type DevPkiFiles } from '../../src/pki/devpki.js';
import { relpLoad } from '../../bench/relp.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { findHaproxy, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';
import { findRsyslog } from '../interop/harness/binaries.js';
import { startRsyslog, type ClientProcess } from '../interop/harness/clients.js';
import { ranges, tally } from '../interop/harness/ledger.js';
import { plainLines, writeLines } from '../interop/harness/lines.js';
import { prepareClient } from '../interop/harness/scenario.js';

const haproxy = findHaproxy();
const rsyslog = findRsyslog();
const SENDERS = 4;
const RATE = 150; // frames per second per sender
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One sender: an mTLS connection through the balancer, `RATE` frames a second; when the connection
 * drops it reconnects (as rsyslog does) and goes on with the next index. Remembers which local
 * port sent each frame, to check peer_addr.
 */
class Sender {
  written = 0;
  readonly portOf: number[] = [];
  readonly connections: number[] = [];
  #stopped = false;
  #loop: Promise<void> | undefined;
  constructor(
    readonly prefix: string,
    readonly port: number,
    readonly pki: DevPkiFiles,
  ) {}

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#connection().catch(() => undefined);
      if (!this.#stopped) await sleep(200);
    }
  }

  async #connection(): Promise<void> {
    const socket = tls.connect({ host: '127.0.0.1', port: this.port, servername: 'localhost', ca: readFileSync(this.pki.ca), cert: readFileSync(this.pki.client), key: readFileSync(this.pki.clientKey) });
    await new Promise<void>((res, reject) => {
      socket.once('secureConnect', () => res());
      socket.once('error', reject);
    });
    const localPort = socket.localPort!;
    this.connections.push(localPort);
    let open = true;
    const closed = new Promise<void>((res) => socket.once('close', () => res()));
    socket.on('error', () => undefined);
    socket.on('end', () => (open = false));
    socket.on('close', () => (open = false));
    const perTick = Math.max(1, Math.round(RATE / 50));
    while (open && !this.#stopped) {
      let chunk = '';
      for (let k = 0; k < perTick; k++) {
        const i = this.written++;
        this.portOf[i] = localPort;
        chunk += `<134>1 2024-05-01T12:00:00.000Z web-1.example.com loadgen - - - ${this.prefix} ${i}\n`;
      }
      socket.write(chunk);
      await sleep(20);
    }
    if (open) {
      socket.end();
      await closed;
    }
  }
}

describe.skipIf(!haproxy)('three servers behind HAProxy (send-proxy-v2), kill -9 of one under load', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let root: string;
  let pki: DevPkiFiles;
  const servers: RunningServer[] = [];
  let lb: RunningHaproxy | undefined;
  let rsyslogProc: ClientProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('sl_haproxy');
    root = await mkdtemp(join(tmpdir(), 'sl-haproxy-'));
    pki = await createDevPki({ dir: join(root, 'pki'), clients: [{ cn: 'client1.example.com' }] });
    for (const n of [1, 2, 3]) {
      servers.push(
        await startServer({
          databaseUrl: db.url,
          pki,
          args: ['--chain', `s${n}`, '--proxy-protocol', 'v2', '--trusted-proxy', '127.0.0.1/32', '--relp-listen', '127.0.0.1:0', '--verify-interval', '0', '--chain-set-interval', '1s'],
        }),
      );
    }
    const relpPort = (s: RunningServer): number => Number(String(s.logs.find((l) => l.msg === 'syslog-ledger serving')?.relpListen).split(':').pop());
    lb = await startHaproxy(haproxy!, servers.map((s) => ({ tlsPort: s.port, metricsPort: s.metricsPort, relpPort: relpPort(s) })));
  }, 180_000);

  afterAll(async () => {
    await rsyslogProc?.stop();
    await lb?.stop();
    for (const s of servers) await s.stop('SIGKILL').catch(() => undefined);
    for (const s of servers) await rm(s.workDir, { recursive: true, force: true });
    await db?.drop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('senders move to the surviving servers; nothing sent to a survivor is lost or doubled; peer_addr is the client; verify 0 on every chain', async () => {
    const run = randomBytes(4).toString('hex');
    const senders = Array.from({ length: SENDERS }, (_, k) => new Sender(`lg-${run}-${k}`, lb!.tlsPort, pki));
    for (const s of senders) s.start();

    // rsyslog (the published rfc5424 config) through the balancer too.
    const N_RSYSLOG = 3000;
    let rsyslogLines: string[] = [];
    let rsyslogWriting: Promise<void> = Promise.resolve();
    if (rsyslog) {
      const client = await prepareClient({ pkiDir: pki.dir, port: lb!.tlsPort } as RunningServer, 'rsyslog-rfc5424', join(root, 'rsyslog'), 'rsyslog.haproxy.test');
      rsyslogProc = await startRsyslog(rsyslog, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog via haproxy' });
      rsyslogLines = plainLines(run, N_RSYSLOG);
      rsyslogWriting = writeLines(client.input, rsyslogLines, { batch: 100, pauseMs: 100 });
    }

    // Wait until every server has committed something, then kill the one with the most connections.
    await waitFor(async () => {
      const r = await query<{ n: number }>(db.url, "SELECT count(DISTINCT chain)::int AS n FROM ledger_rows WHERE syslog->>'message' LIKE $1", [`lg-${run}-%`]);
      return r[0]!.n === 3 || (await sleep(0), undefined);
    }, 30_000);
    await sleep(1500);
    const open = await Promise.all(servers.map(async (s) => metricValue(await scrape(s.metricsPort), 'syslog_ledger_connections_open') ?? 0));
    const victimIndex = open.indexOf(Math.max(...open));
    const victim = servers[victimIndex]!;
    const victimChain = `s${victimIndex + 1}`;
    const exited = new Promise((res) => victim.child.once('exit', res));
    victim.child.kill('SIGKILL');
    await exited;
    const killedAt = new Date();

    // Every sender that was on the victim reconnects through the balancer and goes on elsewhere
    // (checked below: each sender has rows after the kill, none on the victim's chain).
    await sleep(4000);
    for (const s of senders) await s.stop();
    await rsyslogWriting;

    const survivors = servers.filter((s) => s !== victim);
    const written = senders.reduce((a, s) => a + s.written, 0);
    // Everything the survivors received is committed once the senders stop: wait for the count to settle.
    let stored = -1;
    await waitFor(async () => {
      const r = await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM ledger_rows WHERE syslog->>'message' LIKE $1", [`lg-${run}-%`]);
      const settled = r[0]!.n === stored;
      stored = r[0]!.n;
      return settled || (await sleep(900), undefined);
    }, 30_000, 100);

    const rows = await query<{ chain: string; peer_addr: string; m: string; received_at: Date }>(
      db.url,
      "SELECT chain, peer_addr, syslog->>'message' AS m, received_at FROM ledger_rows WHERE syslog->>'message' LIKE $1",
      [`lg-${run}-%`],
    );
    const seen = senders.map((s) => new Uint16Array(s.written));
    const chainOfPort = new Map<number, string>();
    let badPeer = 0;
    for (const r of rows) {
      const [, , k, i] = /^lg-([0-9a-f]+)-(\d+) (\d+)$/.exec(r.m)!.map((x, j) => (j >= 2 ? Number(x) : x)) as [string, string, number, number];
      seen[k]![i]!++;
      const port = senders[k]!.portOf[i]!;
      chainOfPort.set(port, r.chain);
      if (r.peer_addr !== `127.0.0.1:${port}`) badPeer++;
    }
    // peer_addr: the sender's own port on every row (the balancer's connections have other ports).
    expect(badPeer).toBe(0);
    let lost = 0;
    let lostOnSurvivor = 0;
    let duplicates = 0;
    senders.forEach((s, k) => {
      for (let i = 0; i < s.written; i++) {
        const c = seen[k]![i]!;
        if (c > 1) duplicates += c - 1;
        if (c === 0) {
          lost++;
          const chain = chainOfPort.get(s.portOf[i]!);
          if (chain !== undefined && chain !== victimChain) lostOnSurvivor++;
        }
      }
    });
    const onVictimConnections = senders.filter((s) => s.connections.some((p) => chainOfPort.get(p) === victimChain)).length;
    const afterKill = rows.filter((r) => r.received_at > killedAt);
    console.log(
      `[haproxy] 3 servers, ${SENDERS} senders x ${RATE}/s; killed ${victimChain} (${open[victimIndex]} connections open, ${onVictimConnections} of them load-generator senders); ` +
        `frames written ${written}, stored ${rows.length}, TCP loss ${lost} (${((lost / written) * 100).toFixed(2)} %, all on connections to the killed server: ${lostOnSurvivor === 0}), duplicates ${duplicates}; ` +
        `after the kill ${afterKill.length} rows on ${[...new Set(afterKill.map((r) => r.chain))].sort().join(',')}`,
    );
    expect(duplicates).toBe(0);
    expect(lostOnSurvivor).toBe(0);
    expect(onVictimConnections).toBeGreaterThan(0);
    // The victim's senders go on, on the survivors.
    expect(afterKill.length).toBeGreaterThan(0);
    expect(afterKill.every((r) => r.chain !== victimChain)).toBe(true);
    for (const s of senders) expect(rows.some((r) => r.received_at > killedAt && r.m.startsWith(`${s.prefix} `))).toBe(true);

    if (rsyslog) {
      // rsyslog's connection may have been on the victim: what it lost (or sent twice) is measured, not asserted.
      let got: Array<{ m: string }> = [];
      await waitFor(async () => {
        got = await query<{ m: string }>(db.url, "SELECT syslog->>'message' AS m FROM ledger_rows WHERE syslog->>'message' LIKE $1", [`audit run=${run} %`]);
        return got.length >= N_RSYSLOG || undefined;
      }, 45_000).catch(() => undefined);
      const t = tally(rsyslogLines, got.map((g) => g.m));
      console.log(`[haproxy] rsyslog: wrote ${N_RSYSLOG} lines, ledger has ${t.received}; missing ${t.missing.length}${t.missing.length ? ` [${ranges(t.missing).slice(0, 120)}]` : ''}, duplicates ${t.duplicates}`);
      expect(t.unknown).toEqual([]);
      expect(t.received).toBeGreaterThan(0);
    }

    // verify: every chain, the killed one included (intact up to its last commit).
    for (const [n, s] of servers.entries()) {
      const v = await s.cli(['verify', '--chain', `s${n + 1}`]);
      expect(v.code, `verify s${n + 1}: ${v.stdout}${v.stderr}`).toBe(0);
    }
    // All chains at once, with every server's checkpoint file and key: the chain-set checkpoints
    // (one server signed each) agree with the ledger. Then a chain dropped by someone who can bypass
    // the guards: verify names it.
    const all = ['verify', '--json', ...servers.flatMap((s) => ['--checkpoints', join(s.workDir, 'data', 'checkpoints.jsonl'), '--public-key', join(s.workDir, 'certs', 'ledger-signing.key.pub')])];
    await sleep(1500);
    const full = await survivors[0]!.cli(all);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const summary = JSON.parse(full.stdout) as { chain_sets: { checkpoints: number; chains: number } };
    expect(summary.chain_sets.checkpoints).toBeGreaterThan(0);
    expect(summary.chain_sets.chains).toBeGreaterThanOrEqual(3);
    await query(db.url, `SET session_replication_role = replica; DELETE FROM ledger WHERE chain = '${victimChain}'; DELETE FROM chains WHERE chain = '${victimChain}'`);
    const dropped = await survivors[0]!.cli(all.filter((a) => a !== '--json'));
    expect(dropped.code).toBe(1);
    // Found either way: the last checkpoint lists it and the ledger has it no more, or (a running
    // server signed the shrunk set meanwhile) a checkpoint no longer lists what the one before had.
    expect(dropped.stdout).toMatch(new RegExp(`chain_dropped: chain(-set checkpoint \\d+ no longer lists chain)? "${victimChain}"`));

    // RELP through the balancer's RELP frontend (send-proxy-v2 to the servers' --relp-listen): every
    // frame acknowledged after its COMMIT, so the PROXY header was read before TLS there too.
    const relpBefore = (await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM ledger_rows WHERE app_name IS NOT NULL"))[0]!.n;
    const relp = await relpLoad({ host: '127.0.0.1', port: lb!.relpPort, ca: readFileSync(pki.ca), cert: readFileSync(pki.client), key: readFileSync(pki.clientKey) }, 200, 32);
    expect(relp.frames).toBe(200);
    expect((await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM ledger_rows WHERE app_name IS NOT NULL"))[0]!.n).toBeGreaterThanOrEqual(relpBefore + 200);

    // A second process for a chain a survivor writes is refused at start (one writer per chain).
    const survivorChain = `s${servers.indexOf(survivors[0]!) + 1}`;
    await expect(startServer({ databaseUrl: db.url, pki, args: ['--chain', survivorChain] })).rejects.toThrow(/already being written by another syslog-ledger process/);
    // The survivors saw no PROXY refusals; HAProxy's /readyz checks are not TLS refusals either.
    for (const s of survivors) {
      const text = await scrape(s.metricsPort);
      expect(text.split('\n').filter((l) => /^syslog_ledger_(proxy|tls)_refusals_total\{[^}]*\} [1-9]/.test(l))).toEqual([]);
    }
  }, 180_000);
});
