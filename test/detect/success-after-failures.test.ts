import { describe, expect, it } from 'vitest';
import { expectRefsValid, Feed, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 10, 10, 0, 0);
const at = (s: number) => stamp(T0 + s * 1000);
const failed = (s: number, user: string, ip: string) => `${at(s)} bastion sshd[${8000 + s}]: Failed password for ${user} from ${ip} port ${30000 + s} ssh2`;
const accepted = (s: number, user: string, ip: string) => [
  `${at(s)} bastion sshd[${9000 + s}]: Accepted password for ${user} from ${ip} port ${31000 + s} ssh2`,
  `${at(s)} bastion sshd[${9000 + s}]: pam_unix(sshd:session): session opened for user ${user} by (uid=0)`,
];

describe('detection: success after many failures', () => {
  it('success_after_failures: a login from a source right after 5 failures from it fires, naming failures and success', async () => {
    const feed = new Feed({ brute_force: false });
    for (let i = 0; i < 5; i++) feed.line(failed(i * 30, i < 3 ? 'admin' : 'deploy', '185.190.58.151'));
    const found = feed.lines(accepted(200, 'deploy', '185.190.58.151'));
    expect(found.map((f) => f.rule)).toEqual(['success_after_failures']);
    const f = found[0]!;
    expect(f.key).toBe('185.190.58.151');
    expect(f.refs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.event.severity_id).toBe(4);
    expect(f.message).toBe('user "deploy" logged in from 185.190.58.151 after 5 failed attempts from it within 15 min');
    expect(f.event.evidences).toEqual([{ user: { name: 'deploy' }, src_endpoint: { ip: '185.190.58.151' } }]);
    expect(await feed.counted('success_after_failures')).toBe(1);
    expectRefsValid(feed);
    // The failures are spent: the next login from there is quiet.
    expect(feed.lines(accepted(260, 'deploy', '185.190.58.151'))).toEqual([]);
  });

  it('success_after_failures: near misses (4 failures; failures too long ago; failures from another source; a typo then success)', () => {
    const four = new Feed({ brute_force: false });
    for (let i = 0; i < 4; i++) four.line(failed(i * 10, 'alice', '198.51.100.7'));
    expect(four.lines(accepted(60, 'alice', '198.51.100.7'))).toEqual([]);

    const old = new Feed({ brute_force: false });
    for (let i = 0; i < 8; i++) old.line(failed(i * 10, 'alice', '198.51.100.7'));
    expect(old.lines(accepted(20 * 60, 'alice', '198.51.100.7'))).toEqual([]);

    const elsewhere = new Feed({ brute_force: false });
    for (let i = 0; i < 8; i++) elsewhere.line(failed(i * 10, 'alice', '203.0.113.9'));
    expect(elsewhere.lines(accepted(100, 'alice', '198.51.100.7'))).toEqual([]);

    const typo = new Feed({ brute_force: false });
    typo.line(failed(0, 'alice', '198.51.100.7'));
    expect(typo.lines(accepted(5, 'alice', '198.51.100.7'))).toEqual([]);
  });

  it('success_after_failures: works with the seed application audit records too', () => {
    const feed = new Feed({ brute_force: false });
    const rec = (s: number, result: string) =>
      `<134>${at(s)} app-01 app-audit: ${JSON.stringify({ timestamp: new Date(T0 + s * 1000).toISOString(), service: 'billing-api', event_type: 'authentication', user: 'alice', resource: 'auth-service', action: 'login', result, source_ip: '203.0.113.50', metadata: { mfa_used: false } })}`;
    for (let i = 0; i < 6; i++) feed.line(rec(i * 5, 'failure'));
    expect(feed.line(rec(40, 'success')).map((f) => f.rule)).toEqual(['success_after_failures']);
  });
});
