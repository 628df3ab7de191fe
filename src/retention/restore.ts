/**
 * `syslog-ledger restore FILE`: loads an archive into its own schema (default
 * `restore_<partition>`) of any PostgreSQL database, for investigation. Verified on the way in:
 *
 *   1. the file is verified as `verify --archive` does (public key only) while its rows stream into
 *      the new table with COPY, in one transaction;
 *   2. the rows are read back from the table and re-hashed, so what PostgreSQL stored is what was
 *      signed;
 *   3. only then does the transaction commit. Any finding: rollback, nothing is left behind.
 *
 * The restored table has the ledger's columns and primary key (chain, seq); it is not part of the
 * live ledger (no chains, checkpoints or partitions), and restoring never touches the live ledger.
 */
import { once } from 'node:events';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { canonicalJson } from '../ledger/canonical.js';
import { COPY_COLUMNS, copyLine } from '../ledger/copy.js';
import { recomputeHash } from '../verify/verify.js';
import { LedgerError } from '../errors.js';
import { ledgerRowFrom, ledgerRowSelect, fromDbRow, toChainedRecord, toStoredRow, type ArchiveManifest, type DbArchiveRow } from './format.js';
import { quoteIdent } from './plan.js';
import { CONNECTION_DDL, copyValue, LEGACY_COLUMNS, sqlTypeOf, V3_COLUMNS, V3_COPY_COLUMNS, V3_KIND, type Connection } from '../ledger/row.js';
import { sql, type RawBuilder } from 'kysely';
import { db, run, runRaw } from '../ledger/db.js';
import { v3FromJson } from '../ledger/v3.js';

/** The columns only version 3 rows have (after COPY_COLUMNS in a restored table), from the row definition. */
const V3_ONLY: readonly string[] = V3_COPY_COLUMNS.filter((n) => !(COPY_COLUMNS as readonly string[]).includes(n));
import { readManifest, verifyArchive, type ArchiveFinding, type VerifyArchiveOptions } from './verify-archive.js';
import { archivePaths } from './format.js';

