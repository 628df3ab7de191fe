/**
 * Start step 7, once the writer runs and before the listeners open: the monitor's sources read back
 * from the ledger (expected sources, their last events, open silences; Monitor.rebuildSources) on a
 * connection of their own. A failure is logged and the server runs on: silence detection then
 * starts from nothing.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import type { Monitor } from './monitor.js';

/** Rebuilds the monitor's sources from `chain`'s rows, or starts them from nothing when that fails (logged on `log`). */
export async function rebuildSourcesFromLedger(monitor: Monitor, databaseUrl: string, chain: string, log: Logger): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger sources' });
  try {
    await client.connect();
    await monitor.rebuildSources(client, chain);
  } catch (err) {
    log.error({ err: describeError(err) }, 'sources: could not rebuild from the ledger; sources not seen since start are not known to be silent');
    monitor.startSources();
  } finally {
    await client.end().catch(() => undefined);
  }
}
