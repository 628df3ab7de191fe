import { describe, expect, it } from 'vitest';
import { expectRefsValid, Feed, loghubOpenSsh, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 10, 10, 0, 0);
const at = (s: number) => stamp(T0 + s * 1000);

/** One sshd password attempt for an invalid user as OpenSSH writes it: five lines, one attempt. */
function invalidUserAttempt(s: number, pid: number, user: string, ip: string): string[] {
  return [
    `${at(s)} bastion sshd[${pid}]: Invalid user ${user} from ${ip}`,
    `${at(s)} bastion sshd[${pid}]: input_userauth_request: invalid user ${user} [preauth]`,
    `${at(s)} bastion sshd[${pid}]: pam_unix(sshd:auth): check pass; user unknown`,
    `${at(s)} bastion sshd[${pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip} `,
    `${at(s + 2)} bastion sshd[${pid}]: Failed password for invalid user ${user} from ${ip} port ${40000 + pid % 1000} ssh2`,
  ];
}

const failed = (s: number, user: string, ip: string, pid = 7000 + s) => `${at(s)} bastion sshd[${pid}]: Failed password for ${user} from ${ip} port ${30000 + s} ssh2`;

describe('detection: brute force and password spraying', () => {
  it('brute_force_user: the 10th failed attempt for one user within 5 minutes fires, naming every attempt', async () => {
    const feed = new Feed({ brute_force: { per_source: 100 } });
    const ips = ['203.0.113.7', '203.0.113.8', '198.51.100.9'];
    for (let i = 0; i < 9; i++) expect(feed.line(failed(i * 20, 'root', ips[i % 3]!))).toEqual([]);
    const [f] = feed.line(failed(190, 'root', '203.0.113.7'));
    expect(f?.rule).toBe('brute_force_user');
    expect(f?.key).toBe('root');
    expect(f?.refs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(f?.message).toBe('10 failed logins for user "root" within 5 min (threshold 10)');
    expect(f?.event.severity_id).toBe(3);
    expect(await feed.counted('brute_force_user')).toBe(1);
    expectRefsValid(feed);
  });

  it('brute_force_source: counts attempts, not the five lines each invalid-user attempt writes', () => {
    const feed = new Feed({ brute_force: { per_user: 100, spraying_users: 100 } });
    const ip = '198.51.100.23';
    for (let i = 0; i < 9; i++) expect(feed.lines(invalidUserAttempt(i * 10, 9000 + i, `user${i}`, ip))).toEqual([]);
    const found = feed.lines(invalidUserAttempt(95, 9100, 'oracle', ip));
    expect(found.map((f) => f.rule)).toEqual(['brute_force_source']);
    // The refs are the ten `Failed password` lines (every fifth row), not the repeats.
    expect(found[0]!.refs.map((r) => r.seq)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
  });

  it('brute_force: "message repeated N times" counts N attempts', () => {
    const feed = new Feed({ brute_force: { per_source: 100 } });
    feed.line(failed(0, 'root', '5.36.59.76', 24227));
    feed.line(`${at(5)} bastion sshd[24227]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]`);
    expect(feed.findings).toEqual([]);
    const [f] = feed.line(`${at(20)} bastion sshd[24227]: message repeated 4 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]`);
    expect(f?.rule).toBe('brute_force_user');
    expect(f?.message).toContain('10 failed logins');
    expect(f?.refs.map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('brute_force: near misses do not fire (9 in the window; 10 spread over more than 5 minutes)', () => {
    const feed = new Feed();
    for (let i = 0; i < 9; i++) feed.line(failed(i * 30, 'alice', '192.0.2.50'));
    expect(feed.findings).toEqual([]);
    const slow = new Feed();
    for (let i = 0; i < 12; i++) slow.line(failed(i * 40, 'bob', '192.0.2.51'));
    expect(slow.findings).toEqual([]);
    // Successful logins and session lines are not failures.
    const ok = new Feed();
    for (let i = 0; i < 12; i++) ok.line(`${at(i)} bastion sshd[${500 + i}]: Accepted publickey for carol from 192.0.2.52 port ${50000 + i} ssh2: ED25519 SHA256:x`);
    expect(ok.findings).toEqual([]);
  });

  it('brute_force: one finding per episode; a cool-down without triggers ends it (with a summary), then it re-arms', () => {
    const feed = new Feed({ brute_force: { per_user: 1000 } });
    for (let i = 0; i < 40; i++) feed.line(failed(i * 10, 'root', '203.0.113.66'));
    expect(feed.rules()).toEqual(['brute_force_source']);
    expect(feed.detector.stats.suppressed).toBe(30);
    // Still within 15 min of the last trigger (t=390 s): the same episode (one more trigger: the window reaches 10 at t=1009).
    for (let i = 0; i < 10; i++) feed.line(failed(1000 + i, 'root', '203.0.113.66'));
    expect(feed.rules()).toEqual(['brute_force_source']);
    // 15 min after the last trigger: the episode is over (its summary), a new one opens (its finding).
    for (let i = 0; i < 10; i++) feed.line(failed(1009 + 900 + i, 'root', '203.0.113.66'));
    expect(feed.rules()).toEqual(['brute_force_source', 'brute_force_source', 'brute_force_source']);
    const summary = feed.findings[1]!.event.unmapped as { syslog_ledger_detection: { episode: Record<string, unknown> } };
    expect(summary.syslog_ledger_detection.episode).toMatchObject({ summary: true, open: false, triggers: 32 });
  });

  it('password_spraying: one source failing for 5 different users within 10 minutes', () => {
    const feed = new Feed();
    const users = ['webmaster', 'test9', 'chen', 'oracle', 'postgres'];
    users.slice(0, 4).forEach((u, i) => feed.lines(invalidUserAttempt(i * 60, 1000 + i, u, '173.234.31.186')));
    expect(feed.findings).toEqual([]);
    const found = feed.lines(invalidUserAttempt(300, 1004, 'postgres', '173.234.31.186'));
    expect(found.map((f) => f.rule)).toEqual(['password_spraying']);
    expect(found[0]!.event.unmapped).toMatchObject({ syslog_ledger_detection: { users } });
    // Near miss: the same five users over 25 minutes.
    const slow = new Feed();
    users.forEach((u, i) => slow.lines(invalidUserAttempt(i * 300, 2000 + i, u, '173.234.31.187')));
    expect(slow.findings).toEqual([]);
    // Near miss: five users, five sources.
    const spread = new Feed();
    users.forEach((u, i) => spread.lines(invalidUserAttempt(i * 30, 3000 + i, u, `173.234.31.${190 + i}`)));
    expect(spread.findings).toEqual([]);
  });

  it.skipIf(loghubOpenSsh() === null)('brute force on real sshd logs (loghub OpenSSH sample, read from ../shared)', () => {
    const feed = new Feed();
    feed.lines(loghubOpenSsh()!);
    const keys = new Set(feed.findings.map((f) => `${f.rule} ${f.key}`));
    // The heaviest sources of the sample are found; one that tried a few times in hours is not.
    expect(keys).toContain('brute_force_source 183.62.140.253');
    expect(keys).toContain('brute_force_source 187.141.143.180');
    expect(keys).toContain('password_spraying 183.62.140.253');
    expect([...keys].some((k) => k.endsWith(' 52.80.34.196'))).toBe(false);
    // The one successful login of the sample came from a source with no failures.
    expect(feed.rules()).not.toContain('success_after_failures');
    expectRefsValid(feed);
    for (const f of feed.findings) {
      for (const r of f.refs) {
        const e = feed.events.get(r.seq)!;
        expect(e.class_uid).toBe(3002);
        expect(e.status_id).toBe(2);
        expect((e.unmapped as Record<string, unknown>).repeat_of).toBeUndefined();
      }
    }
  });
});
