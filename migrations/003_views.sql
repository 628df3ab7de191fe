-- 003: the SQL views that answer the common audit questions over normalized events, and the
-- indexes they use. Columns and semantics: docs/ocsf.md ("Views"). Events come from
-- src/normalize (OCSF 1.7.0 classes; metadata.mapping.rule names the mapping rule).

-- Filters every view and most ad-hoc queries use: time, class+outcome, user, source address.
CREATE INDEX IF NOT EXISTS ledger_event_time_idx ON ledger (event_time);
CREATE INDEX IF NOT EXISTS ledger_class_status_idx ON ledger (class_uid, status_id, event_time);
CREATE INDEX IF NOT EXISTS ledger_user_name_idx ON ledger (user_name, event_time) WHERE user_name IS NOT NULL;
-- B-tree on inet also serves subnet tests (src_ip << '10.0.0.0/8' becomes a range scan).
CREATE INDEX IF NOT EXISTS ledger_src_ip_idx ON ledger (src_ip, event_time) WHERE src_ip IS NOT NULL;
-- failed_logins: finding the primary line of the same connection (host:program[pid]).
CREATE INDEX IF NOT EXISTS ledger_auth_failure_corr_idx
  ON ledger ((event #>> '{metadata,correlation_uid}'), received_at)
  WHERE class_uid = 3002 AND status_id = 2;
-- source_last_event: one index probe per source instead of a scan of the ledger.
CREATE INDEX IF NOT EXISTS ledger_source_idx
  ON ledger ((coalesce(peer_cn, '')), (coalesce(hostname, '')), received_at DESC, seq DESC);

-- Failed logons and account switches (Authentication 3002, activity 1 Logon or 7 Account Switch,
-- status 2 Failure): every line that is evidence of a failed attempt. One attempt is often logged
-- several times (sshd `Invalid user` + pam_unix + `Failed password`): `attempts` counts it once.
--   attempts = `count` (default 1) on a primary line (no unmapped.repeat_of);
--            = 1 on a pam_unix `authentication failure` line when no primary line of the same
--              process (metadata.correlation_uid, within 10 minutes) was received (a source that
--              ships only PAM's record of the attempt);
--            = 0 on every other repeat line.
-- So: SELECT sum(attempts) ... counts attempts; SELECT * ... shows all the evidence.
CREATE OR REPLACE VIEW failed_logins AS
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
                  FROM ledger p
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
  FROM ledger l
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
CREATE OR REPLACE VIEW privilege_escalations AS
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
  FROM ledger l
 WHERE l.class_uid = 1007
   AND l.activity_id = 1
   AND l.event #>> '{metadata,mapping,rule}' IN ('sudo.command', 'auditd.user_cmd')
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'switch', l.actor_user, l.user_name, NULL, l.event #>> '{unmapped,command}', l.status_id,
       l.event ->> 'status_detail', l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger l
 WHERE l.class_uid = 3002
   AND l.activity_id = 7
   AND l.event #> '{unmapped,repeat_of}' IS NULL
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'authorization', coalesce(l.actor_user, l.user_name), l.user_name, l.event #>> '{privileges,0}',
       l.event #>> '{unmapped,command}', l.status_id, l.event ->> 'status_detail',
       l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger l
 WHERE l.class_uid = 3003
UNION ALL
SELECT l.chain, l.seq, l.received_at, l.event_time, l.hostname, l.peer_cn,
       'group_grant', l.actor_user, l.user_name, coalesce(l.event #>> '{group,name}', l.event #>> '{privileges,0}'),
       NULL, l.status_id, l.event ->> 'status_detail', l.event #>> '{metadata,mapping,rule}', l.event ->> 'message'
  FROM ledger l
 WHERE (l.class_uid = 3006 AND l.activity_id = 3 AND l.event ? 'privileges')
    OR (l.class_uid = 3005 AND l.activity_id IN (1, 3));

-- Account and group lifecycle: Account Change 3001, Group Management 3006, User Access
-- Management 3005. Lines that restate a change already recorded (unmapped.repeat_of, e.g.
-- `group added to /etc/gshadow`) are left out; the ledger keeps them.
CREATE OR REPLACE VIEW account_changes AS
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
  FROM ledger l
 WHERE l.class_uid IN (3001, 3005, 3006)
   AND l.event #> '{unmapped,repeat_of}' IS NULL;

-- The last event from each source (authenticated peer + syslog HOSTNAME), found with one index
-- probe per source (a skip scan over ledger_source_idx), so it stays fast on a large ledger.
CREATE OR REPLACE VIEW source_last_event AS
WITH RECURSIVE sources(peer, host) AS (
  (SELECT coalesce(peer_cn, ''), coalesce(hostname, '')
     FROM ledger
    ORDER BY coalesce(peer_cn, ''), coalesce(hostname, '')
    LIMIT 1)
  UNION ALL
  SELECT nxt.peer, nxt.host
    FROM sources s
    CROSS JOIN LATERAL (
      SELECT coalesce(l.peer_cn, '') AS peer, coalesce(l.hostname, '') AS host
        FROM ledger l
       WHERE (coalesce(l.peer_cn, ''), coalesce(l.hostname, '')) > (s.peer, s.host)
       ORDER BY coalesce(l.peer_cn, ''), coalesce(l.hostname, '')
       LIMIT 1) nxt
)
SELECT last.peer_cn,
       last.hostname,
       last.received_at AS last_received_at,
       last.event_time AS last_event_time,
       now() - last.received_at AS silent_for,
       last.app_name,
       last.class_uid,
       last.chain,
       last.seq
  FROM sources s
  CROSS JOIN LATERAL (
    SELECT l.*
      FROM ledger l
     WHERE coalesce(l.peer_cn, '') = s.peer
       AND coalesce(l.hostname, '') = s.host
     ORDER BY l.received_at DESC, l.seq DESC
     LIMIT 1) last;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'syslog_ledger_reader') THEN
    GRANT SELECT ON failed_logins, privilege_escalations, account_changes, source_last_event TO syslog_ledger_reader;
  END IF;
END $$;
