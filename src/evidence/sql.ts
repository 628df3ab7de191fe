/**
 * The read side's query builder is the ledger's (src/ledger/db.ts, typed from the one row
 * definition): queries are compiled to PostgreSQL text and run on the caller's pg client, inside its
 * snapshot transaction. The row stream itself stays plain SQL text (src/evidence/rows.ts), as verify's does.
 */
export { db as qb, run, type Database as LedgerDatabase } from '../ledger/db.js';
