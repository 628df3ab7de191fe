import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectShape, fromLine, fromMessage, get, type Shape } from './helpers.js';

const AUDIT = readFileSync(new URL('../fixtures/real/go-libaudit-auditd.log', import.meta.url), 'utf8').split('\n');
/** Line n (1-based) of the Apache-licensed go-libaudit record file, as a bare file line over syslog. */
const line = (n: number) => fromLine(AUDIT[n - 1]!);

describe('auditd records (real go-libaudit lines)', () => {
  const cases: Array<[number, string, Shape]> = [
    [16, 'USER_LOGIN failed sshd login for root', { cls: 3002, activity: 1, status: 2, user: 'root', ip: '46.160.144.250', repeat: 'auditd' }],
    [67, 'USER_LOGIN with hex acct "(invalid user)"', { cls: 3002, activity: 1, status: 2, user: null, ip: '179.38.151.221', repeat: 'auditd' }],
    [68, 'USER_LOGIN success counts the logon', { cls: 3002, activity: 1, status: 1, user: null, actor: null, ip: '72.83.230.100', repeat: null }],
    [17, 'USER_LOGOUT', { cls: 3002, activity: 2, status: 1, repeat: null }],
    [88, 'USER_AUTH by /bin/su is an Account Switch', { cls: 3002, activity: 7, status: 1, user: 'root', repeat: null }],
    [153, 'USER_AUTH pubkey_auth for sshd repeats the USER_LOGIN', { cls: 3002, activity: 1, status: 1, user: 'andrew_kroh', ip: '96.241.146.97', repeat: 'auditd' }],
    [152, 'USER_ACCT success repeats', { cls: 3002, activity: 1, status: 1, user: 'andrew_kroh', repeat: 'auditd' }],
    [91, 'USER_ERR bad_ident', { cls: 3002, activity: 1, status: 2, user: null, ip: '185.56.82.22', repeat: 'auditd' }],
    [59, 'USER_START sshd session', { cls: 3002, activity: 1, status: 1, user: 'andrew_kroh', ip: '72.83.230.100', repeat: 'auditd' }],
    [89, 'USER_START cron session counts', { cls: 3002, activity: 1, status: 1, user: 'root', repeat: null }],
    [60, 'USER_END cron session', { cls: 3002, activity: 2, status: 1, user: 'root', repeat: null }],
    [90, 'CRED_ACQ', { cls: 3002, activity: 1, status: 1, user: 'root', repeat: 'auditd' }],
    [176, 'old-format USER_ACCT (acct=root :)', { cls: 3002, activity: 1, status: 1, user: 'root' }],
    [179, 'old-format USER_START with (hostname=?, ...)', { cls: 3002, activity: 1, status: 1, user: 'root' }],
    [86, 'USER_CMD', { cls: 1007, activity: 1, status: 1, rule: 'auditd.user_cmd' }],
    [127, 'ADD_USER', { cls: 3001, activity: 1, status: 1 }],
    [126, 'ADD_GROUP', { cls: 3006, activity: 6, status: 1 }],
    [138, 'GRP_MGMT add-shadow-group repeats the ADD_GROUP', { cls: 3006, activity: 6, status: 1, repeat: 'auditd' }],
    [95, 'USER_CHAUTHTOK failed', { cls: 3001, activity: 3, status: 2, user: 'akroh' }],
  ];
  for (const [n, what, shape] of cases) {
    it(`auditd line ${n}: ${what}`, () => expectShape(line(n), shape));
  }

  it('auditd: the audit stamp is the correlation id and, without a syslog timestamp, the event time', () => {
    const n = line(16);
    expect(get(n.event, 'metadata.correlation_uid')).toBe('1493046015.752:42120');
    expect(get(n.event, 'unmapped.audit_type')).toBe('USER_LOGIN');
    if (n.parsed.syslog.timestamp === null) expect(n.event.time).toBe(1493046015752);
  });

  it('auditd: hex-encoded cmd= and acct= are decoded', () => {
    const cmd = line(154);
    expect(get(cmd.event, 'process.cmd_line')).toBe('./metricbeat -c mb.dev.yml');
    expect(get(cmd.event, 'process.working_directory')).toBe('/home/andrew_kroh');
    expect(get(cmd.event, 'actor.user.uid')).toBe('1000');
    const invalid = line(67);
    expect(invalid.event.status_detail).toBe('Invalid user');
    expect(get(invalid.event, 'unmapped.audit.acct')).toBe('(invalid user)');
  });

  it('auditd: ADD_GROUP names the group from acct=', () => {
    expect(get(line(196).event, 'group.name')).toBe('frodo');
    expect(get(line(126).event, 'group.uid')).toBe('1000');
  });

  it('auditd: SYSCALL execve is a Launch, other calls Kernel Activity / Invoke; EXECVE/PATH/CWD repeat', () => {
    const exec = AUDIT.findIndex((l) => l.includes('syscall=59 ') && l.includes('comm="uname"')) + 1;
    const e = line(exec);
    expectShape(e, { cls: 1007, activity: 1, status: 1, repeat: null });
    expect(get(e.event, 'process.name')).toBe('uname');
    const k = line(4);
    expectShape(k, { cls: 1003, activity: 4, status: 1 });
    expect(get(k.event, 'kernel.name')).toBe('adjtimex');
    const args = line(exec + 1);
    expectShape(args, { cls: 1007, activity: 1, status: 0, repeat: 'auditd' });
    expect(get(args.event, 'process.cmd_line')).toBe('uname -a');
    expectShape(line(exec + 2), { cls: 1007, activity: 99, status: 0, repeat: 'auditd' });
    expectShape(line(exec + 3), { cls: 1001, activity: 99, status: 0, repeat: 'auditd' });
  });

  it('auditd: SOCKADDR is decoded into an endpoint', () => {
    const n = line(52);
    expectShape(n, { cls: 4001, activity: 99, status: 0, repeat: 'auditd' });
    expect(get(n.event, 'dst_endpoint')).toEqual({ ip: '72.83.230.100', port: 58140 });
  });

  it('auditd: PROCTITLE hex with NUL separators becomes a command line', () => {
    expect(get(line(5).event, 'process.cmd_line')).toBe('chronyd -q');
  });

  it('auditd: every record of the file maps to a specific class', () => {
    for (let i = 1; i <= AUDIT.length; i++) {
      if (AUDIT[i - 1] === '') continue;
      const n = line(i);
      expect(n.event.class_uid, `line ${i}: ${AUDIT[i - 1]}`).not.toBe(0);
    }
  });
});

