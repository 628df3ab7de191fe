/**
 * The pgaudit recipe of docs/operations.md ("Auditing SQL reads"), deploy/postgres/pgaudit.sql, run
 * as is on a PostgreSQL 15 cluster of its own (pgaudit must be preloaded: the shared server is never
 * restarted): a reader's SELECTs on the ledger are in the server log, and the reader cannot turn the
 * logging off. Needs Debian's postgresql-15-pgaudit and root (initdb runs as `postgres`; .ci/run
 * installs it); skips and says why otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';

const BIN = '/usr/lib/postgresql/15/bin';
const RECIPE = new URL('../../deploy/postgres/pgaudit.sql', import.meta.url);
const why = !existsSync('/usr/lib/postgresql/15/lib/pgaudit.so')
  ? 'postgresql-15-pgaudit is not installed (apt-get install postgresql-15-pgaudit)'
  : userInfo().uid !== 0
    ? 'not root: initdb of a throwaway cluster runs as the postgres user'
    : spawnSync('id', ['postgres']).status !== 0
      ? 'no postgres user'
      : undefined;
if (why) console.warn(`test/evidence/pgaudit.test.ts: skipped: ${why}`);

let dir = '';
let port = 0;
let started = false;
const asPostgres = (args: string[]): string => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const url = (user: string): string => `postgres://${user}@127.0.0.1:${port}/ledger`;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function sql(user: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url(user) });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  if (why) return;
  dir = mkdtempSync(join(tmpdir(), 'sl-pgaudit-'));
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
  port = await freePort();
  asPostgres([`${BIN}/initdb`, '-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
  asPostgres([
    `${BIN}/pg_ctl`, '-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start',
    '-o', `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c shared_preload_libraries=pgaudit -c fsync=off`,
    // The recipe's postgresql.conf line (its value has spaces: passed as one -c argument).
    '-o', "-c 'log_line_prefix=%m [%p] user=%u db=%d app=%a client=%h '",
  ]);
  started = true;
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE ledger');
  await admin.end();
  await migrate(url('postgres'));
  // The operations.md roles: a reader login in syslog_ledger_reader.
  await sql('postgres', 'CREATE ROLE auditor LOGIN IN ROLE syslog_ledger_reader');
  await sql('postgres', readFileSync(RECIPE, 'utf8'));
}, 180_000);

afterAll(() => {
  if (started) spawnSync('runuser', ['-u', 'postgres', '--', `${BIN}/pg_ctl`, '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(why !== undefined)('pgaudit recipe', () => {
  it('pgaudit: a reader\'s SELECT on the ledger and on a view is in the server log, with the reader named', async () => {
    await sql('auditor', "SELECT count(*) FROM ledger WHERE hostname = 'web1' /* pgaudit-probe-1 */");
    await sql('auditor', 'SELECT * FROM failed_logins LIMIT 5 /* pgaudit-probe-2 */');
    const log = readFileSync(join(dir, 'server.log'), 'utf8');
    const lines = log.split('\n').filter((l) => l.includes('AUDIT:'));
    expect(lines.some((l) => /user=auditor db=ledger .*AUDIT: SESSION,\d+,\d+,READ,SELECT,TABLE,public\.ledger,.*pgaudit-probe-1/.test(l))).toBe(true);
    expect(lines.some((l) => /AUDIT: OBJECT,\d+,\d+,READ,SELECT,TABLE,public\.ledger,.*pgaudit-probe-1/.test(l))).toBe(true);
    expect(lines.some((l) => /AUDIT: SESSION,\d+,\d+,READ,SELECT,VIEW,public\.failed_logins,.*pgaudit-probe-2/.test(l))).toBe(true);
  });

  it('pgaudit: a reader cannot turn its auditing off; object auditing covers other roles too; a superuser can turn it off', async () => {
    await expect(sql('auditor', "SET pgaudit.log = 'none'")).rejects.toThrow(/permission denied/);
    await sql('postgres', 'CREATE ROLE other_reader LOGIN IN ROLE syslog_ledger_reader');
    await sql('other_reader', 'SELECT max(seq) FROM ledger /* pgaudit-probe-3 */');
    const log = readFileSync(join(dir, 'server.log'), 'utf8');
    expect(log).toMatch(/user=other_reader db=ledger .*AUDIT: OBJECT,\d+,\d+,READ,SELECT,TABLE,public\.ledger,.*pgaudit-probe-3/);
    // The limit: a superuser turns it off for its own session, and its reads leave no trace.
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    await c.query("SET pgaudit.role = ''");
    await c.query("SET pgaudit.log = 'none'");
    await c.query('SELECT count(*) FROM ledger /* pgaudit-probe-superuser */');
    await c.end();
    expect(readFileSync(join(dir, 'server.log'), 'utf8')).not.toMatch(/AUDIT: .*pgaudit-probe-superuser/);
    if (process.env.PGAUDIT_PRINT_LOG) console.log(log.split('\n').filter((l) => l.includes('AUDIT:')).join('\n'));
  });
});
