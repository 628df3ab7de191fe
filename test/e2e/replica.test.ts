/**
 * Reads on a hot standby (--read-database-url / DATABASE_READ_URL): a throwaway primary cluster and
 * a streaming replica made from it with pg_basebackup on loopback. serve writes to the primary,
 * rebuilds its detections from the replica and exports the replica's lag; verify, prove and export
 * read the replica and agree with the primary. Needs root (initdb and pg_ctl run as `postgres`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { query } from '../helpers/db.js';
import { freePort } from '../helpers/haproxy.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

const BIN = '/usr/lib/postgresql/15/bin';
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

  it('serve rebuilds detections on the replica and reports its lag; verify, prove and export read it and agree with the primary', async () => {
    expect((await query<{ r: boolean }>(standby(), 'SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
    const detections = join(dir, 'detections.json');
    writeFileSync(detections, '{}');
    server = await startServer({ databaseUrl: primary(), args: ['--read-database-url', standby(), '--detections', detections, '--verify-interval', '0'] });
    expect(server.logs.some((l) => l.msg === 'detections: state rebuilt from the ledger')).toBe(true);
    const s = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(s, Array.from({ length: 300 }, (_, i) => `<38>1 2024-05-01T12:00:00Z web-1 sshd 7 - - Failed password for root from 203.0.113.${i % 5} port 4000${i % 10} ssh2\n`).join(''));
    await waitFor(async () => ((await query<{ n: number }>(primary(), "SELECT count(*)::int AS n FROM ledger WHERE app_name = 'sshd'"))[0]!.n === 300) || undefined);
    await waitFor(async () => (metricValue(await scrape(server!.metricsPort), 'syslog_ledger_replica_up') === 1) || undefined, 15_000);
    const lag = metricValue(await scrape(server.metricsPort), 'syslog_ledger_replica_lag_seconds');
    expect(lag).toBeGreaterThanOrEqual(0);
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
