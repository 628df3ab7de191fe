/**
 * Applies migrations/NNN_name.sql in order, each in its own transaction, recording each in
 * `schema_migrations`. Idempotent, and safe when several processes start at once: an advisory lock
 * serializes them, and the second finds everything applied.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MigrationError } from '../errors.js';

/** pg_advisory_lock key for migrations (arbitrary, fixed: "syslog-ledger migrate"). */
const MIGRATION_LOCK = 7_355_608_231;

/** The project root (where package.json and migrations/ are), from src/ or dist/src/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'migrations'))) {
    const up = dirname(dir);
    if (up === dir) throw new MigrationError('cannot find the syslog-ledger project root (package.json + migrations/)');
    dir = up;
  }
  return dir;
}

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir = join(projectRoot(), 'migrations')): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(join(dir, f), 'utf8');
      return { version: f.split('_')[0]!, name: f, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export async function migrate(databaseUrl: string, migrations = loadMigrations()): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger migrate' });
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    // Everything applied already: done, without DDL. `serve` runs as a role that may not change the
    // schema (docs/operations.md, "Database roles"); `migrate`, as the owner, applies what is new.
    if (await allApplied(client, migrations)) return { applied: [], alreadyApplied: migrations.length };
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map((await client.query<{ version: string; checksum: string; name: string }>('SELECT version, checksum, name FROM schema_migrations')).rows.map((r) => [r.version, r]));
    const applied: string[] = [];
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior) {
        if (prior.checksum !== m.checksum) {
          throw new MigrationError(`migration ${m.name} changed after it was applied (checksum differs); add a new migration instead`);
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.name);
    }
    return { applied, alreadyApplied: done.size };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}

/** True when schema_migrations lists every migration with its checksum (false if it cannot be read). */
async function allApplied(client: pg.Client, migrations: readonly Migration[]): Promise<boolean> {
  try {
    const rows = (await client.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations')).rows;
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    return migrations.every((m) => done.get(m.version) === m.checksum);
  } catch {
    return false;
  }
}
