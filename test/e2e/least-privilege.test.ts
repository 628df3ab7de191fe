/**
 * Least privilege: `migrate` as the owner, then `serve` as a login that is only a member of
 * syslog_ledger_writer (docs/operations.md, "Database roles"). serve runs and commits everything;
 * that login cannot UPDATE, DELETE, TRUNCATE, ALTER or DROP the ledger, nor read what it has no use for.
 * As that login serve also signs chain-set checkpoints (on by default) and, when a RELP session
 * opens, adopts the RELP tails of a chain whose writer was killed (pg_locks, the ledger's rows).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relpLoad } from '../../bench/relp.js';
import { migrate } from '../../src/db/migrate.js';
import { adminUrl, createTestDatabase, query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';

describe('serve as a login of least privilege', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: RunningServer | undefined;
  const login = `sl_serve_${randomBytes(4).toString('hex')}`;
  let serveUrl: string;
  let goneDir = '';
  const relpPort = (x: RunningServer): number => Number(String(x.logs.find((l) => l.msg === 'syslog-ledger serving')?.relpListen).split(':').pop());

  beforeAll(async () => {
    db = await createTestDatabase('sl_leastpriv');
    // The owner (here the test's superuser) migrates; roles exist from 002/010.
    await migrate(db.url);
    await query(adminUrl(), `CREATE ROLE ${login} LOGIN`);
    await query(adminUrl(), `GRANT syslog_ledger_writer TO ${login}`);
    const u = new URL(db.url);
    u.username = login;
    u.password = '';
    serveUrl = u.toString();
  });
  afterAll(async () => {
    await server?.stop();
    if (server) await server.cleanup().catch(() => undefined);
    if (goneDir) await rm(goneDir, { recursive: true, force: true });
    await db?.drop();
    await query(adminUrl(), `DROP ROLE IF EXISTS ${login}`).catch(() => undefined);
  });

  it('serve runs, commits and checkpoints as that login, and exits 0', async () => {
    // First another server as that login, on its own chain, killed (kill -9) after a RELP session:
    // a chain whose writer is gone, whose RELP tails the next server adopts (src/relp/seed.ts).
    const gone = await startServer({ databaseUrl: serveUrl, args: ['--chain', 'gone', '--verify-interval', '0', '--relp-listen', '127.0.0.1:0'] });
    goneDir = gone.workDir;
    await relpLoad({ host: '127.0.0.1', port: relpPort(gone), ca: readFileSync(gone.pki.ca), cert: readFileSync(gone.pki.client), key: readFileSync(gone.pki.clientKey) }, 20, 8);
    const exited = new Promise((res) => gone.child.once('exit', res));
    gone.child.kill('SIGKILL');
    await exited;
    // The chain-set checkpoints are on by default.
    server = await startServer({ databaseUrl: serveUrl, args: ['--verify-interval', '1s', '--relp-listen', '127.0.0.1:0', '--hot-window', '90d'] });
    await relpLoad({ host: '127.0.0.1', port: relpPort(server), ca: readFileSync(server.pki.ca), cert: readFileSync(server.pki.client), key: readFileSync(server.pki.clientKey) }, 20, 8);
    const adopted = (): unknown[][] => server!.logs.filter((l) => /^RELP: adopted/.test(String(l.msg))).map((l) => [l.chain, l.sessions]);
    await waitFor(async () => adopted().length > 0 || undefined, 5000).catch(() => undefined);
    expect(adopted()).toEqual([['gone', 1]]);
    const s = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(s, Array.from({ length: 50 }, (_, i) => `<134>1 2024-05-01T12:00:00Z web-1 app - - - least ${i}\n`).join(''));
    await waitFor(async () => ((await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM ledger_rows WHERE message LIKE 'least %'"))[0]!.n === 50) || undefined);
    // The incremental verifier ran as that login too, and recorded its result.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await server.stop()).toBe(0);
    const errors = server.logs.filter((l) => Number(l.level) >= 50 || /permission denied/.test(JSON.stringify(l)));
    expect(errors.map((l) => JSON.stringify(l))).toEqual([]);
    expect((await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM checkpoints'))[0]!.n).toBeGreaterThan(0);
    expect((await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM chain_set_checkpoints'))[0]!.n).toBeGreaterThan(0);
    const sessions = await query<{ usename: string }>(adminUrl(), 'SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1', [db.name]);
    expect(sessions.filter((r) => r.usename !== login && r.usename !== 'postgres')).toEqual([]);
    // Both servers signed (chain-set checkpoints: the first one, until it was killed).
    const v = await server.cli(['verify', ...[server.workDir, goneDir].flatMap((d) => ['--checkpoints', join(d, 'data', 'checkpoints.jsonl'), '--public-key', join(d, 'certs', 'ledger-signing.key.pub')])]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('that login cannot UPDATE, DELETE, TRUNCATE, ALTER or DROP the ledger, nor read or change what it has no use for', async () => {
    const c = new pg.Client({ connectionString: serveUrl });
    await c.connect();
    const refused: Record<string, string> = {};
    const attempts: Record<string, string> = {
      update: "UPDATE ledger SET raw = '\\x00' WHERE seq = 1",
      delete: 'DELETE FROM ledger WHERE seq = 1',
      truncate: 'TRUNCATE ledger',
      truncate_partition: 'TRUNCATE ledger_default',
      alter: 'ALTER TABLE ledger DISABLE TRIGGER ALL',
      alter_add_column: 'ALTER TABLE ledger ADD COLUMN x int',
      drop: 'DROP TABLE ledger CASCADE',
      drop_partition: 'DROP TABLE ledger_default',
      detach: 'ALTER TABLE ledger DETACH PARTITION ledger_default',
      update_checkpoints: "UPDATE checkpoints SET key_id = 'x'",
      delete_checkpoints: 'DELETE FROM checkpoints',
      delete_chains: 'DELETE FROM chains',
      delete_chain_sets: 'DELETE FROM chain_set_checkpoints',
      truncate_chains: 'TRUNCATE chains',
      update_meta: 'UPDATE ledger_meta SET canonical_version = 9',
      read_archives: 'SELECT * FROM ledger_archives',
      read_archive_deletions: 'SELECT * FROM ledger_archive_deletions',
      create_table: 'CREATE TABLE evil (x int)',
      guard_function: "SELECT ledger_guard_partition('ledger_default'::regclass)",
      set_role_owner: 'SET ROLE postgres',
    };
    try {
      for (const [what, sql] of Object.entries(attempts)) {
        try {
          await c.query(sql);
          refused[what] = 'ALLOWED';
        } catch (err) {
          refused[what] = (err as { code?: string }).code ?? 'error';
        }
      }
      // What it may do: append, and call the partition function (SECURITY DEFINER).
      const made = await c.query<{ name: string | null }>("SELECT ledger_create_partition('2031-01-01', '2031-01-02') AS name");
      expect(made.rows[0]!.name).toBe('ledger_p20310101');
    } finally {
      await c.end();
    }
    // 42501 insufficient_privilege (also what the append-only triggers raise); 42P01 would mean the table is missing.
    for (const [what, code] of Object.entries(refused)) expect(`${what}: ${code}`).toBe(`${what}: 42501`);
    // Nothing changed.
    expect((await query<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM ledger_rows WHERE message LIKE 'least %'"))[0]!.n).toBe(50);
  });
});
