/**
 * Start step 5, the detections' state read back from the ledger before the writer starts, so that
 * the replayed rows all come before the first live one: on the replica when one is given
 * (`--read-database-url`), once it has replayed everything the primary has; otherwise through the
 * pool given (the checkpointer's).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { waitForReplay } from '../db/replica.js';
import type { Detector } from './detector.js';

export interface RebuildDetectorOptions {
  /** The primary. */
  readonly databaseUrl: string;
  /** A streaming replica to read from; unset: `pool`. */
  readonly readDatabaseUrl?: string;
  readonly pool: pg.Pool;
  readonly chain: string;
  readonly log: Logger;
}

/** Replays `chain`'s recent rows into the detector (state learned, nothing written), then logs what it read. */
export async function rebuildDetector(detector: Detector, opts: RebuildDetectorOptions): Promise<void> {
  const { chain, log } = opts;
  const readPool = opts.readDatabaseUrl ? new pg.Pool({ connectionString: opts.readDatabaseUrl, max: 1, application_name: 'syslog-ledger detections rebuild' }) : undefined;
  if (opts.readDatabaseUrl) await waitForReplay(opts.databaseUrl, opts.readDatabaseUrl);
  const rebuilt = await detector.rebuildFromLedger(readPool ?? opts.pool, chain).finally(() => readPool?.end());
  log.info({ ...rebuilt, chain }, 'detections: state rebuilt from the ledger');
}
