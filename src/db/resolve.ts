/**
 * Which database a command uses: `--database-url` / DATABASE_URL when given; otherwise the embedded
 * PostgreSQL of a running `serve` (its URL is recorded under the data dir); otherwise this command
 * starts the embedded PostgreSQL itself, and stops it when done.
 */
import { join } from 'node:path';
import {
  readLiveEmbeddedRecord,
  removeEmbeddedRecord,
  startEmbeddedPostgres,
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
