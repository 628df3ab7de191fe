import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** The server chosen by global-setup.ts. */
export function adminUrl(): string {
  return inject('adminDatabaseUrl');
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates a fresh, uniquely named database for one test file; `drop()` removes it. */
export async function createTestDatabase(prefix = 'sl_test'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl(), name),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await waitForSessionsToEnd(c, name);
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Runs one query on a short-lived connection. */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values?: unknown[]): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/**
 * Gives sessions that are closing (a pool just ended) up to 2 s to go before DROP ... WITH (FORCE):
 * a session terminated while its client is ending reports the termination as an error nobody
 * listens to any more, which fails the test run.
 */
export async function waitForSessionsToEnd(c: pg.Client, database: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database]);
    if (r.rows[0]!.n === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}
