#!/bin/sh
# The roles of docs/operations.md ("Database roles"), created once when the postgres container
# initializes its data directory (mounted in /docker-entrypoint-initdb.d by docker-compose.yml).
# On a server of your own, run the same SQL as a role with CREATEROLE.
#   syslog_ledger_owner  LOGIN: owns the database and the schema; `syslog-ledger migrate` runs as it
#   syslog_ledger_serve  LOGIN, member of syslog_ledger_writer only: what `serve` connects as
#   syslog_ledger_writer / syslog_ledger_reader: NOLOGIN groups the migrations grant to
set -eu
: "${LEDGER_OWNER_PASSWORD:?set LEDGER_OWNER_PASSWORD}"
: "${LEDGER_SERVE_PASSWORD:?set LEDGER_SERVE_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_pw="$LEDGER_OWNER_PASSWORD" -v serve_pw="$LEDGER_SERVE_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE syslog_ledger_writer NOLOGIN;
CREATE ROLE syslog_ledger_reader NOLOGIN;
CREATE ROLE syslog_ledger_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE syslog_ledger_serve LOGIN PASSWORD :'serve_pw' IN ROLE syslog_ledger_writer;
-- PostgreSQL 15: the public schema belongs to the database owner (pg_database_owner).
ALTER DATABASE :"db" OWNER TO syslog_ledger_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO syslog_ledger_owner, syslog_ledger_writer, syslog_ledger_reader;
SQL