describe('auditd records in other carriers', () => {
  it('auditd: audisp-syslog with node= names the device when the syslog header has no host', () => {
    const n = fromMessage('audisp-syslog', 'node=db-02 type=USER_LOGIN msg=audit(1717200000.123:77): pid=1 uid=0 auid=1000 ses=3 msg=\'op=login acct="alice" exe="/usr/sbin/sshd" hostname=? addr=198.51.100.4 terminal=ssh res=success\'', { host: null });
    expectShape(n, { cls: 3002, activity: 1, status: 1, user: 'alice', ip: '198.51.100.4' });
    expect(n.columns.hostname).toBe('db-02');
  });

  it('auditd: the kernel form "audit: type=NNNN audit(...)" with numeric types', () => {
    const n = fromMessage('kernel', 'audit: type=1112 audit(1717200000.500:80): pid=1 uid=0 auid=1000 ses=3 msg=\'op=login acct="bob" exe="/usr/bin/login" hostname=? addr=? terminal=tty1 res=failed\'');
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'bob', repeat: 'auditd' });
    expectShape(fromMessage('kernel', 'e1000e: eth0 NIC Link is Up'), { cls: 0, activity: 0, status: 0 });
  });

  it('auditd: enriched fields (after 0x1D) give the login user name', () => {
    const n = fromMessage('auditd', 'type=USER_CMD msg=audit(1717200000.900:81): pid=9 uid=1000 auid=1000 ses=4 msg=\'cwd="/srv" cmd=2F62696E2F6C73202D6C terminal=pts/0 res=success\'\x1dUID="alice" AUID="alice"');
    expectShape(n, { cls: 1007, activity: 1, status: 1, actor: 'alice' });
    expect(get(n.event, 'process.cmd_line')).toBe('/bin/ls -l');
  });

  it('auditd: USER_MGMT adding to a privileged group is a group grant', () => {
    const n = fromMessage('auditd', 'type=USER_MGMT msg=audit(1717200001.000:82): pid=9 uid=0 auid=1000 ses=4 msg=\'op=add-user-to-group grp="wheel" acct="carol" exe="/usr/sbin/usermod" hostname=? addr=? terminal=pts/0 res=success\'');
    expectShape(n, { cls: 3006, activity: 3, status: 1, user: 'carol' });
    expect(n.event.privileges).toEqual(['wheel']);
  });
});
