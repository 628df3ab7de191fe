import { describe, expect, it } from 'vitest';
import { expectShape, fromMessage, get } from './helpers.js';

describe('pam_unix', () => {
  it('pam_unix: sshd authentication failure is a failed logon for the named user, repeating the sshd line', () => {
    const n = fromMessage('sshd', 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root');
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', rule: 'pam.auth_failure', repeat: 'sshd' });
    expect(get(n.event, 'service.name')).toBe('sshd');
    expect(get(n.event, 'unmapped.pam_module')).toBe('pam_unix');
  });

  it('pam_unix: rhost that is a host name goes to src_endpoint.hostname, not src_ip', () => {
    const n = fromMessage('sshd', 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=dsl-1.example.net  user=root');
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'root', ip: null });
    expect(get(n.event, 'src_endpoint.hostname')).toBe('dsl-1.example.net');
  });

  it('pam_unix: check pass; user unknown repeats the attempt, with no user', () => {
    expectShape(fromMessage('sshd', 'pam_unix(sshd:auth): check pass; user unknown'), { cls: 3002, activity: 1, status: 2, user: null, repeat: 'sshd' });
    expectShape(fromMessage('gdm-password', 'pam_unix(gdm-password:auth): check pass; user unknown'), { cls: 3002, activity: 1, status: 2, repeat: 'pam' });
  });

  it('pam_unix: sudo, su and login failures are the PAM record of the service line (repeat_of the service)', () => {
    expectShape(fromMessage('sudo', 'pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/1 ruser=alice rhost=  user=alice'), {
      cls: 3002, activity: 7, status: 2, user: 'alice', actor: 'alice', repeat: 'sudo',
    });
    expectShape(fromMessage('su', 'pam_unix(su:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/2 ruser=bob rhost=  user=root'), {
      cls: 3002, activity: 7, status: 2, user: 'root', actor: 'bob', repeat: 'su',
    });
    expectShape(fromMessage('login', 'pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=  user=carol'), {
      cls: 3002, activity: 1, status: 2, user: 'carol', repeat: 'login',
    });
  });

  it('pam_unix: a failure of a service that logs nothing else counts on its own', () => {
    expectShape(fromMessage('vsftpd', 'pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=anon rhost=198.51.100.20  user=ftpuser'), {
      cls: 3002, activity: 1, status: 2, user: 'ftpuser', actor: 'anon', ip: '198.51.100.20', repeat: null,
    });
  });

  it('pam_unix: sessions opened and closed for any service, with logon types', () => {
    const cron = fromMessage('CRON', 'pam_unix(cron:session): session opened for user root by (uid=0)');
    expectShape(cron, { cls: 3002, activity: 1, status: 1, user: 'root', repeat: null });
    expect(cron.event.logon_type_id).toBe(4);
    const newer = fromMessage('sudo', 'pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)');
    expectShape(newer, { cls: 3002, activity: 7, status: 1, user: 'root', actor: 'alice', repeat: 'sudo' });
    expect(newer.event.account_switch_type_id).toBe(1);
    expectShape(fromMessage('sshd', 'pam_unix(sshd:session): session opened for user alice by (uid=0)'), { cls: 3002, activity: 1, status: 1, user: 'alice', repeat: 'sshd' });
    expectShape(fromMessage('sshd', 'pam_unix(sshd:session): session closed for user alice'), { cls: 3002, activity: 2, status: 1, user: 'alice', repeat: 'sshd' });
    expectShape(fromMessage('systemd', 'pam_unix(systemd-user:session): session opened for user alice(uid=1000) by (uid=0)'), { cls: 3002, activity: 1, status: 1, user: 'alice' });
    const login = fromMessage('login', 'pam_unix(login:session): session opened for user carol by LOGIN(uid=0)');
    expectShape(login, { cls: 3002, activity: 1, status: 1, user: 'carol', actor: null });
    expect(login.event.logon_type_id).toBe(2);
  });

  it('pam_unix: the RHEL 4 forms svc(pam_unix)[pid] and "(pam_unix) text"', () => {
    expectShape(fromMessage('su(pam_unix)', 'session opened for user news by (uid=0)'), { cls: 3002, activity: 7, status: 1, user: 'news', repeat: 'su' });
    expectShape(fromMessage('su(pam_unix)', 'authentication failure; logname= uid=1342 euid=0 tty= ruser=dave rhost=  user=backup'), {
      cls: 3002, activity: 7, status: 2, user: 'backup', actor: 'dave', repeat: 'su',
    });
    expectShape(fromMessage('sshd(pam_unix)', '2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.3  user=root'), {
      cls: 3002, activity: 1, status: 2, user: 'root', ip: '198.51.100.3', repeat: 'sshd',
    });
    expectShape(fromMessage('su', '(pam_unix) session opened for user root by (uid=0)'), { cls: 3002, activity: 7, status: 1, user: 'root' });
  });

  it('pam_unix: password changed is an Account Change / Password Change; chpasswd a Password Reset', () => {
    expectShape(fromMessage('passwd', 'pam_unix(passwd:chauthtok): password changed for erin'), { cls: 3001, activity: 3, status: 1, user: 'erin' });
    expectShape(fromMessage('chpasswd', 'pam_unix(chpasswd:chauthtok): password changed for frank'), { cls: 3001, activity: 4, status: 1, user: 'frank' });
    expectShape(fromMessage('passwd', 'pam_unix(passwd:chauthtok): authentication token manipulation error'), { cls: 3001, activity: 3, status: 2 });
  });

  it('pam: other modules keep the user they name', () => {
    expectShape(fromMessage('sshd', 'pam_succeed_if(sshd:auth): requirement "uid >= 1000" not met by user "root"'), { cls: 3002, activity: 1, status: 2, user: 'root', repeat: 'sshd' });
    expectShape(fromMessage('sshd', 'pam_faillock(sshd:auth): Consecutive login failures for user grace account temporarily locked'), { cls: 3001, activity: 9, status: 1, user: 'grace' });
    expectShape(fromMessage('sshd', 'pam_systemd(sshd:session): Failed to create session: Access denied'), { cls: 3002, activity: 99, status: 2, user: null });
  });

  it('unix_chkpwd: password check failed repeats the caller PAM line', () => {
    expectShape(fromMessage('unix_chkpwd', 'password check failed for user (heidi)'), { cls: 3002, activity: 1, status: 2, user: 'heidi', repeat: 'pam' });
  });
});