/** The archive did not verify, or the restored rows differ: nothing was restored. */
export class RestoreRefusedError extends LedgerError {
  readonly canContinue = false;
  constructor(
    readonly file: string,
    message: string,
    readonly findings: readonly ArchiveFinding[] = [],
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** Columns of every row version (NOT NULL where the row definition says so); the others are NULL in rows of some version. */
const ALL_VERSIONS: ReadonlySet<string> = new Set(COPY_COLUMNS);

/**
 * The restored ledger: the live ledger's columns (V3_COLUMNS and LEGACY_COLUMNS, the one row
 * definition), plain (not partitioned), its connections (CONNECTION_COLUMNS), and the manifest.
 */
const TABLE_DDL = (schema: string): RawBuilder<unknown> => sql.raw(`
CREATE TABLE ${schema}.ledger (
${[...V3_COLUMNS, ...LEGACY_COLUMNS].map((c) => `  ${c.name} ${sqlTypeOf(c)}${!c.nullable && ALL_VERSIONS.has(c.name) ? ' NOT NULL' : ''},`).join('\n')}
  CHECK (seq > 0),
  CHECK (length(hash) = 32),
  CHECK (length(prev_hash) = 32),
  PRIMARY KEY (chain, seq)
);
CREATE TABLE ${schema}.ledger_connections (
  chain            text    NOT NULL,
  conn             bigint  NOT NULL,
${CONNECTION_DDL.map((d) => `  ${d},`).join('\n')}
  PRIMARY KEY (chain, conn)
);
CREATE INDEX ON ${schema}.ledger (received_at);
CREATE TABLE ${schema}.archive_manifest (
  manifest     jsonb       NOT NULL,
  restored_at  timestamptz NOT NULL DEFAULT now()
);`);

/** The tables of a restore schema that the ledger's Database does not have. */
type RestoreTables = {
  archive_manifest: { manifest: string };
  pg_namespace: { nspname: string };
};
const rdb = db.withTables<RestoreTables>();

export interface RestoreOptions extends Pick<VerifyArchiveOptions, 'keys'> {
  /** Target schema (created; must not exist). Default: restore_<partition>. */
  readonly schema?: string;
}

export interface RestoreResult {
  readonly schema: string;
  readonly rows: number;
  readonly manifest: ArchiveManifest;
}

export function defaultRestoreSchema(manifest: ArchiveManifest): string {
  return `restore_${manifest.partition.name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
}

/** Restores an archive (FILE: data file or manifest) into a new schema. Throws RestoreRefusedError. */
export async function restoreArchive(databaseUrl: string, file: string, opts: RestoreOptions): Promise<RestoreResult> {
  const manifest = await readManifest(archivePaths(file).manifest);
  const schemaName = opts.schema ?? defaultRestoreSchema(manifest);
  const schema = quoteIdent(schemaName);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger restore' });
  await client.connect();
  try {
    const taken = await run(client, rdb.selectFrom('pg_namespace').select('nspname').where('nspname', '=', schemaName));
    if (taken.length > 0) throw new RestoreRefusedError(file, `schema ${schemaName} exists already: pick another with --schema`);
    await client.query('BEGIN');
    try {
      await runRaw(client, sql`CREATE SCHEMA ${sql.id(schemaName)}`);
      await runRaw(client, TABLE_DDL(schema));
      // 1. Verify while loading.
      // Rows of every version through one COPY: the columns of versions 1/2, then those only v3 has.
      const copy = client.query(copyStreams.from(`COPY ${schema}.ledger (${[...COPY_COLUMNS, ...V3_ONLY].join(', ')}) FROM STDIN`));
      const connections = new Map<string, { chain: string; conn: number; c: Connection }>();
      let copyError: Error | undefined;
      const copied = new Promise<void>((res, rej) => {
        copy.once('finish', res);
        copy.once('error', (err: Error) => rej((copyError = err)));
      });
      copied.catch(() => {});
      const report = await verifyArchive(file, {
        keys: opts.keys,
        // Only rows that checked out are loaded; any finding rolls the whole load back below.
        onRow: async (row, ok) => {
          if (!ok || copyError) return;
          let line: string;
          if (row.v3 !== undefined) {
            const v: Record<string, unknown> = v3FromJson(row.v3.row);
            if (row.v3.connection) connections.set(`${row.chain}\u0000${String(v.conn)}`, { chain: row.chain, conn: v.conn as number, c: row.v3.connection });
            line = `${[...COPY_COLUMNS, ...V3_ONLY].map((n) => { const k = V3_KIND.get(n); return k === undefined ? '\\N' : copyValue(k, v[n]); }).join('\t')}\n`;
          } else {
            const legacy = copyLine(toChainedRecord(row), canonicalJson(row.syslog), canonicalJson(row.event));
            line = `${legacy.slice(0, -1)}${'\t\\N'.repeat(V3_ONLY.length)}\n`;
          }
          if (!copy.write(line)) await once(copy, 'drain');
        },
      });
      if (copyError === undefined) {
        copy.end();
        await copied.catch(() => {});
      }
      if (report.findingCount > 0) {
        throw new RestoreRefusedError(file, `the archive does not verify (${report.findingCount} finding(s): ${report.findings.slice(0, 3).map((f) => `${f.kind}: ${f.detail}`).join('; ')}): nothing was restored`, report.findings);
      }
      if (copyError !== undefined) throw new RestoreRefusedError(file, `PostgreSQL refused a row: ${copyError.message}; nothing was restored`, [], { cause: copyError });
      for (const { chain, conn, c } of connections.values()) {
        await run(client, db.withSchema(schemaName).insertInto('ledger_connections').values({ ...c, chain, conn, peer_sans: [...c.peer_sans] }));
      }
      // 2. Read back and re-hash what PostgreSQL stored (a v3 chain's first row chains from the archive's boundary).
      const firstPrev = new Map(manifest.chains.map((c) => [c.chain, Buffer.from(c.first_prev_hash, 'hex')]));
      await client.query(`DECLARE restore_cur NO SCROLL CURSOR FOR ${ledgerRowSelect(`${schema}.ledger`)} FROM ${ledgerRowFrom(`${schema}.ledger`, `${schema}.ledger_connections`)} ORDER BY l.chain, l.seq`);
      let stored = 0;
      for (;;) {
        const back = await client.query<DbArchiveRow>('FETCH 5000 FROM restore_cur');
        if (back.rows.length === 0) break;
        for (const db of back.rows) {
          const s = toStoredRow(fromDbRow(db), db.syslog ?? 'null', db.event ?? 'null');
          if (s.prevHash.length === 0) s.prevHash = firstPrev.get(s.chain) ?? s.prevHash;
          if (!recomputeHash(s.prevHash, s).hash.equals(s.hash)) {
            throw new RestoreRefusedError(file, `restored row chain "${s.chain}" seq ${s.seq} does not hash as archived (the database round trip changed it): nothing was restored`);
          }
          stored += 1;
        }
      }
      await client.query('CLOSE restore_cur');
      if (stored !== report.rows) throw new RestoreRefusedError(file, `${stored} rows stored of ${report.rows}: nothing was restored`);
      await run(client, rdb.withSchema(schemaName).insertInto('archive_manifest').values({ manifest: JSON.stringify(manifest) }));
      await runRaw(client, sql`COMMENT ON SCHEMA ${sql.id(schemaName)} IS ${sql.raw(pgLiteral(`syslog-ledger restore of ${manifest.partition.name} (${manifest.file.sha256}), verified`))}`);
      await client.query('COMMIT');
      return { schema: schemaName, rows: report.rows, manifest };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    await client.end().catch(() => {});
  }
}

function pgLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
