/**
 * Reads on a hot standby (--read-database-url / DATABASE_READ_URL): a throwaway primary cluster and
 * a streaming replica made from it with pg_basebackup on loopback. serve writes to the primary,
 * rebuilds its detections from the replica, exports the replica's lag and serves its console from the
 * replica (pages, searches and exports read there; their access records are written on the
 * primary); verify, prove and export read the replica and agree with the primary. Needs root (initdb
 * and pg_ctl run as `postgres`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { waitForReplay } from '../../src/db/replica.js';
import { query } from '../helpers/db.js';
import { freePort } from '../helpers/haproxy.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

const BIN = '/usr/lib/postgresql/15/bin';
const TOKEN = 'replica-console-token-0123456789abcdef';
const why = !existsSync(`${BIN}/pg_basebackup`)
  ? 'PostgreSQL 15 binaries not found'
  : userInfo().uid !== 0
    ? 'not root: the throwaway clusters run as the postgres user'
    : spawnSync('id', ['postgres']).status !== 0
      ? 'no postgres user'
      : undefined;
if (why) console.warn(`test/e2e/replica.test.ts: skipped: ${why}`);

const asPostgres = (args: string[]): string => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe.skipIf(why)('reads on a hot standby made with pg_basebackup', () => {
  let dir = '';
  let primaryPort = 0;
  let standbyPort = 0;
  const started: string[] = [];
  let server: RunningServer | undefined;
  const primary = (): string => `postgres://postgres@127.0.0.1:${primaryPort}/ledger`;
  const standby = (): string => `postgres://postgres@127.0.0.1:${standbyPort}/ledger`;
  const start = (data: string, port: number): void => {
    asPostgres([`${BIN}/pg_ctl`, '-D', data, '-l', `${data}.log`, '-w', '-t', '60', 'start', '-o', `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`]);
    started.push(data);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-replica-'));
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
    primaryPort = await freePort();
    standbyPort = await freePort();
    // initdb's default pg_hba.conf trusts replication connections from loopback.
    asPostgres([`${BIN}/initdb`, '-D', join(dir, 'primary'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    start(join(dir, 'primary'), primaryPort);
    await query(`postgres://postgres@127.0.0.1:${primaryPort}/postgres`, 'CREATE DATABASE ledger');
    await migrate(primary());
    // -R: standby.signal and primary_conninfo; -X stream: the WAL it needs comes along.
    asPostgres([`${BIN}/pg_basebackup`, '-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', join(dir, 'standby'), '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    start(join(dir, 'standby'), standbyPort);
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.workDir, { recursive: true, force: true });
    for (const d of started.reverse()) spawnSync('runuser', ['-u', 'postgres', '--', `${BIN}/pg_ctl`, '-D', d, '-m', 'immediate', '-w', 'stop']);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serve rebuilds detections on the replica, reports its lag and serves the console from it; verify, prove and export read it and agree with the primary', async () => {
    expect((await query<{ r: boolean }>(standby(), 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
    const detections = join(dir, 'detections.json');
    writeFileSync(detections, '{}');
    const tokenFile = join(dir, 'console-token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    server = await startServer({
      databaseUrl: primary(),
      args: ['--read-database-url', standby(), '--detections', detections, '--verify-interval', '0', '--console', '127.0.0.1:0', '--console-token-file', tokenFile],
    });
    expect(server.logs.some((l) => l.msg === 'detections: state rebuilt from the ledger')).toBe(true);
    const s = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(s, Array.from({ length: 300 }, (_, i) => `<38>1 2024-05-01T12:00:00Z web-1 sshd 7 - - Failed password for root from 203.0.113.${i % 5} port 4000${i % 10} ssh2\n`).join(''));
    await waitFor(async () => ((await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger WHERE app_name = 'sshd'"))[0]!.n === 300) || undefined);
    await waitFor(async () => (metricValue(await scrape(server!.metricsPort), 'syslog_ledger_replica_up') === 1) || undefined, 15_000);
    const lag = metricValue(await scrape(server.metricsPort), 'syslog_ledger_replica_lag_seconds');
    expect(lag).toBeGreaterThanOrEqual(0);

    // The console reads the replica: its connections are there and none on the primary; what it
    // shows is what the primary has; each read's access record is written on the primary.
    const base = `http://${String(server.logs.find((l) => l.msg === 'syslog-ledger serving')!.console)}`;
    const login = await fetch(`${base}/login?token=${TOKEN}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const get = async (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${path}`, { redirect: 'manual', ...init, headers: { cookie, ...(init.headers ?? {}) } });
    const accessReads = async (op: string): Promise<number> =>
      (await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger WHERE chain = 'syslog-ledger.access' AND event->'api'->>'operation' = $1", [op]))[0]!.n;
    await waitForReplay(primary(), standby());
    const integrityPage = await (await get('/')).text();
    const headOnPrimary = (await query<{ s: string }>(primary(), "SELECT head_seq::text AS s FROM chains WHERE chain = 'test-chain'"))[0]!.s;
    expect(integrityPage).toContain(`data-head-seq="${headOnPrimary}"`);
    const searchesBefore = await accessReads('search');
    const searchPage = await get('/search?host=web-1&from=1h');
    expect(searchPage.status).toBe(200);
    const onPrimaryByHost = (await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger_rows WHERE hostname = 'web-1'"))[0]!.n;
    const html = await searchPage.text();
    expect(html).toContain(`data-total="${onPrimaryByHost}"`);
    expect(onPrimaryByHost).toBeGreaterThanOrEqual(300); // the 300 events and the detections' findings about web-1
    expect(await accessReads('search')).toBe(searchesBefore + 1);
    const consoleSessions = async (url: string): Promise<number> =>
      (await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'syslog-ledger console'"))[0]!.n;
    expect(await consoleSessions(standby())).toBeGreaterThan(0);
    expect(await consoleSessions(primary())).toBe(0);
    // An export from the console: read on the replica, the same rows the primary has, recorded on the primary.
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const exportsBefore = await accessReads('export');
    const tar = await get('/export', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ host: 'web-1', from: '1h', reason: 'replica test', csrf }).toString() });
    expect(tar.status, await tar.clone().text().catch(() => '')).toBe(200);
    const tarFile = join(dir, 'console-export.tar');
    writeFileSync(tarFile, Buffer.from(await tar.arrayBuffer()));
    mkdirSync(join(dir, 'console-export'));
    execFileSync('tar', ['-xf', tarFile, '-C', join(dir, 'console-export')]);
    const [pkg] = readdirSync(join(dir, 'console-export'));
    const consoleCounts = (JSON.parse(readFileSync(join(dir, 'console-export', pkg!, 'manifest.json'), 'utf8')) as { counts: { matching: number } }).counts;
    expect(consoleCounts.matching).toBe(onPrimaryByHost);
    expect(await accessReads('export')).toBe(exportsBefore + 1);
    expect(await consoleSessions(primary())).toBe(0);
    expect(await server.stop()).toBe(0);

    // verify on the primary, then on the replica (it waits until the replica has replayed what the
    // primary had): the same rows, the same heads, intact.
    const onPrimary = await server.cli(['verify', '--json']);
    const onReplica = await server.cli(['verify', '--json', '--read-database-url', standby()]);
    expect(onPrimary.code, onPrimary.stdout + onPrimary.stderr).toBe(0);
    expect(onReplica.code, onReplica.stdout + onReplica.stderr).toBe(0);
    const p = JSON.parse(onPrimary.stdout) as { rows: number; heads: unknown };
    const r = JSON.parse(onReplica.stdout) as { rows: number; heads: unknown };
    expect(r.rows).toBe(p.rows);
    expect(r.heads).toEqual(p.heads);
    // DATABASE_READ_URL does the same.
    const byEnv = await server.cli(['verify', '--json'], { env: { DATABASE_READ_URL: standby() } });
    expect(byEnv.code).toBe(0);

    // prove reads the replica; its access record is written on the primary.
    const accessBefore = (await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger WHERE chain <> 'test-chain'"))[0]!.n;
    const proof = await server.cli(['prove', '--chain', 'test-chain', '--seq', '10', '--read-database-url', standby()]);
    expect(proof.code, proof.stdout + proof.stderr).toBe(0);
    expect((await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger WHERE chain <> 'test-chain'"))[0]!.n).toBe(accessBefore + 1);

    // export reads the replica: the same rows as an export from the primary.
    const counts = async (args: string[], name: string): Promise<unknown> => {
      const e = await server!.cli(['export', '--out', join(dir, name), '--chain', 'test-chain', ...args]);
      expect(e.code, e.stdout + e.stderr).toBe(0);
      return (JSON.parse(readFileSync(join(dir, name, 'manifest.json'), 'utf8')) as { counts: unknown }).counts;
    };
    const fromReplica = await counts(['--read-database-url', standby()], 'export-replica');
    const fromPrimary = await counts([], 'export-primary');
    expect(fromReplica).toEqual(fromPrimary);
    expect((fromReplica as { matching: number }).matching).toBeGreaterThanOrEqual(300);
  }, 180_000);
});
