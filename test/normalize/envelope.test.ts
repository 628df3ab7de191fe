import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { liftColumns, normalize } from '../../src/normalize/index.js';
import { severityOf } from '../../src/normalize/severity.js';
import { rfc3339ToMs } from '../../src/normalize/time.js';
import { PEER, RECEIVED, expectPlainJson, expectShape, fromLine, fromMessage, get, type Shape } from './helpers.js';

describe('envelope: every event', () => {
  it('envelope: carries class, category, activity, type_uid, severity, status, time, metadata, device, peer, raw_data, message, unmapped', () => {
    const n = fromMessage('sshd', 'Failed password for root from 203.0.113.9 port 22 ssh2', { timestamp: '2024-05-31T23:59:58.123456+02:00' });
    const e = n.event;
    expect(e).toMatchObject({
      class_uid: 3002, class_name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management',
      activity_id: 1, activity_name: 'Logon', type_uid: 300201, severity_id: 3, severity: 'Medium', status_id: 2, status: 'Failure',
      time: Date.UTC(2024, 4, 31, 21, 59, 58, 123), time_dt: '2024-05-31T23:59:58.123456+02:00',
      message: 'Failed password for root from 203.0.113.9 port 22 ssh2',
      device: { hostname: 'host1' },
    });
    expect(e.metadata).toMatchObject({
      version: '1.7.0', product: { name: 'OpenSSH' }, mapping: { version: 1, rule: 'sshd.failed' }, log_name: 'authpriv',
      log_provider: 'sshd', original_time: '2024-05-31T23:59:58.123456+02:00', logged_time: RECEIVED, correlation_uid: 'host1:sshd[4242]',
      peer: { cn: PEER.cn, sans: PEER.sans, subject: PEER.subject, fingerprint: PEER.fingerprint, address: PEER.address },
    });
    expect(typeof e.raw_data).toBe('string');
    expect(e.unmapped).toBeTypeOf('object');
  });

  it('envelope: an RFC 3164 line keeps its original timestamp text; event_time keeps the exact RFC 3339 text', () => {
    const n = fromLine('Feb 21 21:54:44 localhost sshd[3402]: Accepted password for vagrant from 10.0.2.2 port 63673 ssh2');
    expect(get(n.event, 'metadata.original_time')).toBe('Feb 21 21:54:44');
    expect(n.columns.event_time).toBe(n.parsed.syslog.timestamp);
    expect(n.event.time).toBe(rfc3339ToMs(n.parsed.syslog.timestamp!));
  });

  it('envelope: microsecond and nanosecond fractions: time truncates to ms, the text is untouched', () => {
    const n = fromMessage('x', 'y', { timestamp: '2003-08-24T05:14:15.000003123-07:00' });
    expect(n.event.time).toBe(Date.UTC(2003, 7, 24, 12, 14, 15, 0));
    expect(n.columns.event_time).toBe('2003-08-24T05:14:15.000003123-07:00');
  });

  it('envelope: no timestamp -> time is the receive time and event_time is null; invalid dates never reach the column', () => {
    const a = fromMessage('x', 'y', { timestamp: null });
    expect(a.event.time).toBe(RECEIVED);
    expect(a.event.time_dt).toBeUndefined();
    expect(a.columns.event_time).toBeNull();
    for (const bad of ['2023-02-30T00:00:00Z', '2023-13-01T00:00:00Z', '2023-01-01T25:00:00Z', '2023-01-01T00:00:00', '0000-01-01T00:00:00Z', '2023-02-29T00:00:00Z']) {
      const b = fromMessage('x', 'y', { timestamp: bad });
      expect(b.columns.event_time, bad).toBeNull();
      expect(b.event.time, bad).toBe(RECEIVED);
      expect(get(b.event, 'metadata.original_time'), bad).toBe(bad);
    }
    expect(rfc3339ToMs('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(rfc3339ToMs('0099-01-01T00:00:00Z')).toBe(new Date('0099-01-01T00:00:00Z').getTime());
  });

  it('severity: one rule: syslog severity mapped, failures raised to at least Medium', () => {
    const table: Array<[number | null, number, number]> = [
      [0, 1, 6], [1, 1, 5], [2, 1, 5], [3, 1, 4], [4, 1, 3], [5, 1, 2], [6, 1, 1], [7, 1, 1], [null, 1, 0],
      [6, 2, 3], [7, 2, 3], [null, 2, 3], [5, 2, 3], [3, 2, 4], [0, 2, 6], [6, 0, 1], [6, 99, 1],
    ];
    for (const [sev, status, want] of table) expect(severityOf(sev, status), `${sev}/${status}`).toBe(want);
    expect(fromMessage('sshd', 'Failed password for root from 203.0.113.9 port 22 ssh2', { severity: 6 }).event.severity_id).toBe(3);
    expect(fromMessage('sshd', 'Accepted password for root from 203.0.113.9 port 22 ssh2', { severity: 6 }).event.severity_id).toBe(1);
    expect(fromMessage('sudo', 'bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/ls', { severity: 1 }).event.severity_id).toBe(5);
  });

  it('base event: an unknown program becomes class 0 with the syslog fields, never dropped', () => {
    const n = fromMessage('ftpd', 'connection from 198.51.100.1 () at Sun Jul 24 02:38:22 2005', { facility: 3, severity: 5 });
    expectShape(n, { cls: 0, activity: 0, status: 0, user: null, rule: 'base' });
    expect(n.event.class_name).toBe('Base Event');
    expect(get(n.event, 'unmapped.syslog')).toEqual({ facility: 3, severity: 5, app_name: 'ftpd', procid: '4242' });
    expect(get(n.event, 'metadata.product.name')).toBe('ftpd');
    expect(get(n.event, 'metadata.log_name')).toBe('daemon');
  });

  it('base event: an unparsed frame keeps its text as message and the parse error', () => {
    const raw = '<999>garbage \u0000 here';
    const n = fromMessage(null, null, { format: 'unparsed', timestamp: null, host: null, pid: null, facility: null, severity: null, parse_error: 'PRI out of range at 1', raw });
    expectShape(n, { cls: 0, activity: 0, status: 0 });
    expect(n.event.message).toBe('<999>garbage \uFFFD here');
    expect(n.event.raw_data).toBe('<999>garbage \uFFFD here');
    expect(get(n.event, 'unmapped.parse_error')).toBe('PRI out of range at 1');
    expect(n.event.device).toBeUndefined();
    expect(n.columns).toMatchObject({ event_time: null, hostname: null, app_name: null, class_uid: 0, user_name: null, src_ip: null });
  });

  it('envelope: U+0000 and lone surrogates never reach the event', () => {
    const n = fromMessage('sshd\u0000x', 'Failed password for ro\u0000ot from 203.0.113.9 port 22 ssh2 \ud800', { host: 'h\u0000', raw: 'raw \u0000 \udc00' });
    expectPlainJson(n.event);
    expect(n.columns.hostname).toBe('h\uFFFD');
    expect(n.event.message).toContain('\uFFFD');
  });

  it('envelope: a __proto__ key in a record is kept as data and never becomes a prototype', () => {
    const rec = JSON.parse('{"event_type":"authentication","user":"a","action":"login","result":"success","metadata":{"__proto__":{"polluted":true}}}') as Record<string, unknown>;
    const n = fromMessage('app', JSON.stringify(rec), { audit: rec as never });
    const meta = get(n.event, 'unmapped.app_audit.metadata') as Record<string, unknown>;
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    expect(JSON.stringify(meta)).toBe('{"__proto__":{"polluted":true}}');
    const a = fromMessage('auditd', "type=USER_AUTH msg=audit(1.000:1): pid=1 __proto__=x msg='op=PAM:authentication acct=\"u\" exe=\"/usr/sbin/sshd\" res=failed'");
    expect(JSON.stringify(get(a.event, 'unmapped.audit'))).toContain('"__proto__":"x"');
    expectPlainJson(a.event);
  });

  it('envelope: JSON frames keep their extra fields in unmapped.extra', () => {
    const n = fromMessage('myapp', 'hello', { format: 'json', extra: { cluster: 'eu-1', bad: 'x\u0000' } });
    expect(get(n.event, 'unmapped.extra')).toEqual({ cluster: 'eu-1', bad: 'x\uFFFD' });
  });

  it('envelope: a whole syslog line as MSG (rsyslog imfile Tag=auth) is mapped by its inner program', () => {
    const n = fromMessage('auth', 'Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 203.0.113.9 port 4022 ssh2', { pid: null });
    expectShape(n, { cls: 3002, activity: 1, status: 2, user: 'root', ip: '203.0.113.9' });
    expect(get(n.event, 'unmapped.embedded')).toEqual({ hostname: 'LabSZ', program: 'sshd', pid: '24200' });
    expect(get(n.event, 'metadata.correlation_uid')).toBe('LabSZ:sshd[24200]');
  });

  it('envelope: Solaris [ID n facility.level] tags and leading blanks are skipped', () => {
    expectShape(fromMessage('sshd', '[ID 800047 auth.notice] Failed none for root from 192.0.2.1 port 36942 ssh2'), { cls: 3002, activity: 1, status: 2, user: 'root', ip: '192.0.2.1' });
    expectShape(fromMessage('sshd', '  Accepted password for a from 192.0.2.1 port 1 ssh2'), { cls: 3002, activity: 1, status: 1, user: 'a' });
  });

  it('envelope: tags the parser left whole (sshd[77]:, /usr/sbin/sshd) still dispatch', () => {
    expectShape(fromMessage('sshd[77]:', 'Accepted password for a from 192.0.2.1 port 1 ssh2', { pid: null }), { cls: 3002, activity: 1, status: 1 });
    expectShape(fromMessage('/usr/sbin/sshd', 'Accepted password for a from 192.0.2.1 port 1 ssh2'), { cls: 3002, activity: 1, status: 1 });
  });

  it('normalize: the result depends only on the input (no state between calls)', () => {
    const parsed = fromMessage('sshd', 'Failed password for root from 203.0.113.9 port 22 ssh2').parsed;
    const ctx = { peer: PEER, receivedAtMs: RECEIVED, rawText: 'x' };
    const a = normalize(parsed, ctx);
    fromMessage('sudo', 'a : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls');
    expect(normalize(parsed, ctx)).toEqual(a);
  });
});

describe('lifted columns', () => {
  it('columns: src_ip only for a valid address PostgreSQL inet accepts', () => {
    const ok = fromMessage('sshd', 'Failed password for root from ::ffff:192.0.2.7 port 22 ssh2');
    expect(ok.columns.src_ip).toBe('::ffff:192.0.2.7');
    const ev = { ...ok.event, src_endpoint: { ip: 'fe80::1%eth0' } };
    expect(liftColumns(ev, ok.parsed).src_ip).toBeNull();
    expect(liftColumns({ ...ok.event, src_endpoint: { ip: '999.1.1.1' } }, ok.parsed).src_ip).toBeNull();
    expect(liftColumns({ ...ok.event, src_endpoint: { ip: 42 } }, ok.parsed).src_ip).toBeNull();
  });

  it('columns: a user name longer than 256 characters is cut in the column, kept whole in the event', () => {
    const long = 'u'.repeat(5000);
    const n = fromMessage('sshd', `Invalid user ${long} from 203.0.113.9`);
    expect(get(n.event, 'user.name')).toBe(long);
    expect(n.columns.user_name).toBe('u'.repeat(256));
    const emoji = fromMessage('sshd', `Invalid user ${'a'.repeat(255)}\u{1F600} from 203.0.113.9`);
    expect(emoji.columns.user_name).toBe('a'.repeat(255));
  });

  it('columns: class, activity, status and severity follow the event', () => {
    const n = fromMessage('sudo', 'bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls');
    expect(n.columns).toMatchObject({ class_uid: 1007, activity_id: 1, status_id: 1, severity_id: 1, user_name: null, actor_user: 'bob', app_name: 'sudo', hostname: 'host1' });
  });
});

describe('real corpus: beats system/auth test log (Apache-2.0)', () => {
  const lines = readFileSync(new URL('../fixtures/real/beats-system-auth-test.log', import.meta.url), 'utf8').split('\n').filter((l) => l !== '');
  const want: Shape[] = [
    { cls: 3002, activity: 1, status: 1, user: 'vagrant', ip: '10.0.2.2', rule: 'sshd.accepted' },
    { cls: 3002, activity: 1, status: 1, user: 'vagrant', ip: '192.168.33.1', rule: 'sshd.accepted' },
    { cls: 3002, activity: 1, status: 2, user: 'test', ip: '10.0.2.2', rule: 'sshd.invalid_user', repeat: 'sshd' },
    { cls: 3002, activity: 1, status: 2, user: 'root', ip: '216.160.83.57', rule: 'sshd.failed', repeat: null },
    { cls: 1007, activity: 1, status: 1, actor: 'vagrant', ip: null, rule: 'sudo.command' },
    { cls: 3002, activity: 99, status: 2, user: null, ip: '2.125.160.217', rule: 'sshd.no_identification' },
    { cls: 1007, activity: 1, status: 1, actor: 'vagrant', rule: 'sudo.command' },
    { cls: 3003, activity: 1, status: 2, user: 'tsg', rule: 'sudo.not_allowed' },
    { cls: 3006, activity: 6, status: 1, rule: 'shadow.new_group' },
    { cls: 3001, activity: 1, status: 1, user: 'apache', rule: 'shadow.new_user' },
  ];
  lines.forEach((line, i) => {
    it(`beats line ${i + 1}: ${line.slice(line.indexOf(' ', 16) + 1, 80)}`, () => expectShape(fromLine(line), want[i]!));
  });
  it('beats: sudo COMMAND with arguments and the useradd details', () => {
    expect(get(fromLine(lines[6]!).event, 'process.cmd_line')).toBe('/bin/cat /var/log/secure');
    expect(get(fromLine(lines[9]!).event, 'user.uid')).toBe('48');
    expect(get(fromLine(lines[8]!).event, 'group')).toEqual({ name: 'apache', uid: '48' });
  });
});
