import { describe, expect, it } from 'vitest';
import { expectShape, fromMessage, get } from './helpers.js';

const sshd = (msg: string, pid = '2201') => fromMessage('sshd', msg, { pid });

describe('sshd -> Authentication 3002', () => {
  it('sshd: Accepted password is a successful remote interactive logon', () => {
    const n = sshd('Accepted password for alice from 198.51.100.7 port 50022 ssh2');
    expectShape(n, { cls: 3002, activity: 1, status: 1, user: 'alice', ip: '198.51.100.7', rule: 'sshd.accepted', repeat: null });
    expect(get(n.event, 'src_endpoint.port')).toBe(50022);
    expect(n.event.auth_protocol).toBe('password');
    expect(n.event.auth_protocol_id).toBe(99);
    expect(n.event.is_remote).toBe(true);
    expect(n.event.logon_type_id).toBe(10);
    expect(get(n.event, 'service.name')).toBe('sshd');
    expect(get(n.event, 'metadata.product.name')).toBe('OpenSSH');
  });

  it('sshd: Accepted publickey keeps the key signature in unmapped', () => {
    const n = sshd('Accepted publickey for deploy from 2001:db8::17 port 41000 ssh2: ED25519 SHA256:q9yFzV3zvI4B6f0m');
    expectShape(n, { cls: 3002, activity: 1, status: 1, user: 'deploy', ip: '2001:db8::17' });
    expect(get(n.event, 'unmapped.ssh_signature')).toBe('ED25519 SHA256:q9yFzV3zvI4B6f0m');
    expect(n.event.auth_protocol).toBe('publickey');
  });

  it('sshd: Failed password is the primary record of a failed attempt', () => {
    expectShape(sshd('Failed password for root from 203.0.113.9 port 4022 ssh2'), {
      cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', rule: 'sshd.failed', repeat: null,
    });
  });

  it('sshd: Failed password for invalid user strips the prefix from the user name', () => {
    const n = sshd('Failed password for invalid user oracle from 203.0.113.9 port 4023 ssh2');
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'oracle', ip: '203.0.113.9', repeat: null });
    expect(n.event.status_detail).toBe('Failed password for invalid user');
  });

  it('sshd: user names with spaces are kept whole', () => {
    expectShape(sshd('Failed none for invalid user  0101 from 203.0.113.9 port 4024 ssh2'), { cls: 3002, activity: 1, status: 2, user: ' 0101' });
  });

  it('sshd: Invalid user and input_userauth_request repeat the attempt', () => {
    expectShape(sshd('Invalid user admin from 203.0.113.9'), { cls: 3002, activity: 1, status: 2, user: 'admin', ip: '203.0.113.9', repeat: 'sshd' });
    expectShape(sshd('Invalid user admin from 203.0.113.9 port 5566'), { cls: 3002, activity: 1, status: 2, user: 'admin', ip: '203.0.113.9', repeat: 'sshd' });
    expectShape(sshd('input_userauth_request: invalid user admin [preauth]'), { cls: 3002, activity: 1, status: 2, user: 'admin', repeat: 'sshd' });
    expectShape(sshd('Illegal user guest from 192.0.2.50'), { cls: 3002, activity: 1, status: 2, user: 'guest', ip: '192.0.2.50', repeat: 'sshd' });
  });

  it('sshd: maximum authentication attempts and Too many authentication failures repeat', () => {
    expectShape(sshd('error: maximum authentication attempts exceeded for root from 203.0.113.9 port 34100 ssh2 [preauth]'), {
      cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', repeat: 'sshd',
    });
    expectShape(sshd('Disconnecting: Too many authentication failures for admin [preauth]'), { cls: 3002, activity: 1, status: 2, user: 'admin', repeat: 'sshd' });
    expectShape(sshd('Disconnecting authenticating user root 203.0.113.9 port 34100: Too many authentication failures [preauth]'), {
      cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', repeat: 'sshd',
    });
  });

  it('sshd: PAM summaries and PAM errors repeat the attempt', () => {
    expectShape(sshd('PAM 4 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root'), {
      cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', repeat: 'sshd',
    });
    expectShape(sshd('PAM service(sshd) ignoring max retries; 6 > 3'), { cls: 3002, activity: 1, status: 2, user: null, repeat: 'sshd' });
    expectShape(sshd('error: PAM: Authentication failure for illegal user bob from 198.51.100.2'), { cls: 3002, activity: 1, status: 2, user: 'bob', ip: '198.51.100.2', repeat: 'sshd' });
  });

  it('sshd: POSSIBLE BREAK-IN ATTEMPT is a failed reverse-mapping check with the source', () => {
    const a = sshd('reverse mapping checking getaddrinfo for host.example.com [198.51.100.44] failed - POSSIBLE BREAK-IN ATTEMPT!');
    expectShape(a, { cls: 3002, activity: 99, status: 2, user: null, ip: '198.51.100.44', repeat: null });
    expect(a.event.activity_name).toBe('Reverse Mapping Check');
    expect(get(a.event, 'src_endpoint.hostname')).toBe('host.example.com');
    const b = sshd('Address 198.51.100.45 maps to scan.example.org, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!');
    expectShape(b, { cls: 3002, activity: 99, status: 2, ip: '198.51.100.45' });
  });

  it('sshd: disconnects: after logon a Logoff, before it a preauth Disconnect, code 14 a failure repeat', () => {
    expectShape(sshd('Received disconnect from 198.51.100.7 port 50022:11: disconnected by user'), { cls: 3002, activity: 2, status: 1, ip: '198.51.100.7' });
    expectShape(sshd('Disconnected from user alice 198.51.100.7 port 50022'), { cls: 3002, activity: 2, status: 1, user: 'alice', ip: '198.51.100.7' });
    const pre = sshd('Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]');
    expectShape(pre, { cls: 3002, activity: 99, status: 0, ip: '203.0.113.9', repeat: null });
    expect(pre.event.activity_name).toBe('Disconnect');
    expectShape(sshd('error: Received disconnect from 203.0.113.9: 14: No more user authentication methods available. [preauth]'), {
      cls: 3002, activity: 1, status: 2, ip: '203.0.113.9', repeat: 'sshd',
    });
    expectShape(sshd('Connection closed by 203.0.113.9 [preauth]'), { cls: 3002, activity: 99, status: 0, ip: '203.0.113.9' });
    expectShape(sshd('Connection closed by authenticating user root 203.0.113.9 port 4410 [preauth]'), { cls: 3002, activity: 99, status: 0, user: 'root', ip: '203.0.113.9' });
    expectShape(sshd('Disconnected from invalid user test 203.0.113.9 port 4411 [preauth]'), { cls: 3002, activity: 99, status: 0, user: 'test', ip: '203.0.113.9' });
  });

  it('sshd: connection probes are Connect activities with the source', () => {
    expectShape(sshd('Did not receive identification string from 203.0.113.77 port 61000'), { cls: 3002, activity: 99, status: 2, ip: '203.0.113.77' });
    expectShape(sshd("Bad protocol version identification 'GET / HTTP/1.1' from 203.0.113.78 port 3533"), { cls: 3002, activity: 99, status: 2, ip: '203.0.113.78' });
    expectShape(sshd('Unable to negotiate with 203.0.113.79 port 3579: no matching cipher found. Their offer: 3des-cbc [preauth]'), { cls: 3002, activity: 99, status: 2, ip: '203.0.113.79' });
    expectShape(sshd('refused connect from scanner.example.net (203.0.113.80)'), { cls: 3002, activity: 99, status: 2, ip: '203.0.113.80' });
    const c = sshd('Connection from 198.51.100.7 port 50022 on 192.0.2.1 port 22 rdomain ""');
    expectShape(c, { cls: 3002, activity: 99, status: 0, ip: '198.51.100.7' });
    expect(get(c.event, 'dst_endpoint')).toEqual({ ip: '192.0.2.1', port: 22 });
  });

  it('sshd: message repeated N times counts N attempts on one line', () => {
    const n = sshd('message repeated 5 times: [ Failed password for root from 203.0.113.9 port 4022 ssh2]');
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9', repeat: null, count: 5 });
  });

  it('sshd: daemon start, stop and bind failures are Application Lifecycle', () => {
    expectShape(sshd('Server listening on 0.0.0.0 port 22.'), { cls: 6002, activity: 3, status: 1 });
    expectShape(sshd('Received signal 15; terminating.'), { cls: 6002, activity: 4, status: 1 });
    expectShape(sshd('error: Bind to port 22 on 0.0.0.0 failed: Address already in use.'), { cls: 6002, activity: 3, status: 2 });
  });

  it('sshd: OpenSSH 9.8 sshd-session lines map like sshd', () => {
    expectShape(fromMessage('sshd-session', 'Failed publickey for git from 198.51.100.3 port 2222 ssh2: RSA SHA256:x'), { cls: 3002, activity: 1, status: 2, user: 'git', ip: '198.51.100.3' });
  });

  it('sshd: an unrecognised line stays Authentication / Other, failure for error: and fatal:', () => {
    const n = sshd('fatal: mm_request_receive: read: Connection reset by peer');
    expectShape(n, { cls: 3002, activity: 99, status: 2, rule: 'sshd.other' });
    expectShape(sshd('debug1: attempt 2 failures 2'), { cls: 3002, activity: 99, status: 0, user: null });
  });

  it('sshd: correlation_uid groups the lines of one connection, whatever the tag form', () => {
    const a = fromMessage('sshd', 'Failed password for root from 203.0.113.9 port 1 ssh2', { pid: '77', host: 'h' });
    const b = fromMessage('sshd(pam_unix)', 'authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root', { pid: '77', host: 'h' });
    expect(get(a.event, 'metadata.correlation_uid')).toBe('h:sshd[77]');
    expect(get(b.event, 'metadata.correlation_uid')).toBe('h:sshd[77]');
  });
});

describe('dropbear', () => {
  it('dropbear: bad password, nonexistent user and success', () => {
    expectShape(fromMessage('dropbear', "Bad password attempt for 'root' from 203.0.113.5:48629"), { cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.5' });
    expectShape(fromMessage('dropbear', 'Login attempt for nonexistent user from 203.0.113.5:4328'), { cls: 3002, activity: 1, status: 2, user: null, ip: '203.0.113.5' });
    expectShape(fromMessage('dropbear', "Pubkey auth succeeded for 'root' with key md5 78:d6:41 from 10.0.0.41:51737"), { cls: 3002, activity: 1, status: 1, user: 'root', ip: '10.0.0.41' });
    expectShape(fromMessage('dropbear', "Exit before auth (user 'root', 10 fails): Max auth tries reached - user 'root' from 203.0.113.5:51000"), {
      cls: 3002, activity: 1, status: 2, user: 'root', repeat: 'dropbear',
    });
  });
});
