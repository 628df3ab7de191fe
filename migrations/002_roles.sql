-- 002: least-privilege roles. Created only where the connecting role may create roles;
-- elsewhere a DBA creates them (docs/operations.md) and this migration only grants.
--   syslog_ledger_writer: INSERT into the ledger (and move its own chain heads); no UPDATE/DELETE/TRUNCATE.
--   syslog_ledger_reader: SELECT only.
DO $$
DECLARE can_create boolean;
BEGIN
  SELECT rolsuper OR rolcreaterole INTO can_create FROM pg_roles WHERE rolname = current_user;
  IF can_create THEN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
      CREATE ROLE syslog_ledger_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
      CREATE ROLE syslog_ledger_reader NOLOGIN;
    END IF;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO syslog_ledger_writer', current_schema());
    GRANT SELECT, INSERT ON ledger TO syslog_ledger_writer;
    GRANT SELECT ON ledger_meta TO syslog_ledger_writer;
    GRANT SELECT, INSERT, UPDATE ON chains TO syslog_ledger_writer;
    REVOKE UPDATE, DELETE, TRUNCATE ON ledger FROM syslog_ledger_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO syslog_ledger_reader', current_schema());
    GRANT SELECT ON ledger, ledger_meta, chains TO syslog_ledger_reader;
  END IF;
END $$;