describe('sudo', () => {
  it('sudo: COMMAND is a Process Activity launch by the invoker as the run-as user', () => {
    const n = fromMessage('sudo', '   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx', { pid: null });
    expectShape(n, { cls: 1007, activity: 1, status: 1, user: null, actor: 'alice', rule: 'sudo.command' });
    expect(get(n.event, 'process.user.name')).toBe('root');
    expect(get(n.event, 'process.cmd_line')).toBe('/usr/bin/systemctl restart nginx');
    expect(get(n.event, 'process.file.path')).toBe('/usr/bin/systemctl');
    expect(get(n.event, 'process.working_directory')).toBe('/home/alice');
    expect(get(n.event, 'actor.session.terminal')).toBe('pts/0');
  });

  it('sudo: a COMMAND containing " ; " is kept whole; TSID and GROUP go to unmapped', () => {
    const n = fromMessage('sudo', 'alice : TTY=pts/0 ; PWD=/ ; USER=root ; GROUP=adm ; TSID=00000A ; COMMAND=/bin/sh -c echo a ; echo b');
    expect(get(n.event, 'process.cmd_line')).toBe('/bin/sh -c echo a ; echo b');
    expect(get(n.event, 'unmapped.tsid')).toBe('00000A');
    expect(get(n.event, 'unmapped.group')).toBe('adm');
  });

  it('sudo: N incorrect password attempts is a failed Account Switch counting N attempts', () => {
    const n = fromMessage('sudo', 'bob : 3 incorrect password attempts ; TTY=pts/4 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls');
    expectShape(n, { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'bob', repeat: null, count: 3 });
    expect(n.event.status_detail).toBe('3 incorrect password attempts');
    expect(get(n.event, 'unmapped.command')).toBe('/bin/ls');
    expectShape(fromMessage('sudo', 'bob : 1 incorrect password attempt ; TTY=pts/4 ; PWD=/ ; USER=root ; COMMAND=/bin/ls'), { cls: 3002, activity: 7, status: 2, count: 1 });
  });

  it('sudo: user NOT in sudoers is a failed Authorize Session', () => {
    const n = fromMessage('sudo', 'mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash');
    expectShape(n, { cls: 3003, activity: 1, status: 2, user: 'mallory', actor: 'mallory' });
    expect(n.event.privileges).toEqual(['root']);
    expectShape(fromMessage('sudo', 'mallory : command not allowed ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash'), { cls: 3003, activity: 1, status: 2 });
  });

  it('sudo: other problems are failed account switches with the problem as status_detail', () => {
    const n = fromMessage('sudo', 'alice : a password is required ; PWD=/ ; USER=root ; COMMAND=/bin/true');
    expectShape(n, { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'alice' });
    expect(n.event.status_detail).toBe('a password is required');
  });

  it('sudo: lines of another shape stay sudo Process Activity / Other', () => {
    expectShape(fromMessage('sudo', 'unable to resolve host web-01: Name or service not known'), { cls: 1007, activity: 99, status: 2, rule: 'sudo.other' });
  });
});

