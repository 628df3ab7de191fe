import { describe, expect, it } from 'vitest';
import { parseRfc3164 } from '../../src/parsing/rfc3164.js';
import type { ParseContext, SyslogFields } from '../../src/parsing/types.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const at = (iso: string, timeZone = 'UTC'): ParseContext => ({ receivedAtMs: Date.parse(iso), timeZone, format: 'rfc3164' });
const UTC_2024 = at('2024-06-15T12:00:00Z');

function fields(frame: string, ctx: ParseContext = UTC_2024): SyslogFields {
  const r = parseRfc3164(b(frame), ctx);
  expect(r.parse_error).toBeNull();
  expect(r.format).toBe('rfc3164');
  return r.syslog;
}

describe('RFC 3164 parser', () => {
  it('rfc3164: parses the classic form <PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG', () => {
    expect(fields('<38>Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4')).toEqual({
      facility: 4,
      severity: 6,
      timestamp: '2024-06-14T15:16:01+00:00',
      timestamp_original: 'Jun 14 15:16:01',
      hostname: 'combo',
      app_name: 'sshd(pam_unix)',
      procid: '19939',
      msgid: null,
      structured_data: null,
      message: 'authentication failure; rhost=218.188.2.4',
    });
  });

  it('rfc3164: splits postfix/smtpd[1]: and plain tag: forms', () => {
    expect(fields('<22>Jun  1 10:00:00 mx postfix/smtpd[1]: connect from x')).toMatchObject({ app_name: 'postfix/smtpd', procid: '1', message: 'connect from x' });
    expect(fields('<34>Oct 11 22:14:15 mymachine su: failed')).toMatchObject({ app_name: 'su', procid: null, message: 'failed' });
    expect(fields('<13>Feb 13 20:07:26 host root[8539]:syslog message')).toMatchObject({ app_name: 'root', procid: '8539', message: 'syslog message' });
  });

  it('rfc3164: without PRI the frame gets PRI 13 (user.notice), as rsyslog', () => {
    expect(fields('Feb 18 16:01:59 serverX -- MARK --')).toMatchObject({ facility: 1, severity: 5, hostname: 'serverX', app_name: '--', message: 'MARK --' });
  });

  it('rfc3164: space-padded, single-digit and zero-padded days, upper-case months', () => {
    expect(fields('<38>Mar  7 19:06:53 h t: m').timestamp).toBe('2024-03-07T19:06:53+00:00');
    expect(fields('<38>Mar 7 19:06:53 h t: m').timestamp).toBe('2024-03-07T19:06:53+00:00');
    expect(fields('<38>Sep 01 02:03:04 h t: m').timestamp).toBe('2023-09-01T02:03:04+00:00');
    expect(fields('<6>AUG 10 22:18:24 h t: m').timestamp).toBe('2023-08-10T22:18:24+00:00');
    expect(fields('<38> Mar  7 19:06:53 h t: m').timestamp_original).toBe('Mar  7 19:06:53');
  });

  it('rfc3164: ISO timestamps keep their offset and precision up to microseconds', () => {
    expect(fields('<190>2019-02-13T21:53:30.605850+00:00 h app: start')).toMatchObject({ timestamp: '2019-02-13T21:53:30.605850+00:00', hostname: 'h', app_name: 'app' });
    expect(fields('<7>2006-10-29 02:00:00.156+01:00 h app: x').timestamp).toBe('2006-10-29T02:00:00.156+01:00');
    expect(fields('<14>2010-08-30T23:00:05Z X4711 x').timestamp).toBe('2010-08-30T23:00:05Z');
    expect(fields('<7>2006-11-10T10:43:21.15600000000 h app: x', at('2024-01-01T00:00:00Z', 'Europe/Berlin'))).toMatchObject({
      timestamp: '2006-11-10T10:43:21.156000+01:00',
      timestamp_original: '2006-11-10T10:43:21.15600000000',
    });
  });

  it('rfc3164: a year in the timestamp is used, before or after the time', () => {
    expect(fields('<38>Mar 7 2008 19:06:53: example tag: m').timestamp).toBe('2008-03-07T19:06:53+00:00');
    expect(fields('<190>Apr 15 21:28:13 2007 linksys app: msg')).toMatchObject({ timestamp: '2007-04-15T21:28:13+00:00', hostname: 'linksys', app_name: 'app' });
  });

  it('rfc3164: Cisco sequence numbers, sync markers and a colon after the time', () => {
    expect(fields('<0>91: *Oct 07 03:10:04: mydevice.com %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: bad spi')).toMatchObject({
      timestamp: '2023-10-07T03:10:04+00:00',
      hostname: 'mydevice.com',
      app_name: '%CRYPTO-4-RECVD_PKT_INV_SPI',
      message: 'decaps: bad spi',
    });
    expect(fields('<190>Apr 15 2007 21:28:13: %PIX-6-302014: Teardown TCP')).toMatchObject({ hostname: null, app_name: '%PIX-6-302014', message: 'Teardown TCP' });
  });

  it('rfc3164: no hostname when the word after the timestamp is a TAG', () => {
    expect(fields('<133>Jan 13 16:33:35 haproxy[73411]: Proxy started.')).toMatchObject({ hostname: null, app_name: 'haproxy', procid: '73411', message: 'Proxy started.' });
  });

  it('rfc3164: IPv6 hosts are hosts even when they end in a colon', () => {
    expect(fields('<0>Jan 10 01:00:00 0002:: prg0: msgtxt')).toMatchObject({ hostname: '0002::', app_name: 'prg0', message: 'msgtxt' });
    expect(fields('<0>Jan 10 01:00:00 0001:BABA:BA00:DAB::BAB0 prg0')).toMatchObject({ hostname: '0001:BABA:BA00:DAB::BAB0', app_name: 'prg0', message: '' });
  });

  it('rfc3164: AIX "Message forwarded from" names the host', () => {
    expect(fields('<38>Sep 22 10:11:56 Message forwarded from cdaix66: sshd[679960]: Accepted publickey')).toMatchObject({ hostname: 'cdaix66', app_name: 'sshd', procid: '679960', message: 'Accepted publickey' });
  });

  it('rfc3164: without a timestamp the text is the message unless it starts with TAG:', () => {
    expect(fields('complete and utter gobbledegook')).toMatchObject({ timestamp: null, hostname: null, app_name: null, message: 'complete and utter gobbledegook' });
    expect(fields('<27>xapi: [error|xen3] Connection to master died')).toMatchObject({ timestamp: null, hostname: null, app_name: 'xapi', message: '[error|xen3] Connection to master died' });
    expect(fields('<15> openvpn[2499]: PTHREAD support initialized')).toMatchObject({ app_name: 'openvpn', procid: '2499', message: 'PTHREAD support initialized' });
    expect(fields('see http://example.com now')).toMatchObject({ app_name: null, message: 'see http://example.com now' });
  });

  it('rfc3164: rsyslog structured data in front of the message is lifted, bare brackets are not', () => {
    expect(fields('<46>Jan  5 15:33:03 host rsyslogd:  [origin software="rsyslogd" swVersion="8.32.0"] start')).toMatchObject({
      app_name: 'rsyslogd',
      structured_data: { origin: { software: 'rsyslogd', swVersion: '8.32.0' } },
      message: 'start',
    });
    expect(fields('<6>Jan  5 15:33:03 host kernel: [12345.678] usb 1-1: new device')).toMatchObject({ structured_data: null, message: '[12345.678] usb 1-1: new device' });
  });

  it('rfc3164: empty message and trailing spaces', () => {
    expect(fields('<14>Aug 30 23:00:05 X4711 ')).toMatchObject({ hostname: 'X4711', app_name: null, message: '' });
    expect(fields('<14>Aug 30 23:00:05')).toMatchObject({ hostname: null, message: '' });
  });

  it('rfc3164: year inference takes the nearest year, never more than a day ahead', () => {
    expect(fields('<13>Dec 31 23:59:00 h t: m', at('2024-01-01T00:30:00Z')).timestamp).toBe('2023-12-31T23:59:00+00:00');
    expect(fields('<13>Jan  1 00:10:00 h t: m', at('2023-12-31T23:30:00Z')).timestamp).toBe('2024-01-01T00:10:00+00:00');
    expect(fields('<13>Mar 11 11:00:00 h t: m', at('2024-03-10T12:00:00Z')).timestamp).toBe('2024-03-11T11:00:00+00:00');
    expect(fields('<13>Mar 11 13:00:00 h t: m', at('2024-03-10T12:00:00Z')).timestamp).toBe('2023-03-11T13:00:00+00:00');
    expect(fields('<13>Jul  1 00:00:00 h t: m', at('2024-01-15T00:00:00Z')).timestamp).toBe('2023-07-01T00:00:00+00:00');
  });

  it('rfc3164: 29 February goes to the nearest leap year', () => {
    expect(fields('<13>Feb 29 10:00:00 h t: m', at('2025-03-01T00:00:00Z')).timestamp).toBe('2024-02-29T10:00:00+00:00');
  });

  it('rfc3164: the peer time zone gives the offset, with DST', () => {
    const berlin = (iso: string): ParseContext => at(iso, 'Europe/Berlin');
    expect(fields('<13>Jan 15 12:00:00 h t: m', berlin('2024-01-20T00:00:00Z')).timestamp).toBe('2024-01-15T12:00:00+01:00');
    expect(fields('<13>Jul 15 12:00:00 h t: m', berlin('2024-07-20T00:00:00Z')).timestamp).toBe('2024-07-15T12:00:00+02:00');
    // 02:30 does not exist on 2024-03-31 in Berlin: read with the offset before the change
    expect(fields('<13>Mar 31 02:30:00 h t: m', berlin('2024-04-01T00:00:00Z')).timestamp).toBe('2024-03-31T02:30:00+01:00');
    // 02:30 happens twice on 2024-10-27: the first (summer time) wins
    expect(fields('<13>Oct 27 02:30:00 h t: m', berlin('2024-10-28T00:00:00Z')).timestamp).toBe('2024-10-27T02:30:00+02:00');
    expect(fields('<13>Jan 15 12:00:00 h t: m', at('2024-01-20T00:00:00Z', 'America/New_York')).timestamp).toBe('2024-01-15T12:00:00-05:00');
    expect(fields('<13>Jan 15 12:00:00 h t: m', at('2024-01-20T00:00:00Z', '+05:30')).timestamp).toBe('2024-01-15T12:00:00+05:30');
  });

  it('rfc3164: year inference uses the zone: a local New Year is not a day in the future', () => {
    // 2024-01-01 00:30 in Tokyo is 2023-12-31T15:30Z, before the receive time
    expect(fields('<13>Jan  1 00:30:00 h t: m', at('2023-12-31T16:00:00Z', 'Asia/Tokyo')).timestamp).toBe('2024-01-01T00:30:00+09:00');
  });

  it('rfc3164: an unknown zone falls back to UTC', () => {
    expect(fields('<13>Jan 15 12:00:00 h t: m', at('2024-01-20T00:00:00Z', 'Mars/Olympus')).timestamp).toBe('2024-01-15T12:00:00+00:00');
  });

  it('rfc3164: an invalid timestamp leaves the text in the message', () => {
    expect(fields('<13>Feb 30 10:00:00 h t: m')).toMatchObject({ timestamp: null, message: 'Feb 30 10:00:00 h t: m' });
    expect(fields('<13>Jan 15 25:00:00 h t: m')).toMatchObject({ timestamp: null });
  });

  it('rfc3164: a malformed PRI is refused with its position', () => {
    const err = (s: string): [string | null, string | null] => {
      const r = parseRfc3164(b(s), UTC_2024);
      expect(r.format).toBe('unparsed');
      expect(r.syslog.message).toBe(s);
      return [r.parse_error, r.parse_error_reason];
    };
    expect(err('<abc>Oct 11 22:14:15 h m')).toEqual(["RFC 3164: PRI at byte 1: expected digits after '<'", 'rfc3164_pri']);
    expect(err('<192>Oct 11 22:14:15 h m')).toEqual(['RFC 3164: PRI at byte 1: PRI 192 out of range 0-191', 'rfc3164_pri']);
    expect(err('<-1>Oct 11 22:14:15 h m')).toEqual(["RFC 3164: PRI at byte 1: expected digits after '<'", 'rfc3164_pri']);
    expect(err('<1234>Oct 11 22:14:15 h m')).toEqual(['RFC 3164: PRI at byte 4: PRI longer than 3 digits', 'rfc3164_pri']);
    expect(err('<13 Oct 11 22:14:15 h m')).toEqual(["RFC 3164: PRI at byte 3: expected '>' after the PRI digits", 'rfc3164_pri']);
  });

  it('rfc3164: non-UTF-8 bytes and NUL become U+FFFD', () => {
    const frame = Buffer.concat([b('<13>Jan 15 12:00:00 h\u00f6st t: caf'), Buffer.from([0xe9, 0x00])]);
    expect(parseRfc3164(frame, UTC_2024).syslog).toMatchObject({ hostname: 'höst', app_name: 't', message: 'caf\uFFFD\uFFFD' });
  });

  it('rfc3164: an empty frame is unparsed with reason empty', () => {
    expect(parseRfc3164(b(''), UTC_2024)).toMatchObject({ format: 'unparsed', parse_error: 'RFC 3164: empty frame', parse_error_reason: 'empty' });
  });
});

describe('RFC 3164 timestamps at the edges', () => {
  it('rfc3164: year 0000 and invalid fixed offsets still give RFC 3339 text', () => {
    expect(fields('<13>0000-01-01T00:00:00 h t: m', at('2024-01-01T00:00:00Z', 'America/New_York')).timestamp).toMatch(/^0000-01-01T00:00:00[+-]\d\d:\d\d$/);
    expect(fields('<13>Jan 15 12:00:00 h t: m', at('2024-01-20T00:00:00Z', '+99:99')).timestamp).toBe('2024-01-15T12:00:00+00:00');
  });
});
