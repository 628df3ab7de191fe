/**
 * `syslog-ledger archive`: export each partition past its hot window to a verified, compressed
 * archive, then detach and drop it and record that in the ledger (docs/retention.md). With --expire,
 * also delete archives past their total retention. Exit 0 done, 2 refused or failed (nothing dropped
 * that was not archived and verified first).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { bool, helpText, list, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { ConfigError } from '../errors.js';
import { loadOrCreateSigningKey } from '../checkpoints/signing.js';
import { DEFAULT_CHECKPOINT_FILE } from '../verify/checkpoints.js';
import { createLogger } from '../log.js';
import { DEFAULT_ARCHIVE_DIR, runArchive } from '../retention/archive.js';
import { POLICY_OPTIONS, loadKeys, nowFrom, policyFrom } from '../retention/cli.js';
import { formatPlan } from '../retention/plan.js';
import { DB_OPTIONS } from './migrate.js';

export const ARCHIVE_OPTIONS = {
  ...DB_OPTIONS,
  ...POLICY_OPTIONS,
  'archive-dir': { type: 'string', default: DEFAULT_ARCHIVE_DIR, arg: 'DIR', help: 'where archives go (a folder per ledger id); docs/retention.md for S3 Object Lock' },
  partition: { type: 'string', arg: 'NAME', help: 'archive only this partition (it must be due)' },
  expire: { type: 'boolean', help: 'also delete archives past their total retention (each deletion is recorded in the ledger)' },
  'dry-run': { type: 'boolean', help: 'print the plan; archive nothing' },
  'signing-key': { type: 'string', default: './certs/ledger-signing.key', arg: 'FILE', help: 'Ed25519 key that signs the retention chain (serve --signing-key)' },
  'public-key': { type: 'string', multiple: true, arg: 'FILE', help: 'more keys accepted on covering checkpoints (rotated keys)' },
  'checkpoint-file': { type: 'string', default: DEFAULT_CHECKPOINT_FILE, arg: 'FILE', help: 'signed chain heads file (serve --checkpoint-file)' },
} as const satisfies OptionSpecs;

export async function archiveCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, ARCHIVE_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger archive --retention POLICY [options]', 'Archive partitions past their hot window (written, fsynced, re-read and verified first), then detach and drop them.', ARCHIVE_OPTIONS));
    return 0;
  }
  const policy = policyFrom(values);
  const now = nowFrom(values);
  const keyPath = resolve(requireStr(values, 'signing-key'));
  if (!existsSync(keyPath)) throw new ConfigError('--signing-key', `${keyPath} not found: archive signs the retention chain with the key serve signs checkpoints with`);
  const key = await loadOrCreateSigningKey(keyPath);
  const publicKeys = await loadKeys(list(values, 'public-key'));
  const log = createLogger('warn');
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const run = await runArchive(db.url, {
      policy,
      now,
      dir: resolve(requireStr(values, 'archive-dir')),
      key,
      publicKeys,
      checkpointFile: resolve(requireStr(values, 'checkpoint-file')),
      expire: bool(values, 'expire'),
      dryRun: bool(values, 'dry-run'),
      log,
      ...(str(values, 'partition') ? { partition: str(values, 'partition') } : {}),
    });
    if (bool(values, 'dry-run')) {
      for (const line of formatPlan(run.plan)) console.log(line);
      return 0;
    }
    for (const a of run.archived) {
      console.log(`archived ${a.partition}: ${a.rows} rows -> ${a.dataPath} (sha256 ${a.sha256}, ${a.bytes} bytes), verified, dropped; retention record seq ${a.recordSeq}`);
    }
    for (const p of run.expired) console.log(`expired archive of ${p} deleted; deletion recorded`);
    if (run.archived.length === 0 && run.expired.length === 0) console.log('nothing due');
    return 0;
  } finally {
    await db.release();
  }
}
