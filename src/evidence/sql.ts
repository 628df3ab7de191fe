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
  type CompiledQuery,
} from 'kysely';
import type { Queryable } from '../ledger/merkle-store.js';
import type { Database } from '../ledger/db.js';

/** The tables and columns the read side queries: the ledger's Database (src/ledger/db.ts, derived from the row definition). */
export type LedgerDatabase = Database;

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
