-- 008: integrity_status, one row per chain: its head, its last signed checkpoint, and the last
-- incremental verification serve recorded for it (src/verify/incremental.ts: an `internal` row of
-- the chain, msgid verify.incremental, details under event->'unmapped'->'verify'). docs/integrity.md.
-- A partial index keeps "the last internal row of a chain" one index probe, however busy the chain.
CREATE INDEX IF NOT EXISTS ledger_internal_idx ON ledger (chain, seq) WHERE format = 'internal';

CREATE OR REPLACE VIEW integrity_status AS
SELECT c.chain,
       c.head_seq,
       encode(c.head_hash, 'hex') AS head_hash,
       c.updated_at AS head_updated_at,
       cp.seq AS checkpoint_seq,
       cp.signed_at AS checkpoint_signed_at,
       c.head_seq - coalesce(cp.seq, 0) AS rows_after_checkpoint,
       v.verified_at,
       v.result AS verify_result,
       v.reason AS verify_reason,
       v.detail AS verify_detail,
       v.from_seq AS verified_from_seq,
       v.to_seq AS verified_to_seq,
       last_ok.verified_at AS last_success_at,
       last_ok.to_seq AS last_success_seq
  FROM chains c
  LEFT JOIN LATERAL (
    SELECT seq, signed_at FROM checkpoints k WHERE k.chain = c.chain ORDER BY seq DESC LIMIT 1
  ) cp ON true
  LEFT JOIN LATERAL (
    SELECT l.received_at AS verified_at,
           l.event -> 'unmapped' -> 'verify' ->> 'result' AS result,
           l.event -> 'unmapped' -> 'verify' ->> 'reason' AS reason,
           l.event -> 'unmapped' -> 'verify' ->> 'detail' AS detail,
           (l.event -> 'unmapped' -> 'verify' ->> 'from_seq')::bigint AS from_seq,
           (l.event -> 'unmapped' -> 'verify' ->> 'to_seq')::bigint AS to_seq
      FROM ledger l
     WHERE l.chain = c.chain AND l.format = 'internal' AND l.syslog ->> 'msgid' = 'verify.incremental'
     ORDER BY l.seq DESC LIMIT 1
  ) v ON true
  LEFT JOIN LATERAL (
    SELECT l.received_at AS verified_at, (l.event -> 'unmapped' -> 'verify' ->> 'to_seq')::bigint AS to_seq
      FROM ledger l
     WHERE l.chain = c.chain AND l.format = 'internal' AND l.syslog ->> 'msgid' = 'verify.incremental'
       AND l.status_id = 1
     ORDER BY l.seq DESC LIMIT 1
  ) last_ok ON true;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON integrity_status TO syslog_ledger_reader;
  END IF;
END $$;
