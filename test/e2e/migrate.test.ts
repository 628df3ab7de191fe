import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { createTestDatabase, query } from '../helpers/db.js';

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('sl_migrate');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('apply once when two processes start at once, and are idempotent after', async () => {
    const [a, b] = await Promise.all([migrate(db.url), migrate(db.url)]);
    const total = loadMigrations().length;
    expect(a.applied.length + b.applied.length).toBe(total);
    const again = await migrate(db.url);
    expect(again.applied).toEqual([]);
    const recorded = await query(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(recorded).toHaveLength(total);
  });

  it('create a writer role that can only insert and a reader role that can only select', async () => {
    const rows = await query<{ role: string; priv: string; has: boolean }>(
      db.url,
      `SELECT r.role, p.priv, has_table_privilege(r.role, 'ledger', p.priv) AS has
         FROM (VALUES ('syslog_ledger_writer'), ('syslog_ledger_reader')) r(role),
              (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) p(priv)`,
    );
    const has = (role: string, priv: string): boolean => rows.find((r) => r.role === role && r.priv === priv)!.has;
    expect(has('syslog_ledger_writer', 'INSERT')).toBe(true);
    for (const p of ['UPDATE', 'DELETE', 'TRUNCATE']) expect(has('syslog_ledger_writer', p)).toBe(false);
    expect(has('syslog_ledger_reader', 'SELECT')).toBe(true);
    for (const p of ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) expect(has('syslog_ledger_reader', p)).toBe(false);
  });
});
