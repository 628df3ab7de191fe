/** `syslog-ledger migrate`: apply migrations/ to the database, idempotently. */
import { resolve } from 'node:path';
import { helpText, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { migrate } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';

export const DB_OPTIONS = {
  'database-url': { type: 'string', arg: 'URL', help: 'PostgreSQL URL; unset: the embedded PostgreSQL of a running serve, or started for this command' },
  'data-dir': { type: 'string', default: './data', arg: 'DIR', help: 'where serve keeps the embedded database and its URL record' },
} as const satisfies OptionSpecs;

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, DB_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger migrate [options]', 'Apply migrations/ in order; safe to run again and from several processes.', DB_OPTIONS));
    return 0;
  }
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const r = await migrate(db.url);
    console.log(r.applied.length ? `applied: ${r.applied.join(', ')}` : `up to date (${r.alreadyApplied} migrations applied before)`);
    return 0;
  } finally {
    await db.release();
  }
}
