-- syslog-ledger: record every SQL read of the ledger with pgaudit (docs/operations.md, "Auditing SQL reads").
-- Tested as is by test/evidence/pgaudit.test.ts (PostgreSQL 15, Debian's postgresql-15-pgaudit 1.7).
--
-- Before running it: apt-get install postgresql-15-pgaudit, then in postgresql.conf
--   shared_preload_libraries = 'pgaudit'
--   log_line_prefix = '%m [%p] user=%u db=%d app=%a client=%h '    (who ran each statement)
-- and restart PostgreSQL. Run this file as a superuser in the ledger's database, after
-- `syslog-ledger migrate`. Change `auditor` to your readers' login roles (one ALTER ROLE each).

CREATE EXTENSION IF NOT EXISTS pgaudit;

-- Object audit: every statement, by any role, that reads a relation this role may read is logged
-- (AUDIT: OBJECT,...,READ,SELECT,TABLE,public.ledger,...). The role logs in never.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_audit') THEN
    CREATE ROLE syslog_ledger_audit NOLOGIN;
  END IF;
END $$;
GRANT SELECT ON ledger, chains, checkpoints, merkle_nodes, ledger_meta TO syslog_ledger_audit;
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET pgaudit.role = %L', current_database(), 'syslog_ledger_audit');
  -- the values of bind parameters too (what a query asked for), and each relation on its own line
  EXECUTE format('ALTER DATABASE %I SET pgaudit.log_parameter = on', current_database());
  EXECUTE format('ALTER DATABASE %I SET pgaudit.log_relation = on', current_database());
END $$;

-- Session audit of the readers' logins: every read (and role change) they run, views included.
-- pgaudit.log can be changed by superusers only, so a reader cannot turn it off.
ALTER ROLE auditor SET pgaudit.log = 'read, role';
