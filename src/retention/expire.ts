/**
 * `archive --expire`: deletes the files of archives past their retention (every rule, now and when
 * they were made: src/retention/plan.ts) and records each deletion in the ledger once, as a
 * retention record (OCSF 1008 / 2 Delete) signed in the same transaction (docs/retention.md).
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import type pg from 'pg';
import { db, run } from '../ledger/db.js';
import type { Checkpoint } from '../checkpoints/checkpoint.js';
import type { VerifyingKey } from '../checkpoints/signing.js';
import type { ArchiveOptions } from './archive.js';
import { MANIFEST_SUFFIX, type ArchiveManifest } from './format.js';
import { exists, fsyncDir } from './files.js';
import { appendCheckpoint, appendRetentionRecord, latestRetentionRecord, ownBoundary, retentionRecord, signRetentionHead, type RetentionDetails } from './record.js';

/**
 * Records the deletion of an expired archive (retention record, signed checkpoint and
 * ledger_archive_deletions row, one transaction), then deletes its files. Recorded first, so a crash
 * in between leaves a recorded deletion whose files the next run removes, never an unrecorded one.
 * Returns true when something was done.
 */
export async function expireArchive(client: pg.Client, partition: string, dataPath: string, opts: ArchiveOptions & { keys: readonly VerifyingKey[] }): Promise<boolean> {
  const [a] = await run(client, db.selectFrom('ledger_archives').select(['range_from', 'range_to', 'rows', 'sha256', sql<ArchiveManifest>`manifest`.as('manifest')]).where('partition', '=', partition));
  if (a === undefined) return false;
  const manifestPath = join(dirname(dataPath), `${partition}${MANIFEST_SUFFIX}`);
  const present = (await exists(dataPath)) || (await exists(manifestPath));
  const recorded = (await run(client, db.selectFrom('ledger_archive_deletions').select('partition').where('partition', '=', partition))).length > 0;
  if (!recorded) {
    const latest = await latestRetentionRecord(client, { keys: opts.keys });
    const details: RetentionDetails = {
      v: 1,
      action: 'expire',
      partition: { name: partition, from: a.range_from.toISOString(), to: a.range_to.toISOString() },
      rows: Number(a.rows),
      archive: { path: dataPath, sha256: a.sha256.toString('hex'), bytes: a.manifest.file?.bytes ?? 0, manifest_sha256: '' },
      removed: [],
      boundaries: latest?.details.boundaries ?? {},
    };
    let cp: Checkpoint;
    await client.query('BEGIN');
    try {
      const row = await appendRetentionRecord(client, retentionRecord(details, (opts.clock ?? Date.now)() * 1000));
      cp = await signRetentionHead(client, { key: opts.key, boundary: ownBoundary(details.boundaries), ...(opts.clock ? { now: opts.clock } : {}) });
      await run(client, db.insertInto('ledger_archive_deletions').values({ partition, record_seq: row.seq }));
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    await appendCheckpoint(opts.checkpointFile, cp);
  } else if (!present) {
    return false;
  }
  await rm(dataPath, { force: true });
  await rm(manifestPath, { force: true });
  await fsyncDir(dirname(dataPath)).catch(() => {});
  opts.log?.info({ partition, path: dataPath }, 'expired archive deleted; deletion recorded');
  return true;
}
