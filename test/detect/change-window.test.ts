import { describe, expect, it } from 'vitest';
import { parseCron } from '../../src/detect/cron.js';
import { parseDetectionConfig } from '../../src/detect/config.js';
import { expectRefsValid, Feed, stamp } from './helpers.js';

// Tuesday 2024-12-10.
const TUE = Date.UTC(2024, 11, 10);
const H = 3_600_000;
const useradd = (ms: number, name: string) => `${stamp(ms)} db-1 useradd[7001]: new user: name=${name}, UID=1005, GID=1005, home=/home/${name}, shell=/bin/bash, from=/dev/pts/0`;
const sudo = (ms: number, user: string) => `${stamp(ms)} db-1 sudo:    ${user} : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/apt-get upgrade`;

/** Office hours in Berlin, and Saturday night maintenance (new_root_user off: these sudo lines would be first escalations). */
const WINDOWS = { privilege_escalation: false, change_window: { windows: [{ cron: '* 9-17 * * mon-fri', time_zone: 'Europe/Berlin' }, { cron: '* 22-23 * * sat', time_zone: 'Europe/Berlin' }] } };

describe('detection: administrative actions outside the change window', () => {
  it('cron: schedules match local minutes in their time zone (DST and day-of-week names)', () => {
    const office = parseCron('* 9-17 * * mon-fri', 'Europe/Berlin');
    expect(office.matches(TUE + 8 * H)).toBe(true); // 09:00 CET
    expect(office.matches(TUE + 7 * H + 59 * 60_000)).toBe(false); // 08:59 CET
    expect(office.matches(TUE + 16 * H + 59 * 60_000)).toBe(true); // 17:59 CET
    expect(office.matches(TUE + 17 * H)).toBe(false); // 18:00 CET
    expect(office.matches(Date.UTC(2024, 6, 9, 7))).toBe(true); // Tuesday 09:00 CEST
    expect(office.matches(Date.UTC(2024, 11, 14, 10))).toBe(false); // Saturday
    const firstOfMonth = parseCron('0-30 2 1 * sun', 'UTC');
    expect(firstOfMonth.matches(Date.UTC(2024, 11, 1, 2, 15))).toBe(true); // the 1st (a Sunday too)
    expect(firstOfMonth.matches(Date.UTC(2024, 11, 8, 2, 15))).toBe(true); // a Sunday: dom OR dow
    expect(firstOfMonth.matches(Date.UTC(2024, 11, 9, 2, 15))).toBe(false);
    expect(parseCron('*/15 * * * *').matches(Date.UTC(2024, 0, 1, 0, 45))).toBe(true);
    expect(parseCron('*/15 * * * *').matches(Date.UTC(2024, 0, 1, 0, 46))).toBe(false);
    expect(() => parseCron('* 25 * * *')).toThrow(/hour "25"/);
    expect(() => parseCron('* * * *')).toThrow(/5 fields/);
    expect(() => parseDetectionConfig({ change_window: { windows: [{ cron: '* * * * *', time_zone: 'Mars/Olympus' }] } })).toThrow(/unknown time zone/);
  });

  it('outside_change_window: an account created at 03:00 Berlin time fires; one in office hours does not', () => {
    const feed = new Feed(WINDOWS);
    expect(feed.line(useradd(TUE + 10 * H, 'tempadmin'))).toEqual([]); // 11:00 CET
    const [f] = feed.line(useradd(TUE + 2 * H, 'backdoor')); // 03:00 CET
    expect(f?.rule).toBe('outside_change_window');
    expect(f?.message).toContain('Create backdoor on db-1');
    expect(f?.refs).toEqual([{ chain: 'c', seq: 2 }]);
    expectRefsValid(feed);
  });

  it('outside_change_window: sudo to root counts; one finding per actor and host per cool-down', () => {
    const feed = new Feed(WINDOWS);
    expect(feed.lines([sudo(TUE + 20 * H, 'alice'), sudo(TUE + 20 * H + 60_000, 'alice'), sudo(TUE + 20 * H + 120_000, 'bob')]).map((f) => f.key)).toEqual(['alice@db-1', 'bob@db-1']);
    // Saturday 22:30 Berlin is inside the maintenance window.
    expect(feed.line(sudo(Date.UTC(2024, 11, 14, 21, 30), 'carol'))).toEqual([]);
  });

  it('outside_change_window: near misses (no windows configured, failed changes, ignored actors, ordinary commands)', () => {
    const none = new Feed();
    none.line(useradd(TUE + 2 * H, 'x'));
    expect(none.findings).toEqual([]);
    const feed = new Feed({ privilege_escalation: false, change_window: { ...WINDOWS.change_window, ignore_actors: ['ansible*'] } });
    feed.lines([
      `${stamp(TUE + 2 * H)} db-1 useradd[7002]: failed adding user 'bad', exit code: 9`,
      `${stamp(TUE + 2 * H)} db-1 sudo:  ansible-runner : TTY=unknown ; PWD=/ ; USER=root ; COMMAND=/usr/bin/true`,
      `${stamp(TUE + 2 * H)} db-1 sshd[5]: Accepted publickey for alice from 192.0.2.1 port 1 ssh2`,
      `${stamp(TUE + 2 * H)} db-1 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=postgres ; COMMAND=/usr/bin/psql`,
    ]);
    expect(feed.findings).toEqual([]);
  });
});
