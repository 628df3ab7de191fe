/**
 * The typed Kysely `Database` of the ledger, derived from the one row definition (src/ledger/row.ts):
 * the v3 columns' types come from V3_COLUMNS, ledger_connections from CONNECTION_COLUMNS' table type.
 * Kysely is a query builder only here: queries are compiled to PostgreSQL text and run on the
 * caller's pg client (inside its transaction or snapshot). The write hot path stays COPY.
 */
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type ColumnType,
  type CompiledQuery,
  type RawBuilder,
  type Selectable,
} from 'kysely';
import type { ConnectionsTable, LEGACY_COLUMNS, V3Table } from './row.js';

type Bigint = ColumnType<string | number, number | bigint | string, never>;

/** Columns of rows written before format v3 (LEGACY_COLUMNS; NULL in v3 rows). */
type LegacyColumns = {
  [C in (typeof LEGACY_COLUMNS)[number] as C['name']]: C['name'] extends 'peer_sans' ? string[] | null : C['kind'] extends 'json' ? ColumnType<unknown, string, never> : C['kind'] extends 'bytea' ? Buffer | null : string | null;
};

/** `ledger`: the v3 row (V3_COLUMNS) and the columns of versions 1 and 2. */
export type LedgerTable = Omit<V3Table, 'seq' | 'conn'> & { seq: Bigint; conn: Bigint | null } & LegacyColumns;

/** The views of migration 009. */
export interface OcsfEventsView {
  chain: string;
  seq: Bigint;
  received_at: Date;
  event: unknown;
}
export type LedgerRowsView = LedgerTable & { transport: string | null; message: string | null };

/** The view of migration 008 (over ledger_rows since 009): each chain's head, checkpoint and last verification. */
export interface IntegrityStatusView {
  chain: string;
  head_seq: Bigint;
  head_hash: string;
  checkpoint_seq: Bigint | null;
  checkpoint_signed_at: Date | null;
  rows_after_checkpoint: Bigint;
  verified_at: Date | null;
  verify_result: string | null;
  verify_reason: string | null;
  verify_detail: string | null;
  verified_from_seq: Bigint | null;
  verified_to_seq: Bigint | null;
  last_success_at: Date | null;
  last_success_seq: Bigint | null;
}

export interface Database {
  ledger: LedgerTable;
  integrity_status: IntegrityStatusView;
  ledger_connections: ConnectionsTable;
  ocsf_events: OcsfEventsView;
  ledger_rows: LedgerRowsView;
  chains: { chain: string; head_seq: Bigint; head_hash: Buffer; updated_at: Date };
  checkpoints: { chain: string; seq: Bigint; tree_size: Bigint; head_hash: Buffer; merkle_root: Buffer; signed_at: Date; key_id: string; record: unknown };
  ledger_meta: { ledger_id: string };
  /** Migration 006: one row per archived partition. */
  ledger_archives: {
    partition: string;
    range_from: ColumnType<Date, Date | string, never>;
    range_to: ColumnType<Date, Date | string, never>;
    rows: Bigint;
    path: string;
    sha256: Buffer;
    expires_at: ColumnType<Date, Date | string, never>;
    archived_at: ColumnType<Date, Date | string | undefined, never>;
    manifest: ColumnType<unknown, string, never>;
  };
  /** Migration 006: one row per archive whose files `archive --expire` deleted. */
  ledger_archive_deletions: { partition: string; deleted_at: ColumnType<Date, Date | string | undefined, never>; record_seq: Bigint };
}

/** A ledger row as pg returns it. */
export type LedgerSelected = Selectable<LedgerTable>;

/**
 * The fields of a row that every JSON document of it shows (archive line, proof event, evidence
 * leaf), named as the columns: the columns' own types where JSON keeps them, integers as numbers,
 * bytes as base64, the sender as its text (a v3 row's connection's).
 */
export type RowFieldsJson = Pick<LedgerSelected, 'chain' | 'format' | 'truncated' | 'parse_error' | 'peer_cn'> & {
  seq: number;
  /** Receive time, microseconds since 1970 (exact). */
  received_at_us: number;
  peer_sans: string[];
  peer_addr: string;
  /** The exact frame bytes, standard base64. */
  raw_base64: string;
};

/** Builds queries; never connects (the dummy driver). */
export const db = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Anything with pg's query(text, values). */
export interface Runner {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Runs a statement Kysely has no builder for (DDL, LOCK, COMMENT), written as an sql`` template. */
export async function runRaw(client: Runner, q: RawBuilder<unknown>): Promise<void> {
  const c = q.compile(db);
  await client.query(c.sql, c.parameters as unknown[]);
}

/** Runs a compiled query on a pg client or pool. */
export async function run<R>(client: Runner, q: { compile(): CompiledQuery<R> }): Promise<R[]> {
  const c = q.compile();
  const res = await client.query(c.sql, c.parameters as unknown[]);
  return res.rows as R[];
}
