import { describe, expect, it } from 'vitest';
import { expectShape, fromMessage, get } from './helpers.js';

describe('shadow-utils -> Account Change 3001 / Group Management 3006', () => {
  it('useradd: new user is Account Change / Create with uid and the rest in unmapped', () => {
    const n = fromMessage('useradd', 'new user: name=alice, UID=1001, GID=1001, home=/home/alice, shell=/bin/bash, from=/dev/pts/0');
    expectShape(n, { cls: 3001, activity: 1, status: 1, user: 'alice' });
    expect(get(n.event, 'user.uid')).toBe('1001');
    expect(get(n.event, 'unmapped')).toMatchObject({ gid: '1001', home: '/home/alice', shell: '/bin/bash', from: '/dev/pts/0' });
    expect(get(n.event, 'metadata.product.name')).toBe('shadow-utils');
  });

  it('useradd: failed adding user is a failed Create', () => {
    expectShape(fromMessage('useradd', "failed adding user 'bob', data deleted"), { cls: 3001, activity: 1, status: 2, user: 'bob' });
  });

  it('groupadd/useradd: new group is Group Management / Create; the per-file lines repeat it', () => {
    const n = fromMessage('groupadd', 'new group: name=developers, GID=1002');
    expectShape(n, { cls: 3006, activity: 6, status: 1, repeat: null });
    expect(get(n.event, 'group')).toEqual({ name: 'developers', uid: '1002' });
    expectShape(fromMessage('groupadd', 'group added to /etc/group: name=developers, GID=1002'), { cls: 3006, activity: 6, status: 1, repeat: 'shadow' });
    expectShape(fromMessage('groupadd', 'group added to /etc/gshadow: name=developers'), { cls: 3006, activity: 6, status: 1, repeat: 'shadow' });
    expectShape(fromMessage('useradd', 'new group: name=alice, GID=1001'), { cls: 3006, activity: 6, status: 1 });
  });

  it('userdel/groupdel: delete user and remove group', () => {
    expectShape(fromMessage('userdel', "delete user 'alice'"), { cls: 3001, activity: 6, status: 1, user: 'alice' });
    expectShape(fromMessage('userdel', 'delete user `carol\''), { cls: 3001, activity: 6, status: 1, user: 'carol' });
    expectShape(fromMessage('userdel', "removed group 'alice' owned by 'alice'"), { cls: 3006, activity: 5, status: 1, repeat: null });
    expectShape(fromMessage('userdel', "removed shadow group 'alice' owned by 'alice'"), { cls: 3006, activity: 5, status: 1, repeat: 'shadow' });
    const g = fromMessage('groupdel', "group 'developers' removed");
    expectShape(g, { cls: 3006, activity: 5, status: 1 });
    expect(get(g.event, 'group.name')).toBe('developers');
    expectShape(fromMessage('groupdel', "group 'developers' removed from /etc/gshadow"), { cls: 3006, activity: 5, status: 1, repeat: 'shadow' });
  });

  it('usermod: add to a group is Add User; a privileged group is also a privilege grant', () => {
    const plain = fromMessage('usermod', "add 'alice' to group 'developers'");
    expectShape(plain, { cls: 3006, activity: 3, status: 1, user: 'alice' });
    expect(plain.event.privileges).toBeUndefined();
    for (const g of ['sudo', 'wheel', 'adm', 'root']) {
      const n = fromMessage('usermod', `add 'alice' to group '${g}'`);
      expectShape(n, { cls: 3006, activity: 3, status: 1, user: 'alice' });
      expect(n.event.privileges, g).toEqual([g]);
    }
    expectShape(fromMessage('usermod', "add 'alice' to shadow group 'sudo'"), { cls: 3006, activity: 3, status: 1, user: 'alice', repeat: 'shadow' });
    const del = fromMessage('usermod', "delete 'alice' from group 'wheel'");
    expectShape(del, { cls: 3006, activity: 4, status: 1, user: 'alice' });
    expect(del.event.privileges).toEqual(['wheel']);
  });

  it('usermod: lock, unlock, password, rename and other changes', () => {
    expectShape(fromMessage('usermod', "lock user 'alice' password"), { cls: 3001, activity: 9, status: 1, user: 'alice' });
    expectShape(fromMessage('usermod', "unlock user 'alice' password"), { cls: 3001, activity: 2, status: 1, user: 'alice' });
    expectShape(fromMessage('usermod', "change user 'alice' password"), { cls: 3001, activity: 4, status: 1, user: 'alice' });
    const r = fromMessage('usermod', "change user name 'alice' to 'alice2'");
    expectShape(r, { cls: 3001, activity: 99, status: 1, user: 'alice2' });
    expect(r.event.activity_name).toBe('Rename');
    expectShape(fromMessage('usermod', "change user 'alice' shell from '/bin/sh' to '/bin/bash'"), { cls: 3001, activity: 99, status: 1, user: 'alice' });
  });

  it('gpasswd: user added by actor to group, with the actor', () => {
    const n = fromMessage('gpasswd', 'user bob added by root to group sudo');
    expectShape(n, { cls: 3006, activity: 3, status: 1, user: 'bob', actor: 'root' });
    expect(n.event.privileges).toEqual(['sudo']);
    expectShape(fromMessage('gpasswd', 'user bob removed by root from group docker'), { cls: 3006, activity: 4, status: 1, user: 'bob', actor: 'root' });
    const m = fromMessage('gpasswd', 'members of group wheel set by root to alice,bob');
    expectShape(m, { cls: 3006, activity: 99, status: 1, actor: 'root' });
    expect(get(m.event, 'unmapped.members')).toEqual(['alice', 'bob']);
    expect(m.event.privileges).toEqual(['wheel']);
  });

  it('passwd/chage/chfn: password changes and account updates', () => {
    expectShape(fromMessage('passwd', "password for 'alice' changed by 'root'"), { cls: 3001, activity: 4, status: 1, user: 'alice', actor: 'root' });
    expectShape(fromMessage('passwd', "password for 'alice' changed by 'alice'"), { cls: 3001, activity: 3, status: 1, user: 'alice', actor: 'alice' });
    expectShape(fromMessage('chage', 'changed password expiry for alice'), { cls: 3001, activity: 99, status: 1, user: 'alice' });
    expectShape(fromMessage('chfn', "changed user 'alice' information"), { cls: 3001, activity: 99, status: 1, user: 'alice' });
  });

  it('shadow-utils: unknown lines stay in the family (Account or Group Management / Other), never Base', () => {
    expectShape(fromMessage('useradd', "user 'alice' already exists"), { cls: 3001, activity: 99, status: 2, user: 'alice', rule: 'shadow.other' });
    expectShape(fromMessage('groupmod', 'group changed in /etc/group (group developers/1002, new name: devs)'), { cls: 3006, activity: 99, status: 0, rule: 'shadow.other' });
  });
});
