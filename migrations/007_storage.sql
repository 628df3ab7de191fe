-- 007: the storage of the two JSON columns.
--
-- syslog and event are stored as `json`, which keeps the text it is given byte for byte,
-- instead of `jsonb`, which re-encodes it. The writer sends the canonical JSON that the row's hash
-- covers (docs/ledger-format.md), so what a SQL reader sees is exactly what was hashed and signed,
-- and verify hashes the stored bytes as they are instead of asking PostgreSQL to print jsonb back
-- as text and re-canonicalizing it. Measured on the development machine with ledger-shaped rows
-- (docs/performance.md, "Storage format"): PostgreSQL CPU per row 40 -> 35 µs to insert and
-- 9.5 -> 3.3 µs to read back for verify. The JSON operators (-> ->> #> #>>, json_each,
-- json_array_elements, ...) work on json; cast to jsonb (event::jsonb) for @>, ? and jsonpath.
--
-- Changing the type rewrites the ledger under an exclusive lock (5.9 s for 200,000 bench rows on the
-- development machine): on a large ledger, run `syslog-ledger migrate` in a maintenance window;
-- senders queue meanwhile (rsyslog's disk-assisted queue, docs/interop.md).
--
-- Rows written before this migration keep their jsonb-printed text (keys reordered, ", " and ": "
-- between tokens): verify recognizes that the text is not canonical and re-canonicalizes it, as before.
--
-- The views that read the two columns block ALTER COLUMN TYPE: each is dropped and created again
-- from its own stored definition, with its grant to the reader role. One test in
-- privilege_escalations used jsonb's key-exists operator: `event ? 'privileges'` becomes
-- `(event -> 'privileges') IS NOT NULL` (the same: -> gives JSON null, not SQL NULL, for a null member).

DO $$
DECLARE
  names text[] := ARRAY['failed_logins', 'privilege_escalations', 'account_changes', 'source_last_event', 'hostname_mismatches'];
  defs  text[] := '{}';
  n text;
BEGIN
  FOREACH n IN ARRAY names LOOP
    defs := defs || pg_get_viewdef(n::regclass);
  END LOOP;
  FOREACH n IN ARRAY names LOOP
    EXECUTE format('DROP VIEW %I', n);
  END LOOP;
  ALTER TABLE ledger ALTER COLUMN syslog TYPE json USING syslog::text::json,
                     ALTER COLUMN event  TYPE json USING event::text::json;
  FOR i IN 1 .. array_length(names, 1) LOOP
    EXECUTE format('CREATE VIEW %I AS %s', names[i],
      replace(defs[i], '(l.event ? ''privileges''::text)', '((l.event -> ''privileges''::text) IS NOT NULL)'));
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
      EXECUTE format('GRANT SELECT ON %I TO syslog_ledger_reader', names[i]);
    END IF;
  END LOOP;
END $$;

-- Compressed with lz4 instead of pglz where the server supports it: most events are over the
-- ~2 KB row size at which PostgreSQL compresses, and pglz costs far more CPU both ways for about the
-- same size (ledger-shaped rows, same machine: PostgreSQL CPU per row to insert 39-44 -> 26-34 µs,
-- to read 3.3-4.1 -> 2.6-2.8 µs; table 239 vs 240 MB). Applies to the partitions that exist and to
-- those created later; rows already stored keep their compression until rewritten. A server built
-- without lz4 (the embedded PostgreSQL is) keeps pglz, with a notice.
-- The parent's setting reaches partitions created later, not the ones that exist: those are set one by one.
DO $$
DECLARE part regclass;
BEGIN
  ALTER TABLE ledger ALTER COLUMN syslog SET COMPRESSION lz4, ALTER COLUMN event SET COMPRESSION lz4;
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'ledger'::regclass LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN syslog SET COMPRESSION lz4, ALTER COLUMN event SET COMPRESSION lz4', part);
  END LOOP;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'syslog-ledger: this PostgreSQL has no lz4; the ledger''s JSON columns stay pglz-compressed';
END $$;
