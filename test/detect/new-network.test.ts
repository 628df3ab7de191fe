import { describe, expect, it } from 'vitest';
import { networkOf, v4Slash24 } from '../../src/detect/network.js';
import { expectRefsValid, Feed, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 1, 8, 0, 0);
const DAY = 86_400_000;
const login = (ms: number, user: string, ip: string) => `${stamp(ms)} bastion sshd[${(ms / 1000) % 60000}]: Accepted publickey for ${user} from ${ip} port 50000 ssh2: ED25519 SHA256:k`;

describe('detection: login from a new network', () => {
  it('network: /24 for IPv4, /48 for IPv6, IPv4-mapped IPv6 as IPv4', () => {
    expect(networkOf('198.51.100.77')).toBe('198.51.100.0/24');
    expect(networkOf('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48');
    expect(networkOf('2001:db8::1')).toBe('2001:db8::/48');
    expect(networkOf('::ffff:198.51.100.77')).toBe('198.51.100.0/24');
    expect(networkOf('10.1.2.3', 16)).toBe('10.1.0.0/16');
    expect(networkOf('not-an-ip')).toBeNull();
    expect(v4Slash24('198.51.100.77')).toBe((198 * 256 + 51) * 256 + 100);
    expect(v4Slash24('198.51.100.1')).toBe(v4Slash24('198.51.100.254'));
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '::1', '1.2.3.4 ', '']) expect(v4Slash24(bad), bad).toBe(-1);
  });

  it('new_login_network: a user with history logs in from a network never seen for them', () => {
    const feed = new Feed();
    for (let d = 0; d < 3; d++) feed.line(login(T0 + d * DAY, 'alice', `198.51.100.${10 + d}`));
    expect(feed.findings).toEqual([]);
    // Another address in a known /24: quiet.
    expect(feed.line(login(T0 + 4 * DAY, 'alice', '198.51.100.200'))).toEqual([]);
    const [f] = feed.line(login(T0 + 5 * DAY, 'alice', '203.0.113.9'));
    expect(f?.rule).toBe('new_login_network');
    expect(f?.key).toBe('alice');
    expect(f?.event.unmapped).toMatchObject({ syslog_ledger_detection: { network: '203.0.113.0/24' } });
    expect(f?.event.severity_id).toBe(2);
    expect(f?.message).toBe('user "alice" logged in from 203.0.113.9 (203.0.113.0/24), a network not seen for this user in the learning window');
    expect(feed.line(login(T0 + 5 * DAY + 60_000, 'alice', '203.0.113.10'))).toEqual([]);
    expectRefsValid(feed);
  });

  it('new_login_network: a user roaming over many new networks is one finding per cool-down, not a flood', () => {
    const feed = new Feed();
    for (let d = 0; d < 3; d++) feed.line(login(T0 + d * DAY, 'erin', '198.51.100.1'));
    for (let i = 0; i < 30; i++) feed.line(login(T0 + 4 * DAY + i * 60_000, 'erin', `203.0.${i}.1`));
    expect(feed.rules()).toEqual(['new_login_network']);
    // 2 h later: the roaming episode is over (its summary: 30 triggers), and a new one opens.
    const next = feed.line(login(T0 + 4 * DAY + 2 * 3_600_000, 'erin', '192.0.2.1'));
    expect(next.map((f) => f.rule)).toEqual(['new_login_network', 'new_login_network']);
    expect(next[0]!.event.unmapped).toMatchObject({ syslog_ledger_detection: { episode: { summary: true, open: false, triggers: 30 } } });
  });

  it('new_login_network: IPv6 networks are /48', () => {
    const feed = new Feed({ new_network: { min_history: 1 } });
    feed.line(login(T0, 'bob', '2001:db8:1:1::5'));
    expect(feed.line(login(T0 + DAY, 'bob', '2001:db8:1:ffff::9'))).toEqual([]);
    expect(feed.line(login(T0 + 2 * DAY, 'bob', '2001:db8:2::9')).map((f) => (f.event.unmapped as { syslog_ledger_detection: { network: string } }).syslog_ledger_detection.network)).toEqual(['2001:db8:2::/48']);
  });

  it('new_login_network: near misses (too little history, failed logins, forgotten after the learning window is not "known")', () => {
    const feed = new Feed();
    feed.line(login(T0, 'carol', '198.51.100.1'));
    expect(feed.line(login(T0 + DAY, 'carol', '203.0.113.1'))).toEqual([]); // 1 login of history < 3
    feed.line(`${stamp(T0 + 2 * DAY)} bastion sshd[9]: Failed password for carol from 192.0.2.99 port 1 ssh2`);
    expect(feed.findings).toEqual([]);
    const old = new Feed({ learning_window: '7d' });
    for (let d = 0; d < 3; d++) old.line(login(T0 + d * 3_600_000, 'dave', '198.51.100.1'), { receivedMs: T0 + d * 3_600_000 });
    expect(old.line(login(T0 + 20 * DAY, 'dave', '198.51.100.2'), { receivedMs: T0 + 20 * DAY }).map((f) => f.rule)).toEqual(['new_login_network']);
  });
});
