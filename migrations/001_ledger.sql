-- 001: the ledger, its chains, and the guards that make it append-only.
-- Canonical form and hash chain: docs/ledger-format.md.

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
  PRIMARY KEY (chain, seq)
);

CREATE INDEX IF NOT EXISTS ledger_received_at_idx ON ledger (received_at);
CREATE INDEX IF NOT EXISTS ledger_hostname_idx ON ledger (hostname, received_at);

-- Append-only, enforced by the database itself.
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'syslog-ledger: % on % is refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS ledger_no_update_delete ON ledger;
CREATE TRIGGER ledger_no_update_delete BEFORE UPDATE OR DELETE ON ledger
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_no_truncate ON ledger;
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- ledger_meta is as immutable as the ledger.
DROP TRIGGER IF EXISTS ledger_meta_no_change ON ledger_meta;
CREATE TRIGGER ledger_meta_no_change BEFORE UPDATE OR DELETE ON ledger_meta
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_meta_no_truncate ON ledger_meta;
CREATE TRIGGER ledger_meta_no_truncate BEFORE TRUNCATE ON ledger_meta
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
