/**
 * `syslog-ledger restore FILE`: load an archive into its own schema for investigation, verified on
 * the way in (public key only). Exit 0 restored, 1 the archive does not verify (nothing restored),
 * 2 could not restore.
 */
import { resolve } from 'node:path';
import { helpText, list, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { DEFAULT_PUBLIC_KEY_FILE } from '../verify/checkpoints.js';
import { loadKeys } from '../retention/cli.js';
import { RestoreRefusedError, restoreArchive } from '../retention/restore.js';
import { DB_OPTIONS } from './migrate.js';

export const RESTORE_OPTIONS = {
  ...DB_OPTIONS,
  schema: { type: 'string', arg: 'NAME', help: 'schema to create and load into (default: restore_<partition>)' },
  'public-key': { type: 'string', multiple: true, default: DEFAULT_PUBLIC_KEY_FILE, arg: 'FILE', help: 'checkpoint signing public key(s)' },
} as const satisfies OptionSpecs;

export async function restoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, RESTORE_OPTIONS, { positionals: true });
  if (values.help || positionals.length !== 1) {
    console.log(helpText('syslog-ledger restore [options] FILE', 'Load an archive (its .jsonl.gz or .manifest.json) into a new schema, verified on the way in.', RESTORE_OPTIONS));
    return values.help ? 0 : 2;
  }
  const keys = await loadKeys(list(values, 'public-key'));
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const schema = str(values, 'schema');
    const r = await restoreArchive(db.url, positionals[0]!, { keys, ...(schema ? { schema } : {}) });
    console.log(`restored ${r.rows} rows of ${r.manifest.partition.name} into schema ${r.schema} (verified): SELECT * FROM ${r.schema}.ledger`);
    return 0;
  } catch (err) {
    if (err instanceof RestoreRefusedError && err.findings.length > 0) {
      console.error(`syslog-ledger restore: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.release();
  }
}
