import { describe, expect, it } from 'vitest';
import { expectRefsValid, Feed, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 10, 10, 0, 0);
const at = (s: number) => stamp(T0 + s * 1000);
const sudo = (s: number, user: string, runAs = 'root', cmd = '/usr/bin/systemctl restart nginx') => `${at(s)} web-1 sudo:    ${user} : TTY=pts/0 ; PWD=/home/${user} ; USER=${runAs} ; COMMAND=${cmd}`;
const sudoSession = (s: number, user: string) => `${at(s)} web-1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by ${user}(uid=1000)`;
const su = (s: number, user: string, target = 'root') => `${at(s)} web-1 su[${4000 + s}]: (to ${target}) ${user} on pts/1`;
const DAY = 86_400;

describe('detection: privilege escalation', () => {
  it('new_root_user: the first sudo to root by a user fires once; sudo and its PAM session line are one escalation', () => {
    const feed = new Feed();
    const found = feed.lines([sudo(0, 'alice'), sudoSession(0, 'alice')]);
    expect(found.map((f) => f.rule)).toEqual(['new_root_user']);
    expect(found[0]!.key).toBe('alice');
    expect(found[0]!.refs).toEqual([{ chain: 'c', seq: 1 }]);
    expect(found[0]!.message).toBe('user "alice" became root (sudo /usr/bin/systemctl restart nginx) on web-1; not seen doing so in the learning window');
    // Seen now: later escalations within the learning window are quiet.
    expect(feed.lines([sudo(3600, 'alice'), su(7200, 'alice'), sudo(20 * DAY, 'alice')])).toEqual([]);
    expectRefsValid(feed);
  });

  it('new_root_user: su to root counts; a user seen again after the learning window fires again', () => {
    const feed = new Feed({ learning_window: '30d' });
    expect(feed.line(su(0, 'bob')).map((f) => f.rule)).toEqual(['new_root_user']);
    expect(feed.line(su(31 * DAY, 'bob'), { receivedMs: T0 + 31 * DAY * 1000 }).map((f) => f.rule)).toEqual(['new_root_user']);
  });

  it('new_root_user: near misses (sudo to another user, root itself, a failed su, before warm-up)', () => {
    const feed = new Feed();
    feed.lines([
      sudo(0, 'alice', 'postgres', '/usr/bin/psql'),
      sudo(1, 'root'),
      `${at(2)} web-1 su[99]: FAILED SU (to root) mallory on pts/3`,
      `${at(3)} web-1 sudo:  mallory : 3 incorrect password attempts ; TTY=pts/3 ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash`,
    ]);
    expect(feed.findings).toEqual([]);
    // Quiet while the detector has less history than the warm-up (a fresh ledger knows nobody), then it learns.
    const cold = new Feed({ warmup: '1h' });
    cold.line(`${at(0)} web-1 sshd[1]: Accepted publickey for carol from 192.0.2.9 port 1 ssh2`);
    expect(cold.line(sudo(60, 'carol'))).toEqual([]);
    expect(cold.line(sudo(7200, 'carol'))).toEqual([]);
    expect(cold.line(sudo(7300, 'dave')).map((f) => f.rule)).toEqual(['new_root_user']);
  });

  it('privileged_group_add: usermod/gpasswd adding a user to sudo, wheel or adm fires every time', () => {
    const feed = new Feed();
    const found = feed.lines([
      `${at(0)} web-1 usermod[812]: add 'mallory' to group 'sudo'`,
      `${at(0)} web-1 usermod[812]: add 'mallory' to shadow group 'sudo'`,
      `${at(60)} web-1 gpasswd[901]: user eve added by root to group wheel`,
      `${at(120)} web-1 gpasswd[902]: members of group adm set by root to syslog,eve`,
    ]);
    expect(found.map((f) => f.rule)).toEqual(['privileged_group_add', 'privileged_group_add', 'privileged_group_add']);
    expect(found[0]!.refs).toEqual([{ chain: 'c', seq: 1 }]);
    expect(found[0]!.message).toBe('"mallory" added to group sudo on web-1');
    expect(found[1]!.message).toBe('"eve" added to group wheel on web-1 by root');
    expect(found[2]!.message).toBe('"syslog", "eve" added to group adm on web-1 by root');
    expect(found[0]!.event.severity_id).toBe(4);
  });

  it('privileged_group_add: near misses (an ordinary group, a removal, a new group named sudo-like)', () => {
    const feed = new Feed();
    feed.lines([
      `${at(0)} web-1 usermod[812]: add 'alice' to group 'docker'`,
      `${at(1)} web-1 gpasswd[813]: user bob removed by root from group sudo`,
      `${at(2)} web-1 groupadd[814]: new group: name=sudoers-audit, GID=1005`,
      `${at(3)} web-1 usermod[815]: delete 'carol' from group 'wheel'`,
    ]);
    expect(feed.findings).toEqual([]);
  });
});
