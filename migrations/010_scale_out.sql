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

-- Least privilege for `serve` (docs/operations.md, "Database roles"): its login is only a member of
-- syslog_ledger_writer; `migrate` runs as the owner. Creating partitions ahead is the one piece of
-- DDL serve does: through ledger_create_partition, run with its owner's rights (SECURITY DEFINER,
-- fixed search_path), and callable only by the writer role. The guard function is the migrations'
-- and that function's alone.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION ledger_create_partition(timestamptz, timestamptz) SECURITY DEFINER SET search_path = %I, pg_temp', current_schema());
END $$;
REVOKE EXECUTE ON FUNCTION ledger_create_partition(timestamptz, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ledger_guard_partition(regclass) FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
    GRANT EXECUTE ON FUNCTION ledger_create_partition(timestamptz, timestamptz) TO syslog_ledger_writer;
    -- serve checks that every migration is applied (and applies none itself).
    GRANT SELECT ON schema_migrations TO syslog_ledger_writer;
    -- Partition maintenance looks for rows of a day in the DEFAULT partition before creating it.
    GRANT SELECT ON ledger_default TO syslog_ledger_writer;
    -- serve reads its own ledger back through the views of 009 (sources' history, detections' replay).
    GRANT SELECT ON ledger_rows, ocsf_events TO syslog_ledger_writer;
    REVOKE DELETE, TRUNCATE ON chains, checkpoints, merkle_nodes, ledger_meta FROM syslog_ledger_writer;
  END IF;
END $$;

-- Signed checkpoints over the set of chains (src/ledger/chain-set.ts): every chain head in one
-- snapshot, signed by the one serve instance holding the chain-set lock, about once a second when a
-- head moved. `verify` checks that no chain was dropped and none went backwards. Append-only.
CREATE TABLE IF NOT EXISTS chain_set_checkpoints (
  n          bigint      PRIMARY KEY CHECK (n > 0),
  signed_at  timestamptz NOT NULL,
  chains     int         NOT NULL,
  root       bytea       NOT NULL CHECK (length(root) = 32),
  key_id     text        NOT NULL,
  record     jsonb       NOT NULL
);
DROP TRIGGER IF EXISTS chain_set_checkpoints_no_change ON chain_set_checkpoints;
CREATE TRIGGER chain_set_checkpoints_no_change BEFORE UPDATE OR DELETE ON chain_set_checkpoints
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
    GRANT SELECT, INSERT ON chain_set_checkpoints TO syslog_ledger_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON chain_set_checkpoints TO syslog_ledger_reader;
  END IF;
END $$;
