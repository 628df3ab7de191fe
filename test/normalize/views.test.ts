import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase } from '../helpers/db.js';
import { fromLine, fromMessage, type Normalized } from './helpers.js';

/** Inserts normalized events as ledger rows (hash fields are placeholders: the views do not read them). */
async function insert(client: pg.Client, rows: Array<{ n: Normalized; peer?: string | null; at: string }>, start: number): Promise<void> {
  let seq = start;
  for (const { n, peer, at } of rows) {
    const c = n.columns;
    seq++;
    await client.query(
      `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_sans, peer_addr, format, raw, truncated, parse_error, syslog, event,
                           event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip, prev_hash, hash)
       VALUES ('test', $1, $2, $3, '{}', '192.0.2.10:1', $4, $5, false, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
      [
        seq, at, peer === undefined ? 'relay-01' : peer, n.parsed.format, Buffer.from(String(n.event.raw_data)), n.parsed.parse_error,
        JSON.stringify(n.parsed.syslog), JSON.stringify(n.event), c.event_time, c.hostname, c.app_name, c.class_uid, c.activity_id,
        c.status_id, c.severity_id, c.user_name, c.actor_user, c.src_ip, Buffer.alloc(32, seq % 256), Buffer.alloc(32, (seq + 1) % 256),
      ],
    );
  }
}

const at = (min: number) => new Date(Date.UTC(2024, 5, 1, 10, min)).toISOString();

describe('migrations/003_views.sql', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('sl_views');
    await migrate(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const L = (line: string) => fromLine(line);
    const rows = [
      // One SSH connection, one invalid-user attempt logged five ways, then the same failure twice more (rsyslog reduction).
      L('Jun  1 10:00:01 bastion sshd[100]: Invalid user admin from 203.0.113.9'),
      L('Jun  1 10:00:01 bastion sshd[100]: input_userauth_request: invalid user admin [preauth]'),
      L('Jun  1 10:00:01 bastion sshd[100]: pam_unix(sshd:auth): check pass; user unknown'),
      L('Jun  1 10:00:01 bastion sshd[100]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9 '),
      L('Jun  1 10:00:03 bastion sshd[100]: Failed password for invalid user admin from 203.0.113.9 port 4022 ssh2'),
      L('Jun  1 10:00:09 bastion sshd[100]: message repeated 2 times: [ Failed password for invalid user admin from 203.0.113.9 port 4022 ssh2]'),
      L('Jun  1 10:00:10 bastion sshd[100]: Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]'),
      // A RHEL 4 host that ships only PAM's records: two attempts, plus PAM's own summary.
      L('Jun  1 10:01:00 oldbox sshd(pam_unix)[200]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=198.51.100.4  user=root'),
      L('Jun  1 10:01:05 oldbox sshd(pam_unix)[200]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=198.51.100.4  user=root'),
      L('Jun  1 10:01:06 oldbox sshd(pam_unix)[200]: 1 more authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=198.51.100.4  user=root'),
      // sudo: 3 wrong passwords (counted on sudo's line), PAM's records of them have no pid.
      L('Jun  1 10:02:00 web-01 sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob'),
      L('Jun  1 10:02:09 web-01 sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls'),
      // successes and privilege use
      L('Jun  1 10:03:00 bastion sshd[300]: Accepted publickey for alice from 192.0.2.44 port 50100 ssh2: ED25519 SHA256:x'),
      L('Jun  1 10:03:05 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id'),
      L('Jun  1 10:03:06 bastion su[301]: Successful su for postgres by alice'),
      L('Jun  1 10:03:07 bastion sudo:  mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash'),
      // account changes
      L('Jun  1 10:04:00 web-01 groupadd[400]: group added to /etc/group: name=deploy, GID=1002'),
      L('Jun  1 10:04:00 web-01 groupadd[400]: group added to /etc/gshadow: name=deploy'),
      L('Jun  1 10:04:00 web-01 groupadd[400]: new group: name=deploy, GID=1002'),
      L('Jun  1 10:04:01 web-01 useradd[401]: new user: name=deploy, UID=1002, GID=1002, home=/home/deploy, shell=/bin/bash'),
      L("Jun  1 10:04:02 web-01 usermod[402]: add 'deploy' to group 'wheel'"),
      L("Jun  1 10:04:03 web-01 userdel[403]: delete user 'olduser'"),
    ];
    await insert(client, rows.map((n, i) => ({ n, at: at(i) })), 0);
    // Sources: another peer; and a frame with no host and no peer CN.
    await insert(client, [
      { n: fromMessage('myapp', 'hello', { host: 'app-01' }), peer: 'relay-02', at: at(40) },
      { n: fromMessage('myapp', 'later', { host: 'app-01' }), peer: 'relay-02', at: at(41) },
      { n: fromMessage(null, null, { host: null, format: 'unparsed', parse_error: 'x', timestamp: null }), peer: null, at: at(42) },
    ], rows.length);
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('failed_logins: one row per piece of evidence, attempts counted once per attempt', async () => {
    const { rows } = await client.query<{ hostname: string; attempts: string; lines: string }>(
      `SELECT hostname, sum(attempts)::text AS attempts, count(*)::text AS lines FROM failed_logins GROUP BY hostname ORDER BY hostname`,
    );
    expect(rows).toEqual([
      { hostname: 'bastion', attempts: '3', lines: '6' },
      { hostname: 'oldbox', attempts: '2', lines: '3' },
      { hostname: 'web-01', attempts: '3', lines: '2' },
    ]);
  });

  it('failed_logins: user, source IP (inet) and the repeat marking are queryable', async () => {
    const { rows } = await client.query(
      `SELECT user_name, host(src_ip) AS ip, rule, repeat_of, attempts FROM failed_logins
        WHERE src_ip << '203.0.113.0/24' AND repeat_of IS NULL ORDER BY seq`,
    );
    expect(rows).toEqual([
      { user_name: 'admin', ip: '203.0.113.9', rule: 'sshd.failed', repeat_of: null, attempts: 1 },
      { user_name: 'admin', ip: '203.0.113.9', rule: 'sshd.failed', repeat_of: null, attempts: 2 },
    ]);
  });

  it('privilege_escalations: sudo commands, switches, denials and privileged group grants', async () => {
    const { rows } = await client.query(`SELECT kind, actor_user, target_user, privilege, command, status_id FROM privilege_escalations ORDER BY seq`);
    expect(rows).toEqual([
      { kind: 'switch', actor_user: 'bob', target_user: 'root', privilege: null, command: '/bin/ls', status_id: 2 },
      { kind: 'command', actor_user: 'alice', target_user: 'root', privilege: null, command: '/usr/bin/id', status_id: 1 },
      { kind: 'switch', actor_user: 'alice', target_user: 'postgres', privilege: null, command: null, status_id: 1 },
      { kind: 'authorization', actor_user: 'mallory', target_user: 'mallory', privilege: 'root', command: '/bin/bash', status_id: 2 },
      { kind: 'group_grant', actor_user: null, target_user: 'deploy', privilege: 'wheel', command: null, status_id: 1 },
    ]);
  });

  it('account_changes: creations, memberships and deletions, without the lines that restate them', async () => {
    const { rows } = await client.query(`SELECT class_uid, activity_name, user_name, group_name FROM account_changes ORDER BY seq`);
    expect(rows).toEqual([
      { class_uid: 3006, activity_name: 'Create', user_name: null, group_name: 'deploy' },
      { class_uid: 3001, activity_name: 'Create', user_name: 'deploy', group_name: null },
      { class_uid: 3006, activity_name: 'Add User', user_name: 'deploy', group_name: 'wheel' },
      { class_uid: 3001, activity_name: 'Delete', user_name: 'olduser', group_name: null },
    ]);
  });

  it('source_last_event: the latest row of each peer and host, NULLs included', async () => {
    const { rows } = await client.query(`SELECT peer_cn, hostname, seq::int AS seq FROM source_last_event ORDER BY peer_cn NULLS FIRST, hostname NULLS FIRST`);
    expect(rows).toEqual([
      { peer_cn: null, hostname: null, seq: 25 },
      { peer_cn: 'relay-01', hostname: 'bastion', seq: 16 },
      { peer_cn: 'relay-01', hostname: 'oldbox', seq: 10 },
      { peer_cn: 'relay-01', hostname: 'web-01', seq: 22 },
      { peer_cn: 'relay-02', hostname: 'app-01', seq: 24 },
    ]);
  });

  it('views: the reader role may select them (also after migration 007 re-created them); migrating again changes nothing', async () => {
    const { rows } = await client.query(
      `SELECT v, has_table_privilege('syslog_ledger_reader', v, 'SELECT') AS ok
         FROM unnest(ARRAY['failed_logins','privilege_escalations','account_changes','source_last_event','hostname_mismatches']) v`,
    );
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(r.ok, r.v).toBe(true);
    const again = await migrate(db.url);
    expect(again.applied).toEqual([]);
  });

  it('views: time-bounded queries use the indexes', async () => {
    await client.query('SET enable_seqscan = off');
    const plan = (await client.query(`EXPLAIN SELECT * FROM failed_logins WHERE event_time > now() - interval '1 day'`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/Index|Bitmap/);
    const users = (await client.query(`EXPLAIN SELECT * FROM ledger WHERE user_name = 'root' AND event_time > now() - interval '1 day'`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(users).toMatch(/Index.*user_name/); // ledger_user_name_idx, or its per-partition copy
    await client.query('RESET enable_seqscan');
  });
});
