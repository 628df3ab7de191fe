-- 009: ledger format v3 (docs/ledger-format.md, "Version 3"): each fact stored once.
--
-- New rows store `raw` (the evidence), the message as a byte offset into it, the syslog header as
-- typed columns, the structured data as JSON when the frame has some, the lifted filter columns, and
-- only the part of the OCSF event that no column, `raw` or the connection holds (`ocsf`). Who sent a
-- row is stored once per connection in ledger_connections and referenced by (chain, conn). Nothing
-- verify can recompute is stored (no prev_hash). The view `ocsf_events` assembles the full OCSF
-- record; `ledger_rows` shows every row, of any version, in the shape of versions 1 and 2 (event,
-- peer_*), and the views of 003/005/008 read it. Rows written before stay as they are and verify.
--
-- Nothing here rewrites the table: new columns are NULL for old rows (a NULL costs a bit in the
-- row's null bitmap), and dropping NOT NULL or a default is a catalog change.

ALTER TABLE ledger
  ADD COLUMN IF NOT EXISTS conn      bigint,
  ADD COLUMN IF NOT EXISTS msg_at    integer,
  ADD COLUMN IF NOT EXISTS facility  smallint,
  ADD COLUMN IF NOT EXISTS severity  smallint,
  ADD COLUMN IF NOT EXISTS procid    text,
  ADD COLUMN IF NOT EXISTS msgid     text,
  ADD COLUMN IF NOT EXISTS sd        json,
  ADD COLUMN IF NOT EXISTS ocsf      json,
  ALTER COLUMN peer_sans DROP NOT NULL, ALTER COLUMN peer_sans DROP DEFAULT,
  ALTER COLUMN peer_addr DROP NOT NULL, ALTER COLUMN peer_addr DROP DEFAULT,
  ALTER COLUMN syslog DROP NOT NULL,
  ALTER COLUMN event DROP NOT NULL,
  ALTER COLUMN prev_hash DROP NOT NULL;

-- One row per connection (TLS connection, RELP session, the server's own records): who sent the
-- rows that reference it. `conn` is the seq of the connection's first row in the chain, so it is
-- known when the row is hashed, and `ORDER BY conn` is the order the connections began. Its fields
-- are hashed into every row that references it (canonical form v3): changing one fails those rows.
CREATE TABLE IF NOT EXISTS ledger_connections (
  chain            text    NOT NULL,
  conn             bigint  NOT NULL CHECK (conn > 0),
  transport        text    NOT NULL,
  peer_addr        text    NOT NULL,
  peer_cn          text,
  peer_sans        text[]  NOT NULL,
  peer_subject     text    NOT NULL,
  peer_fingerprint text    NOT NULL,
  PRIMARY KEY (chain, conn)
);
DROP TRIGGER IF EXISTS ledger_connections_no_update_delete ON ledger_connections;
CREATE TRIGGER ledger_connections_no_update_delete BEFORE UPDATE OR DELETE ON ledger_connections
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_connections_no_truncate ON ledger_connections;
CREATE TRIGGER ledger_connections_no_truncate BEFORE TRUNCATE ON ledger_connections
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Indexes (docs/ledger-format.md, "Indexes"): each kept for a named query, none over 40 bytes per event.
-- ledger_source_idx (135 B/event) indexed peer_cn, which v3 rows no longer carry: it stays for the
-- rows written before (partial, rebuilt), and v3 rows get (conn, host, received_at): the skip scans of
-- source_last_event and of serve's source history (src/metrics/source-history.ts) walk it.
DROP INDEX IF EXISTS ledger_source_idx;
CREATE INDEX IF NOT EXISTS ledger_source_idx
  ON ledger ((coalesce(peer_cn, '')), (coalesce(hostname, '')), received_at DESC, seq DESC) WHERE conn IS NULL;
CREATE INDEX IF NOT EXISTS ledger_conn_source_idx
  ON ledger (conn, (coalesce(hostname, '')), received_at) WHERE conn IS NOT NULL;
-- hostname + received_at b-tree: ~48 B/event for host names of ~20 characters; no view used it.
DROP INDEX IF EXISTS ledger_hostname_idx;
-- The correlation index read `event`, which v3 rows leave NULL.
DROP INDEX IF EXISTS ledger_auth_failure_corr_idx;
-- Time columns that follow insertion order: BRIN (a few bytes per 128 pages instead of ~24 B/event).
DROP INDEX IF EXISTS ledger_received_at_idx;
CREATE INDEX IF NOT EXISTS ledger_received_at_brin ON ledger USING brin (received_at);
DROP INDEX IF EXISTS ledger_event_time_idx;
CREATE INDEX IF NOT EXISTS ledger_event_time_brin ON ledger USING brin (event_time);
-- The views select classes other than 0 (failed_logins, privilege_escalations, account_changes; the
-- detections' replay): Base Events, most of the traffic, are left out of the index.
DROP INDEX IF EXISTS ledger_class_status_idx;
CREATE INDEX IF NOT EXISTS ledger_class_status_idx ON ledger (class_uid, status_id, event_time) WHERE class_uid <> 0;

-- The captions the normalizer writes for the OCSF ids (src/normalize/ocsf.ts; a test checks they agree).
CREATE OR REPLACE FUNCTION ocsf_class_name(c int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE c
    WHEN 0 THEN 'Base Event'
    WHEN 1001 THEN 'File System Activity'
    WHEN 1003 THEN 'Kernel Activity'
    WHEN 1007 THEN 'Process Activity'
    WHEN 1008 THEN 'Event Log Activity'
    WHEN 3001 THEN 'Account Change'
    WHEN 3002 THEN 'Authentication'
    WHEN 3003 THEN 'Authorize Session'
    WHEN 3004 THEN 'Entity Management'
    WHEN 3005 THEN 'User Access Management'
    WHEN 3006 THEN 'Group Management'
    WHEN 4001 THEN 'Network Activity'
    WHEN 6002 THEN 'Application Lifecycle'
    WHEN 6003 THEN 'API Activity'
  END $$;
CREATE OR REPLACE FUNCTION ocsf_category_uid(c int) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE c
    WHEN 0 THEN 0
    WHEN 1001 THEN 1
    WHEN 1003 THEN 1
    WHEN 1007 THEN 1
    WHEN 1008 THEN 1
    WHEN 3001 THEN 3
    WHEN 3002 THEN 3
    WHEN 3003 THEN 3
    WHEN 3004 THEN 3
    WHEN 3005 THEN 3
    WHEN 3006 THEN 3
    WHEN 4001 THEN 4
    WHEN 6002 THEN 6
    WHEN 6003 THEN 6
  END $$;
CREATE OR REPLACE FUNCTION ocsf_category_name(c int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE c
    WHEN 0 THEN 'Uncategorized'
    WHEN 1 THEN 'System Activity'
    WHEN 3 THEN 'Identity & Access Management'
    WHEN 4 THEN 'Network Activity'
    WHEN 6 THEN 'Application Activity'
  END $$;
CREATE OR REPLACE FUNCTION ocsf_activity_name(c int, a int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(CASE c * 1000 + a
WHEN 1001001 THEN 'Create'
    WHEN 1001002 THEN 'Read'
    WHEN 1001003 THEN 'Update'
    WHEN 1001004 THEN 'Delete'
    WHEN 1001005 THEN 'Rename'
    WHEN 1001006 THEN 'Set Attributes'
    WHEN 1001007 THEN 'Set Security'
    WHEN 1001008 THEN 'Get Attributes'
    WHEN 1001009 THEN 'Get Security'
    WHEN 1001010 THEN 'Encrypt'
    WHEN 1001011 THEN 'Decrypt'
    WHEN 1001012 THEN 'Mount'
    WHEN 1001013 THEN 'Unmount'
    WHEN 1001014 THEN 'Open'
    WHEN 1003001 THEN 'Create'
    WHEN 1003002 THEN 'Read'
    WHEN 1003003 THEN 'Delete'
    WHEN 1003004 THEN 'Invoke'
    WHEN 1007001 THEN 'Launch'
    WHEN 1007002 THEN 'Terminate'
    WHEN 1007003 THEN 'Open'
    WHEN 1007004 THEN 'Inject'
    WHEN 1007005 THEN 'Set User ID'
    WHEN 1008001 THEN 'Clear'
    WHEN 1008002 THEN 'Delete'
    WHEN 1008003 THEN 'Export'
    WHEN 1008004 THEN 'Archive'
    WHEN 1008005 THEN 'Rotate'
    WHEN 1008006 THEN 'Start'
    WHEN 1008007 THEN 'Stop'
    WHEN 1008008 THEN 'Restart'
    WHEN 1008009 THEN 'Enable'
    WHEN 1008010 THEN 'Disable'
    WHEN 3001001 THEN 'Create'
    WHEN 3001002 THEN 'Enable'
    WHEN 3001003 THEN 'Password Change'
    WHEN 3001004 THEN 'Password Reset'
    WHEN 3001005 THEN 'Disable'
    WHEN 3001006 THEN 'Delete'
    WHEN 3001007 THEN 'Attach Policy'
    WHEN 3001008 THEN 'Detach Policy'
    WHEN 3001009 THEN 'Lock'
    WHEN 3001010 THEN 'MFA Factor Enable'
    WHEN 3001011 THEN 'MFA Factor Disable'
    WHEN 3002001 THEN 'Logon'
    WHEN 3002002 THEN 'Logoff'
    WHEN 3002003 THEN 'Authentication Ticket'
    WHEN 3002004 THEN 'Service Ticket Request'
    WHEN 3002005 THEN 'Service Ticket Renew'
    WHEN 3002006 THEN 'Preauth'
    WHEN 3002007 THEN 'Account Switch'
    WHEN 3003001 THEN 'Assign Privileges'
    WHEN 3003002 THEN 'Assign Groups'
    WHEN 3003003 THEN 'Assign Roles'
    WHEN 3004001 THEN 'Create'
    WHEN 3004002 THEN 'Read'
    WHEN 3004003 THEN 'Update'
    WHEN 3004004 THEN 'Delete'
    WHEN 3005001 THEN 'Assign Privileges'
    WHEN 3005002 THEN 'Revoke Privileges'
    WHEN 3005003 THEN 'Assign Role'
    WHEN 3005004 THEN 'Remove Role'
    WHEN 3006001 THEN 'Assign Privileges'
    WHEN 3006002 THEN 'Revoke Privileges'
    WHEN 3006003 THEN 'Add User'
    WHEN 3006004 THEN 'Remove User'
    WHEN 3006005 THEN 'Delete'
    WHEN 3006006 THEN 'Create'
    WHEN 4001001 THEN 'Open'
    WHEN 4001002 THEN 'Close'
    WHEN 4001003 THEN 'Reset'
    WHEN 4001004 THEN 'Fail'
    WHEN 4001005 THEN 'Refuse'
    WHEN 4001006 THEN 'Traffic'
    WHEN 4001007 THEN 'Listen'
    WHEN 6002001 THEN 'Install'
    WHEN 6002002 THEN 'Remove'
    WHEN 6002003 THEN 'Start'
    WHEN 6002004 THEN 'Stop'
    WHEN 6003001 THEN 'Create'
    WHEN 6003002 THEN 'Read'
    WHEN 6003003 THEN 'Update'
    WHEN 6003004 THEN 'Delete'
  END, CASE WHEN a = 0 THEN 'Unknown' ELSE 'Other' END) $$;
CREATE OR REPLACE FUNCTION ocsf_severity_name(s int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE s WHEN 0 THEN 'Unknown' WHEN 1 THEN 'Informational' WHEN 2 THEN 'Low' WHEN 3 THEN 'Medium'
    WHEN 4 THEN 'High' WHEN 5 THEN 'Critical' WHEN 6 THEN 'Fatal' WHEN 99 THEN 'Other' END $$;
CREATE OR REPLACE FUNCTION ocsf_status_name(s int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE s WHEN 0 THEN 'Unknown' WHEN 1 THEN 'Success' WHEN 2 THEN 'Failure' WHEN 99 THEN 'Other' END $$;

-- Where the body of `raw` ends: before one trailing LF or CRLF (the framer's body; src/ledger/v3.ts bodyEnd).
CREATE OR REPLACE FUNCTION ledger_body_end(raw bytea) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT length(raw) - CASE
    WHEN length(raw) >= 2 AND get_byte(raw, length(raw) - 2) = 13 AND get_byte(raw, length(raw) - 1) = 10 THEN 2
    WHEN length(raw) >= 1 AND get_byte(raw, length(raw) - 1) = 10 THEN 1
    ELSE 0 END $$;

-- The message of a v3 row: `raw` from msg_at to the body's end (NULL when msg_at is).
CREATE OR REPLACE FUNCTION ledger_message(raw bytea, msg_at int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN msg_at IS NOT NULL THEN convert_from(substring(raw FROM msg_at + 1 FOR greatest(ledger_body_end(raw) - msg_at, 0)), 'UTF8') END $$;

-- metadata.peer of a connection, as the normalizer writes it.
CREATE OR REPLACE FUNCTION ledger_peer_json(c ledger_connections) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('cn', nullif(c.peer_cn, ''), 'sans', to_jsonb(c.peer_sans),
    'subject', nullif(c.peer_subject, ''), 'fingerprint', nullif(c.peer_fingerprint, ''), 'address', nullif(c.peer_addr, ''))) $$;

-- The full OCSF event of a v3 row: what the columns, `raw` and the connection give (the same
-- derivation as src/ledger/v3.ts deriveEvent), overridden by the stored part `ocsf` member by
-- member (one level deeper for metadata and unmapped). The writer checked, row by row, that this
-- gives the event back exactly; rows where it would not store the whole event in `event` instead.
CREATE OR REPLACE FUNCTION ledger_v3_event(l ledger, c ledger_connections) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT d || (o - 'metadata' - 'unmapped')
    || CASE WHEN o ? 'raw_data' THEN '{}'::jsonb
            ELSE jsonb_build_object('raw_data', convert_from(substring(l.raw FROM 1 FOR ledger_body_end(l.raw)), 'UTF8')) END
    || jsonb_build_object('metadata', dm || coalesce(o -> 'metadata', '{}'), 'unmapped', du || coalesce(o -> 'unmapped', '{}'))
  FROM (SELECT l.ocsf::jsonb AS o,
               to_char(l.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t) s,
  LATERAL (SELECT jsonb_strip_nulls(jsonb_build_object(
      'class_uid', l.class_uid, 'class_name', ocsf_class_name(l.class_uid), 'category_uid', ocsf_category_uid(l.class_uid),
      'category_name', ocsf_category_name(ocsf_category_uid(l.class_uid)),
      'activity_id', l.activity_id, 'activity_name', ocsf_activity_name(l.class_uid, l.activity_id),
      'type_uid', l.class_uid * 100 + l.activity_id,
      'severity_id', l.severity_id, 'severity', ocsf_severity_name(l.severity_id),
      'status_id', l.status_id, 'status', ocsf_status_name(l.status_id),
      'time', floor(extract(epoch FROM coalesce(l.event_time, l.received_at)) * 1000)::bigint,
      'time_dt', s.t,
      'message', ledger_message(l.raw, l.msg_at),
      'device', CASE WHEN l.hostname IS NOT NULL THEN jsonb_build_object('hostname', l.hostname) END)) AS d) dd,
  LATERAL (SELECT jsonb_strip_nulls(jsonb_build_object(
      'version', '1.7.0',
      'log_name', (ARRAY['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
                         'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5',
                         'local6', 'local7'])[l.facility + 1],
      'log_provider', l.app_name,
      'original_time', s.t,
      'logged_time', floor(extract(epoch FROM l.received_at) * 1000)::bigint,
      'correlation_uid', CASE WHEN l.hostname IS NOT NULL AND l.app_name IS NOT NULL AND l.procid <> ''
                              THEN l.hostname || ':' || l.app_name || '[' || l.procid || ']' END))
    || jsonb_build_object('peer', ledger_peer_json(c))
    || CASE WHEN l.class_uid = 0 THEN jsonb_build_object('mapping', jsonb_build_object('rule', 'base', 'version', 1),
                                                         'product', jsonb_build_object('name', coalesce(l.app_name, 'unknown')))
            ELSE '{}'::jsonb END AS dm) mm,
  LATERAL (SELECT CASE WHEN l.class_uid = 0 THEN jsonb_build_object('syslog', jsonb_strip_nulls(jsonb_build_object(
      'facility', l.facility, 'severity', l.severity, 'app_name', l.app_name, 'procid', nullif(l.procid, ''),
      'msgid', nullif(l.msgid, ''), 'structured_data', l.sd::jsonb))) ELSE '{}'::jsonb END AS du) uu $$;

-- The full OCSF record of every row: today's `event`, whatever the row's version.
CREATE OR REPLACE VIEW ocsf_events AS
SELECT l.chain, l.seq, l.received_at,
       CASE WHEN l.event IS NOT NULL THEN l.event ELSE ledger_v3_event(l, c)::json END AS event
  FROM ledger l
  LEFT JOIN ledger_connections c ON c.chain = l.chain AND c.conn = l.conn;

-- Every row in the shape of versions 1 and 2 (peer_*, syslog, event), with the v3 columns: what the
-- views below read. `message` and `msgid` come from the syslog JSON of older rows.
CREATE OR REPLACE VIEW ledger_rows AS
SELECT l.chain, l.seq, l.received_at, l.conn,
       CASE WHEN l.conn IS NULL THEN l.peer_cn ELSE c.peer_cn END AS peer_cn,
       CASE WHEN l.conn IS NULL THEN l.peer_sans ELSE c.peer_sans END AS peer_sans,
       CASE WHEN l.conn IS NULL THEN l.peer_addr ELSE c.peer_addr END AS peer_addr,
       c.transport,
       l.format, l.raw, l.truncated, l.parse_error,
       -- v3 rows: the syslog fields as the columns hold them (hostname and app_name as lifted; the
       -- timestamp as the event's time_dt, which is the sender's text when it was RFC 3339).
       CASE WHEN l.conn IS NULL THEN l.syslog
            ELSE json_build_object('facility', l.facility, 'severity', l.severity,
                   'timestamp', CASE WHEN l.event IS NOT NULL THEN l.event ->> 'time_dt' ELSE ledger_v3_event(l, c) ->> 'time_dt' END,
                   'hostname', l.hostname, 'app_name', l.app_name, 'procid', l.procid, 'msgid', l.msgid, 'structured_data', l.sd,
                   'message', CASE WHEN l.msg_at IS NOT NULL THEN ledger_message(l.raw, l.msg_at) ELSE coalesce(l.ocsf, l.event) ->> 'message' END) END AS syslog,
       CASE WHEN l.event IS NOT NULL THEN l.event ELSE ledger_v3_event(l, c)::json END AS event,
       l.event_time, l.hostname, l.app_name, l.class_uid, l.activity_id, l.status_id, l.severity_id,
       l.user_name, l.actor_user, l.src_ip, l.prev_hash, l.hash,
       l.msg_at, l.facility, l.severity, l.procid,
       CASE WHEN l.conn IS NULL THEN l.syslog ->> 'msgid' ELSE l.msgid END AS msgid,
       l.sd, l.ocsf,
       CASE WHEN l.conn IS NULL THEN l.syslog ->> 'message'
            WHEN l.msg_at IS NOT NULL THEN ledger_message(l.raw, l.msg_at)
            ELSE coalesce(l.ocsf, l.event) ->> 'message' END AS message
  FROM ledger l
  LEFT JOIN ledger_connections c ON c.chain = l.chain AND c.conn = l.conn;

-- The views of migrations 003, 005 and 008, same columns, now over ledger_rows.
DROP VIEW IF EXISTS failed_logins, privilege_escalations, account_changes, source_last_event, hostname_mismatches, integrity_status;

CREATE VIEW failed_logins AS
SELECT l.chain,
       l.seq,
       l.received_at,
       l.event_time,
       l.hostname,
       l.app_name,
       l.peer_cn,
       l.user_name,
       l.actor_user,
       l.src_ip,
       l.activity_id,
       l.event ->> 'activity_name' AS activity_name,
       l.event #>> '{service,name}' AS service,
       l.event ->> 'auth_protocol' AS auth_protocol,
       l.event ->> 'status_detail' AS status_detail,
       l.severity_id,
       l.event #>> '{metadata,mapping,rule}' AS rule,
       l.event #>> '{metadata,correlation_uid}' AS correlation_uid,
       l.event #>> '{unmapped,repeat_of}' AS repeat_of,
       CASE
         WHEN l.event #> '{unmapped,repeat_of}' IS NULL THEN coalesce((l.event ->> 'count')::int, 1)
         WHEN l.event #>> '{metadata,mapping,rule}' = 'pam.auth_failure'
              AND l.event #> '{metadata,correlation_uid}' IS NOT NULL
              AND NOT EXISTS (
                SELECT 1
                  FROM ledger_rows p
                 WHERE p.class_uid = 3002
                   AND p.status_id = 2
                   AND (p.event #>> '{metadata,correlation_uid}') = (l.event #>> '{metadata,correlation_uid}')
                   AND p.received_at BETWEEN l.received_at - interval '10 minutes' AND l.received_at + interval '10 minutes'
                   AND p.activity_id IN (1, 7)
                   AND p.event #> '{unmapped,repeat_of}' IS NULL)
           THEN 1
         ELSE 0
       END AS attempts,
       l.event ->> 'message' AS message
  FROM ledger_rows l
 WHERE l.class_uid = 3002
   AND l.status_id = 2
   AND l.activity_id IN (1, 7);

-- Who gained (or tried to gain) another identity's privileges:
--   command       sudo COMMAND lines and auditd USER_CMD (Process Activity 1007 / Launch)
--   switch        su / sudo / pam account switches (Authentication 3002 / 7), primary lines only
--   authorization sudo `NOT in sudoers`, application authorization records (Authorize Session 3003)
--   group_grant   membership of a privileged group (Group Management 3006 / 3 with privileges),
--                 User Access Management 3005 grants
-- Failures are included: filter on status_id = 1 for the ones that happened.
CREATE VIEW privilege_escalations AS
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'command'::text AS kind,
       l.actor_user,
       coalesce(l.event #>> '{process,user,name}', 'uid:' || (l.event #>> '{process,user,uid}')) AS target_user,
       NULL::text AS privilege,
       l.event #>> '{process,cmd_line}' AS command,
       l.status_id,
       l.event ->> 'status_detail' AS status_detail,
       l.event #>> '{metadata,mapping,rule}' AS rule,
       l.event ->> 'message' AS message
  FROM ledger_rows l
 WHERE l.class_uid = 1007
   AND l.activity_id = 1
   AND l.event #>> '{metadata,mapping,rule}' IN ('sudo.command', 'auditd.user_cmd')
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'switch', l.actor_user, l.user_name, NULL, l.event #>> '{unmapped,command}', l.status_id,
       l.event ->> 'status_detail', l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger_rows l
 WHERE l.class_uid = 3002
   AND l.activity_id = 7
   AND l.event #> '{unmapped,repeat_of}' IS NULL
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'authorization', coalesce(l.actor_user, l.user_name), l.user_name, l.event #>> '{privileges,0}',
       l.event #>> '{unmapped,command}', l.status_id, l.event ->> 'status_detail',
       l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger_rows l
 WHERE l.class_uid = 3003
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'group_grant', l.actor_user, l.user_name, coalesce(l.event #>> '{group,name}', l.event #>> '{privileges,0}'),
       NULL, l.status_id, l.event ->> 'status_detail', l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger_rows l
 WHERE (l.class_uid = 3006 AND l.activity_id = 3 AND (l.event -> 'privileges') IS NOT NULL)
    OR (l.class_uid = 3005 AND l.activity_id IN (1, 3));

-- Account and group lifecycle: Account Change 3001, Group Management 3006, User Access
-- Management 3005. Lines that restate a change already recorded (unmapped.repeat_of, e.g.
-- `group added to /etc/gshadow`) are left out; the ledger keeps them.
CREATE VIEW account_changes AS
SELECT l.chain,
       l.seq,
       l.received_at,
       l.event_time,
       l.hostname,
       l.peer_cn,
       l.class_uid,
       l.event ->> 'class_name' AS class_name,
       l.activity_id,
       l.event ->> 'activity_name' AS activity_name,
       l.status_id,
       l.user_name,
       l.event #>> '{user,uid}' AS user_uid,
       l.actor_user,
       l.event #>> '{group,name}' AS group_name,
       l.event #>> '{group,uid}' AS group_gid,
       l.event -> 'privileges' AS privileges,
       l.event ->> 'status_detail' AS status_detail,
       l.event #>> '{metadata,mapping,rule}' AS rule,
       l.event ->> 'message' AS message
  FROM ledger_rows l
 WHERE l.class_uid IN (3001, 3005, 3006)
   AND l.event #> '{unmapped,repeat_of}' IS NULL;

-- The last event from each source (authenticated peer + syslog HOSTNAME), found with one index
-- probe per source (a skip scan over ledger_source_idx), so it stays fast on a large ledger.
-- v3 rows: the connection gives the peer; both kinds of rows are walked on their own index.
CREATE VIEW source_last_event AS
WITH RECURSIVE legacy(peer, host) AS (
  (SELECT coalesce(peer_cn, ''), coalesce(hostname, '')
     FROM ledger
    WHERE conn IS NULL
    ORDER BY coalesce(peer_cn, ''), coalesce(hostname, '')
    LIMIT 1)
  UNION ALL
  SELECT nxt.peer, nxt.host
    FROM legacy s
    CROSS JOIN LATERAL (
      SELECT coalesce(l.peer_cn, '') AS peer, coalesce(l.hostname, '') AS host
        FROM ledger l
       WHERE l.conn IS NULL AND (coalesce(l.peer_cn, ''), coalesce(l.hostname, '')) > (s.peer, s.host)
       ORDER BY coalesce(l.peer_cn, ''), coalesce(l.hostname, '')
       LIMIT 1) nxt
),
v3(conn, host) AS (
  (SELECT conn, coalesce(hostname, '')
     FROM ledger
    WHERE conn IS NOT NULL
    ORDER BY conn, coalesce(hostname, '')
    LIMIT 1)
  UNION ALL
  SELECT nxt.conn, nxt.host
    FROM v3 s
    CROSS JOIN LATERAL (
      SELECT l.conn, coalesce(l.hostname, '') AS host
        FROM ledger l
       WHERE l.conn IS NOT NULL AND (l.conn, coalesce(l.hostname, '')) > (s.conn, s.host)
       ORDER BY l.conn, coalesce(l.hostname, '')
       LIMIT 1) nxt
),
found AS (
  SELECT s.peer, s.host, last.peer_cn, last.hostname, last.received_at, last.event_time, last.app_name, last.class_uid, last.chain, last.seq
    FROM legacy s
    CROSS JOIN LATERAL (
      SELECT l.*
        FROM ledger l
       WHERE l.conn IS NULL AND coalesce(l.peer_cn, '') = s.peer AND coalesce(l.hostname, '') = s.host
       ORDER BY l.received_at DESC, l.seq DESC
       LIMIT 1) last
  UNION ALL
  SELECT coalesce(c.peer_cn, ''), s.host, c.peer_cn, last.hostname, last.received_at, last.event_time, last.app_name, last.class_uid, last.chain, last.seq
    FROM v3 s
    JOIN ledger_connections c ON c.conn = s.conn
    CROSS JOIN LATERAL (
      SELECT l.*
        FROM ledger l
       WHERE l.conn = c.conn AND l.chain = c.chain AND coalesce(l.hostname, '') = s.host
       ORDER BY l.received_at DESC, l.seq DESC
       LIMIT 1) last
)
SELECT DISTINCT ON (peer, host)
       peer_cn,
       hostname,
       received_at AS last_received_at,
       event_time AS last_event_time,
       now() - received_at AS silent_for,
       app_name,
       class_uid,
       chain,
       seq
  FROM found
 ORDER BY peer, host, received_at DESC, seq DESC;


CREATE VIEW hostname_mismatches AS
SELECT chain, seq, received_at, peer_cn, peer_sans, peer_addr, hostname, app_name, event_time, message
  FROM ledger_rows
 WHERE (event->>'hostname_mismatch')::boolean IS TRUE;

CREATE VIEW integrity_status AS
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
      FROM ledger_rows l
     WHERE l.chain = c.chain AND l.format = 'internal' AND l.msgid = 'verify.incremental'
     ORDER BY l.seq DESC LIMIT 1
  ) v ON true
  LEFT JOIN LATERAL (
    SELECT l.received_at AS verified_at, (l.event -> 'unmapped' -> 'verify' ->> 'to_seq')::bigint AS to_seq
      FROM ledger_rows l
     WHERE l.chain = c.chain AND l.format = 'internal' AND l.msgid = 'verify.incremental'
       AND l.status_id = 1
     ORDER BY l.seq DESC LIMIT 1
  ) last_ok ON true;


DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_writer') THEN
    GRANT SELECT, INSERT ON ledger_connections TO syslog_ledger_writer;
    REVOKE UPDATE, DELETE, TRUNCATE ON ledger_connections FROM syslog_ledger_writer;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON ledger_connections, ocsf_events, ledger_rows, failed_logins, privilege_escalations, account_changes,
      source_last_event, hostname_mismatches, integrity_status TO syslog_ledger_reader;
  END IF;
END $$;