describe('su', () => {
  it('su: shadow-utils success and FAILED su', () => {
    expectShape(fromMessage('su', 'Successful su for root by alice'), { cls: 3002, activity: 7, status: 1, user: 'root', actor: 'alice', repeat: null });
    expectShape(fromMessage('su', 'FAILED su for root by bob'), { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'bob', repeat: null });
    expectShape(fromMessage('su', 'Authentication failed for root'), { cls: 3002, activity: 7, status: 2, user: 'root', repeat: 'su' });
  });

  it('su: util-linux (to R) U on tty, and FAILED SU', () => {
    const ok = fromMessage('su', '(to postgres) alice on pts/3');
    expectShape(ok, { cls: 3002, activity: 7, status: 1, user: 'postgres', actor: 'alice' });
    expect(get(ok.event, 'actor.session.terminal')).toBe('pts/3');
    expectShape(fromMessage('su', 'FAILED SU (to root) bob on pts/4'), { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'bob' });
    expectShape(fromMessage('su', 'pam_authenticate: Authentication failure'), { cls: 3002, activity: 7, status: 2, repeat: 'su' });
  });

  it('su: sulog and BSD forms', () => {
    expectShape(fromMessage('su', '+ pts/4 alice-root'), { cls: 3002, activity: 7, status: 1, user: 'root', actor: 'alice' });
    expectShape(fromMessage('su', '- pts/5 web-admin-root'), { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'web-admin' });
    expectShape(fromMessage('su', 'alice to root on /dev/ttyp1'), { cls: 3002, activity: 7, status: 1, user: 'root', actor: 'alice' });
    expectShape(fromMessage('su', 'BAD SU bob to root on /dev/ttyp0'), { cls: 3002, activity: 7, status: 2, user: 'root', actor: 'bob' });
  });
});

describe('login', () => {
  it('login: FAILED LOGIN counts; ROOT LOGIN and LOGIN ON are successes', () => {
    expectShape(fromMessage('login', "FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure"), { cls: 3002, activity: 1, status: 2, user: 'root', repeat: null });
    expectShape(fromMessage('login', 'FAILED LOGIN 1 FROM 198.51.100.9 FOR ivan, Authentication failure'), { cls: 3002, activity: 1, status: 2, user: 'ivan', ip: '198.51.100.9' });
    expectShape(fromMessage('login', 'ROOT LOGIN  ON tty1'), { cls: 3002, activity: 1, status: 1, user: 'root' });
    expectShape(fromMessage('login', 'LOGIN ON tty2 BY judy'), { cls: 3002, activity: 1, status: 1, user: 'judy' });
  });
});

describe('systemd-logind', () => {
  it('systemd-logind: New session / Removed session are Logon / Logoff; systemd Started Session repeats', () => {
    const n = fromMessage('systemd-logind', 'New session 42 of user alice.');
    expectShape(n, { cls: 3002, activity: 1, status: 1, user: 'alice', repeat: null });
    expect(get(n.event, 'session.uid')).toBe('42');
    expectShape(fromMessage('systemd-logind', 'Removed session 42.'), { cls: 3002, activity: 2, status: 1, user: null });
    expectShape(fromMessage('systemd-logind', 'Session 42 logged out. Waiting for processes to exit.'), { cls: 3002, activity: 2, status: 1, repeat: 'logind' });
    expectShape(fromMessage('systemd', 'Started Session 42 of User alice.'), { cls: 3002, activity: 1, status: 1, user: 'alice', repeat: 'logind' });
  });

  it('systemd-logind: seat and power lines are not authentication: Base Event', () => {
    expectShape(fromMessage('systemd-logind', 'Watching system buttons on /dev/input/event0 (Power Button)'), { cls: 0, activity: 0, status: 0 });
    expectShape(fromMessage('systemd', 'Started Daily apt download activities.'), { cls: 0, activity: 0, status: 0 });
  });
});
