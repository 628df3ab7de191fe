-- 001: the ledger, its chains, and the guards that make it append-only.
-- Canonical form and hash chain: docs/ledger-format.md. Partitions and retention: docs/retention.md.

CREATE TABLE IF NOT EXISTS ledger_meta (
  ledger_id   uuid PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- Version of the canonical row form that hashes in this ledger use.
  canonical_version int NOT NULL DEFAULT 1,
  -- Exactly one row: the identity of this ledger, named in every checkpoint.
  singleton   boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
INSERT INTO ledger_meta (ledger_id)
SELECT md5(random()::text || clock_timestamp()::text)::uuid
WHERE NOT EXISTS (SELECT 1 FROM ledger_meta);

-- One row per chain: its head. The writer that owns a chain locks this row in every batch.
CREATE TABLE IF NOT EXISTS chains (
  chain       text PRIMARY KEY,
  head_seq    bigint NOT NULL DEFAULT 0,
  head_hash   bytea  NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger (
  chain        text        NOT NULL,
  seq          bigint      NOT NULL CHECK (seq > 0),
  received_at  timestamptz NOT NULL,
  peer_cn      text,
  peer_sans    text[]      NOT NULL DEFAULT '{}',
  peer_addr    text        NOT NULL DEFAULT '',
  format       text        NOT NULL CHECK (format IN ('rfc5424', 'rfc3164', 'json', 'unparsed', 'internal')),
  raw          bytea       NOT NULL,
  truncated    boolean     NOT NULL DEFAULT false,
  parse_error  text,
  syslog       jsonb       NOT NULL,
  event        jsonb       NOT NULL,
  -- Lifted from event (src/normalize/columns.ts) for filtering; verify checks they agree with event.
  event_time   timestamptz,
  hostname     text,
  app_name     text,
  class_uid    int         NOT NULL DEFAULT 0,
  activity_id  int         NOT NULL DEFAULT 0,
  status_id    int         NOT NULL DEFAULT 0,
  severity_id  int         NOT NULL DEFAULT 0,
  user_name    text,
  actor_user   text,
  src_ip       inet,
  prev_hash    bytea       NOT NULL CHECK (length(prev_hash) = 32),
  hash         bytea       NOT NULL CHECK (length(hash) = 32),
  -- A partitioned table's keys must include the partition key, so (chain, seq) alone is not
  -- enforced unique across partitions: the writer serializes each chain (advisory lock, chain-row
  -- lock, head check in every batch) and verify reports any duplicate or gap (docs/ledger-format.md).
  PRIMARY KEY (chain, seq, received_at)
) PARTITION BY RANGE (received_at);

-- Partitions by receive time (daily or monthly) are created ahead of time by `serve`
-- (src/retention/partitions.ts, through ledger_create_partition below), so that old data can leave
-- in whole partitions (`syslog-ledger archive`): the ledger never deletes rows. The DEFAULT
-- partition takes any row no dated partition covers: an insert never fails for lack of a partition.
CREATE TABLE IF NOT EXISTS ledger_default PARTITION OF ledger DEFAULT;

CREATE INDEX IF NOT EXISTS ledger_received_at_idx ON ledger (received_at);
CREATE INDEX IF NOT EXISTS ledger_hostname_idx ON ledger (hostname, received_at);

-- Append-only, enforced by the database itself.
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'syslog-ledger: % on % is refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- Row triggers on a partitioned table are cloned to every partition, present and future.
DROP TRIGGER IF EXISTS ledger_no_update_delete ON ledger;
CREATE TRIGGER ledger_no_update_delete BEFORE UPDATE OR DELETE ON ledger
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger;
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Statement triggers are not cloned: `TRUNCATE ledger_p20250101` names the partition directly and
-- would not fire the parent's trigger. Every partition gets its own (same name, same function).
CREATE OR REPLACE FUNCTION ledger_guard_partition(part regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part AND tgname = 'ledger_no_truncate') THEN
    EXECUTE format('CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()', part);
  END IF;
END $$;
SELECT ledger_guard_partition('ledger_default'::regclass);

-- Creates the partition [lo, hi) named ledger_pYYYYMMDD (UTC date of lo) with its TRUNCATE guard;
-- returns its name, or NULL when it exists already. The caller picks non-overlapping bounds.
CREATE OR REPLACE FUNCTION ledger_create_partition(lo timestamptz, hi timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE name text := 'ledger_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
  IF to_regclass(quote_ident(name)) IS NOT NULL THEN RETURN NULL; END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF ledger FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  PERFORM ledger_guard_partition(name::regclass);
  RETURN name;
END $$;

-- ledger_meta is as immutable as the ledger.
DROP TRIGGER IF EXISTS ledger_meta_no_change ON ledger_meta;
CREATE TRIGGER ledger_meta_no_change BEFORE UPDATE OR DELETE ON ledger_meta
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_meta_no_truncate ON ledger_meta;
CREATE TRIGGER ledger_meta_no_truncate BEFORE TRUNCATE ON ledger_meta
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
