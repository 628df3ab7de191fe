/**
 * Kysely as a query builder only: queries off the hot path are built and typed here, compiled to
 * PostgreSQL text and run on the caller's pg client (inside its snapshot transaction). The row
 * stream itself stays plain SQL text (src/evidence/rows.ts), as verify's does.
 */
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type ColumnType,
  type CompiledQuery,
} from 'kysely';
import type { Queryable } from '../ledger/merkle-store.js';

type Bigint = ColumnType<string | number, number | bigint, number | bigint>;

/** The tables and columns the read side queries (the writer's COPY columns are src/ledger/copy.ts). */
export interface LedgerDatabase {
  ledger: {
    chain: string;
    seq: Bigint;
    received_at: Date;
    event_time: Date | null;
    hostname: string | null;
    app_name: string | null;
    class_uid: number;
    activity_id: number;
    status_id: number;
    severity_id: number;
    user_name: string | null;
    actor_user: string | null;
    peer_cn: string | null;
    format: string;
    hash: Buffer;
  };
  chains: { chain: string; head_seq: Bigint; head_hash: Buffer; updated_at: Date };
  checkpoints: { chain: string; seq: Bigint; tree_size: Bigint; head_hash: Buffer; merkle_root: Buffer; signed_at: Date; key_id: string; record: unknown };
  ledger_meta: { ledger_id: string };
}

/** Builds queries; never connects (the dummy driver). */
export const qb = new Kysely<LedgerDatabase>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Runs a compiled query on a pg client or pool. */
export async function run<R>(db: Queryable, q: { compile(): CompiledQuery<R> }): Promise<R[]> {
  const c = q.compile();
  const res = await db.query(c.sql, c.parameters as unknown[]);
  return res.rows as R[];
}
