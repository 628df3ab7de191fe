-- 006: archives of dropped partitions, and the interlock that lets a ledger partition be detached or
-- dropped only after its archive was written and verified (docs/retention.md).

-- One row per partition that `syslog-ledger archive` moved out of the database, inserted in the
-- transaction that detaches and drops it, after the archive file was written, fsynced, re-read and
-- verified. `manifest` is the archive's manifest exactly as written beside the file.
CREATE TABLE IF NOT EXISTS ledger_archives (
  partition     text        PRIMARY KEY,
  range_from    timestamptz NOT NULL,
  range_to      timestamptz NOT NULL,
  rows          bigint      NOT NULL CHECK (rows >= 0),
  path          text        NOT NULL,
  sha256        bytea       NOT NULL CHECK (length(sha256) = 32),
  -- Earliest time the archive may be deleted under the policy it was archived with.
  expires_at    timestamptz NOT NULL,
  archived_at   timestamptz NOT NULL DEFAULT now(),
  manifest      jsonb       NOT NULL
);

-- One row per archive whose files `archive --expire` deleted once its retention had passed, inserted
-- with the retention record of the deletion (record_seq, chain syslog-ledger.retention).
CREATE TABLE IF NOT EXISTS ledger_archive_deletions (
  partition     text        PRIMARY KEY REFERENCES ledger_archives (partition),
  deleted_at    timestamptz NOT NULL DEFAULT now(),
  record_seq    bigint      NOT NULL
);

-- Append-only, like the ledger (ledger_refuse_change() comes from 001).
DROP TRIGGER IF EXISTS ledger_archive_deletions_no_update_delete ON ledger_archive_deletions;
CREATE TRIGGER ledger_archive_deletions_no_update_delete BEFORE UPDATE OR DELETE ON ledger_archive_deletions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_archive_deletions_no_truncate ON ledger_archive_deletions;
CREATE TRIGGER ledger_archive_deletions_no_truncate BEFORE TRUNCATE ON ledger_archive_deletions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_archives_no_update_delete ON ledger_archives;
CREATE TRIGGER ledger_archives_no_update_delete BEFORE UPDATE OR DELETE ON ledger_archives
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_archives_no_truncate ON ledger_archives;
CREATE TRIGGER ledger_archives_no_truncate BEFORE TRUNCATE ON ledger_archives
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- The interlock. Only the table owner can DETACH or DROP a partition at all (the writer role
-- cannot); this makes the owner go through `syslog-ledger archive` too, by refusing:
--   - DROP of `ledger` itself, of `ledger_default`, or of a `ledger_p*` table with no
--     ledger_archives row (a whole-schema drop is not refused);
--   - any DDL that leaves a `ledger_p*` / `ledger_default` table of the schema detached from
--     `ledger` without a ledger_archives row (ALTER TABLE ledger DETACH PARTITION);
-- and it gives every partition of `ledger`, however created, its TRUNCATE guard.
-- Event triggers need a superuser to create; elsewhere this part is skipped (with a NOTICE) and the
-- guards are the role separation plus `verify`, which reports rows missing without a retention
-- record. A superuser can disable event triggers: this prevents mistakes, it is not a boundary
-- against the database superuser (docs/integrity.md, threat model).
CREATE OR REPLACE FUNCTION ledger_partition_interlock() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  d record;
  archived boolean;
BEGIN
  IF TG_EVENT = 'sql_drop' THEN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() WHERE object_type = 'schema') THEN
      RETURN;
    END IF;
    FOR r IN
      SELECT schema_name, object_name FROM pg_event_trigger_dropped_objects()
       WHERE object_type = 'table' AND NOT is_temporary
         AND (object_name IN ('ledger', 'ledger_default') OR object_name LIKE 'ledger\_p%')
    LOOP
      CONTINUE WHEN to_regclass(format('%I.ledger_archives', r.schema_name)) IS NULL;
      IF r.object_name LIKE 'ledger\_p%' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.ledger_archives WHERE partition = $1)', r.schema_name)
          INTO archived USING r.object_name;
        CONTINUE WHEN archived;
      END IF;
      RAISE EXCEPTION 'syslog-ledger: DROP of %.% is refused: ledger data leaves only through `syslog-ledger archive` (no verified archive of it is recorded)',
        r.schema_name, r.object_name USING ERRCODE = 'insufficient_privilege';
    END LOOP;
    RETURN;
  END IF;
  -- ddl_command_end of CREATE TABLE / ALTER TABLE: check every syslog-ledger schema's ledger.
  FOR r IN
    SELECT c.oid AS ledger, n.nspname AS schema_name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relname = 'ledger' AND c.relkind = 'p'
       AND to_regclass(format('%I.ledger_archives', n.nspname)) IS NOT NULL
  LOOP
    -- Partitions without their TRUNCATE guard (created with plain CREATE TABLE ... PARTITION OF).
    PERFORM 1 FROM pg_inherits i
      WHERE i.inhparent = r.ledger
        AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = i.inhrelid AND t.tgname = 'ledger_no_truncate');
    IF FOUND THEN
      EXECUTE format('SELECT %I.ledger_guard_partition(i.inhrelid::regclass) FROM pg_inherits i
                       WHERE i.inhparent = $1
                         AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = i.inhrelid AND t.tgname = ''ledger_no_truncate'')',
                     r.schema_name) USING r.ledger;
    END IF;
    -- Ledger tables of this schema no longer attached, with no archive recorded.
    FOR d IN EXECUTE format(
      'SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = %L::regnamespace AND c.relkind IN (''r'', ''p'') AND NOT c.relispartition
          AND (c.relname = ''ledger_default'' OR c.relname LIKE ''ledger\_p%%'')
          AND NOT EXISTS (SELECT 1 FROM %I.ledger_archives a WHERE a.partition = c.relname)',
      r.schema_name, r.schema_name)
    LOOP
      RAISE EXCEPTION 'syslog-ledger: detaching % from the ledger is refused: ledger data leaves only through `syslog-ledger archive` (no verified archive of it is recorded)',
        d.relname USING ERRCODE = 'insufficient_privilege';
    END LOOP;
  END LOOP;
END $$;

DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'syslog-ledger: not a superuser: the partition DETACH/DROP interlock (event triggers) is not installed';
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'ledger_partition_drop_interlock') THEN
    EXECUTE format('CREATE EVENT TRIGGER ledger_partition_drop_interlock ON sql_drop EXECUTE FUNCTION %I.ledger_partition_interlock()', current_schema());
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'ledger_partition_ddl_interlock') THEN
    EXECUTE format('CREATE EVENT TRIGGER ledger_partition_ddl_interlock ON ddl_command_end WHEN TAG IN (''CREATE TABLE'', ''ALTER TABLE'') EXECUTE FUNCTION %I.ledger_partition_interlock()', current_schema());
  END IF;
END $$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON ledger_archives, ledger_archive_deletions TO syslog_ledger_reader;
  END IF;
END $$;
