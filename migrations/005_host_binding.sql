-- 005: events whose syslog HOSTNAME their certificate may not claim (serve --host-binding).
-- The flag lives in the hashed event (event.hostname_mismatch), so it cannot be removed unnoticed.
CREATE OR REPLACE VIEW hostname_mismatches AS
SELECT chain, seq, received_at, peer_cn, peer_sans, peer_addr, hostname, app_name, event_time, syslog->>'message' AS message
  FROM ledger
 WHERE (event->>'hostname_mismatch')::boolean IS TRUE;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON hostname_mismatches TO syslog_ledger_reader;
  END IF;
END $$;
