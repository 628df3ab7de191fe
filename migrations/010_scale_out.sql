-- 010: several servers on one database (docs/operations.md, "Several servers behind a load balancer").

-- Chain ownership with fencing. Taking a chain (LedgerWriter start and every reconnect, under the
-- chain's advisory lock) bumps `epoch`; every batch's transaction locks the chain row and checks
-- the epoch it took, so a writer that lost its chain without knowing (a pause, a partition, a
-- lock lost with its session) cannot append a single row: its batch rolls back and it stops.
ALTER TABLE chains ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;

-- Chains are never deleted: the set of chains only grows (a checkpoint over all heads relies on it).
-- A row trigger (Citus propagates row triggers, not statement ones); TRUNCATE is refused by
-- privileges (only the owner has it).
DROP TRIGGER IF EXISTS chains_no_delete ON chains;
CREATE TRIGGER chains_no_delete BEFORE DELETE ON chains
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
