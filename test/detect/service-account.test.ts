import { describe, expect, it } from 'vitest';
import { expectRefsValid, Feed, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 10, 10, 0, 0);
const at = (s: number) => stamp(T0 + s * 1000);
const SVC = { service_accounts: { accounts: ['backup'], patterns: ['svc-*'] } };
const key = (s: number, user: string, ip: string) => `${at(s)} bastion sshd[${100 + s}]: Accepted publickey for ${user} from ${ip} port ${40000 + s} ssh2: RSA SHA256:abc`;

describe('detection: service accounts', () => {
  it('service_account_interactive: a password login by a service account fires', () => {
    const feed = new Feed(SVC);
    const [f] = feed.line(`${at(0)} bastion sshd[77]: Accepted password for svc-deploy from 10.0.5.20 port 51000 ssh2`);
    expect(f?.rule).toBe('service_account_interactive');
    expect(f?.message).toBe('service account "svc-deploy" logged in with password from 10.0.5.20 on bastion');
    expect(f?.event.severity_id).toBe(4);
    expectRefsValid(feed);
  });

  it('service_account_interactive: someone su-ing to a service account fires; root (cron) does not', () => {
    const feed = new Feed(SVC);
    expect(feed.line(`${at(0)} bastion su[88]: (to backup) alice on pts/2`).map((f) => f.message)).toEqual(['service account "backup" was switched to by "alice" (su) on bastion']);
    expect(feed.line(`${at(5)} bastion su[89]: (to backup) root on none`)).toEqual([]);
    // sudo -u without a terminal (a script) is not interactive; with one it is.
    expect(feed.line(`${at(6)} bastion sudo:  deployer : TTY=unknown ; PWD=/ ; USER=svc-web ; COMMAND=/usr/bin/true`)).toEqual([]);
    expect(feed.line(`${at(7)} bastion sudo:  deployer : TTY=pts/4 ; PWD=/ ; USER=svc-web ; COMMAND=/bin/bash`).map((f) => f.rule)).toEqual(['service_account_interactive']);
  });

  it('service_account_new_source: a key login from a source not seen for the account fires once', () => {
    const feed = new Feed(SVC);
    // The first login ever is already from a "new" source: the detector is warm (warm-up 0 here).
    expect(feed.line(key(0, 'backup', '10.0.5.20')).map((f) => f.rule)).toEqual(['service_account_new_source']);
    expect(feed.lines([key(3600, 'backup', '10.0.5.20'), key(7200, 'backup', '10.0.5.20')])).toEqual([]);
    const [f] = feed.line(key(9000, 'backup', '198.51.100.77'));
    expect(f?.rule).toBe('service_account_new_source');
    expect(f?.key).toBe('backup');
    expect(f?.message).toContain('from 198.51.100.77');
    expect(feed.line(key(9500, 'backup', '198.51.100.77'))).toEqual([]);
  });

  it('service accounts: near misses (ordinary users, no accounts configured, key logins from known sources)', () => {
    const feed = new Feed(SVC);
    feed.line(key(0, 'svc-ci', '10.0.5.21'));
    feed.findings.length = 0;
    feed.lines([
      `${at(10)} bastion sshd[1]: Accepted password for alice from 10.0.5.20 port 1 ssh2`,
      key(20, 'svc-ci', '10.0.5.21'),
      `${at(30)} bastion CRON[3]: pam_unix(cron:session): session opened for user backup(uid=34) by (uid=0)`,
    ]);
    expect(feed.findings).toEqual([]);
    const unconfigured = new Feed();
    unconfigured.line(`${at(0)} bastion sshd[77]: Accepted password for svc-deploy from 10.0.5.20 port 51000 ssh2`);
    expect(unconfigured.rules()).not.toContain('service_account_interactive');
  });
});
