/**
 * Which database a command uses: `--database-url` / DATABASE_URL when given; otherwise the embedded
 * PostgreSQL of a running `serve` (its URL is recorded under the data dir); otherwise this command
 * starts the embedded PostgreSQL itself, and stops it when done.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  embeddedPasswordFile,
  maskUrlPassword,
  readLiveEmbeddedRecord,
  removeEmbeddedRecord,
  startEmbeddedPostgres,
  withoutPassword,
  writeEmbeddedRecord,
  type EmbeddedServer,
} from './embedded.js';

export interface ResolvedDatabase {
  readonly url: string;
  readonly source: 'url' | 'embedded-attached' | 'embedded-started';
  readonly embedded?: EmbeddedServer;
  /** Stops an embedded server this process started (no-op otherwise). */
  release(): Promise<void>;
}

export async function resolveDatabase(opts: {
  databaseUrl: string | undefined;
  dataDir: string;
  /** serve records the URL for other commands. */
  record?: boolean;
  onLog?: (line: string) => void;
}): Promise<ResolvedDatabase> {
  if (opts.databaseUrl) return { url: opts.databaseUrl, source: 'url', release: async () => {} };
  const live = await readLiveEmbeddedRecord(opts.dataDir);
  if (live) return { url: live.url, source: 'embedded-attached', release: async () => {} };
  const embedded = await startEmbeddedPostgres({ dataDir: join(opts.dataDir, 'postgres'), ...(opts.onLog ? { onLog: opts.onLog } : {}) });
  if (opts.record) await writeEmbeddedRecord(opts.dataDir, { url: embedded.url, pid: process.pid, dataDir: embedded.dataDir });
  return {
    url: embedded.url,
    source: 'embedded-started',
    embedded,
    release: async () => {
      if (opts.record) await removeEmbeddedRecord(opts.dataDir);
      await embedded.stop();
    },
  };
}

/** serve, on the embedded PostgreSQL: how to reach it with psql, logged and on stderr (nothing for a --database-url). */
export function announceEmbedded(db: ResolvedDatabase, dataDir: string, log: Logger): void {
  if (db.source !== 'url') {
    // The password stays in its 0600 file: no log line holds it.
    const psql = `PGPASSFILE=${embeddedPasswordFile(join(dataDir, 'postgres'))} psql '${withoutPassword(db.url)}'`;
    log.info({ url: maskUrlPassword(db.url), source: db.source }, `embedded PostgreSQL: ${psql}`);
    console.error(`Ledger database (embedded PostgreSQL): ${psql}`);
  }
}
