-- 004: signed checkpoints and stored Merkle tree nodes (docs/integrity.md).

-- One row per signed checkpoint. `record` is the checkpoint exactly as appended to the external
-- checkpoint file (src/ledger/checkpoint.ts); the other columns repeat it for queries. The copy
-- outside the database is the anchor: this table serves `prove` and operators.
CREATE TABLE IF NOT EXISTS checkpoints (
  chain        text        NOT NULL,
  seq          bigint      NOT NULL CHECK (seq > 0),
  tree_size    bigint      NOT NULL CHECK (tree_size = seq),
  head_hash    bytea       NOT NULL CHECK (length(head_hash) = 32),
  merkle_root  bytea       NOT NULL CHECK (length(merkle_root) = 32),
  signed_at    timestamptz NOT NULL,
  key_id       text        NOT NULL,
  record       jsonb       NOT NULL,
  PRIMARY KEY (chain, seq)
);

-- Complete Merkle subtrees of 2^level leaves, level >= 8 (one row per 256 rows of a chain, plus
-- ~1 per 256 for the levels above): node (level, idx) covers leaves [idx * 2^level, (idx+1) * 2^level),
-- leaf i being the row with seq i + 1. Lower levels are recomputed from the ledger's row hashes
-- (at most 256 per block). Derivable from the ledger: missing rows are rebuilt, never trusted blindly
-- (a proof built from a wrong node does not verify against a signed root).
CREATE TABLE IF NOT EXISTS merkle_nodes (
  chain  text     NOT NULL,
  level  smallint NOT NULL CHECK (level BETWEEN 8 AND 62),
  idx    bigint   NOT NULL CHECK (idx >= 0),
  hash   bytea    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (chain, level, idx)
);

-- Append-only, like the ledger (ledger_refuse_change() comes from 001).
DROP TRIGGER IF EXISTS checkpoints_no_update_delete ON checkpoints;
CREATE TRIGGER checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON checkpoints
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS checkpoints_no_truncate ON checkpoints;
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS merkle_nodes_no_update_delete ON merkle_nodes;
CREATE TRIGGER merkle_nodes_no_update_delete BEFORE UPDATE OR DELETE ON merkle_nodes
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS merkle_nodes_no_truncate ON merkle_nodes;
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Roles from 002, when they exist: the writer inserts, the reader reads.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
    GRANT SELECT, INSERT ON checkpoints, merkle_nodes TO syslog_ledger_writer;
    REVOKE UPDATE, DELETE, TRUNCATE ON checkpoints, merkle_nodes FROM syslog_ledger_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON checkpoints, merkle_nodes TO syslog_ledger_reader;
  END IF;
END $$;
