import { describe, expect, it } from 'vitest';
import { parseRfc5424 } from '../../src/parsing/rfc5424.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function errorOf(frame: string | Buffer): [string | null, string | null] {
  const r = parseRfc5424(typeof frame === 'string' ? b(frame) : frame);
  return [r.parse_error, r.parse_error_reason];
}

describe('RFC 5424 parser', () => {
  it('rfc5424: parses the RFC 5424 §6.5 example with structured data and a BOM', () => {
    const r = parseRfc5424(
      b('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \uFEFFAn application event log entry...'),
    );
    expect(r).toEqual({
      format: 'rfc5424',
      parse_error: null,
      parse_error_reason: null,
      syslog: {
        version: 1,
        facility: 20,
        severity: 5,
        timestamp: '2003-10-11T22:14:15.003Z',
        hostname: 'mymachine.example.com',
        app_name: 'evntslog',
        procid: null,
        msgid: 'ID47',
        structured_data: { 'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' } },
        message: 'An application event log entry...',
      },
    });
  });

  it('rfc5424: keeps the timestamp text exactly, microseconds and offset included', () => {
    for (const ts of ['2003-08-24T05:14:15.000003-07:00', '2018-12-31T23:59:59.999999-23:59', '2024-02-29T00:00:00.1+14:00', '2003-10-11T22:14:15Z']) {
      expect(parseRfc5424(b(`<13>1 ${ts} h a p m -`)).syslog.timestamp).toBe(ts);
    }
  });

  it('rfc5424: NILVALUE in every header field and no MSG gives nulls', () => {
    const r = parseRfc5424(b('<0>1 - - - - - -'));
    expect(r.format).toBe('rfc5424');
    expect(r.syslog).toMatchObject({ facility: 0, severity: 0, timestamp: null, hostname: null, app_name: null, procid: null, msgid: null, structured_data: null, message: null });
  });

  it('rfc5424: an empty MSG after SP is null, a BOM-only MSG is the empty string', () => {
    expect(parseRfc5424(b('<13>1 - - - - - - ')).syslog.message).toBeNull();
    expect(parseRfc5424(b('<13>1 - - - - - - \uFEFF')).syslog.message).toBe('');
  });

  it('rfc5424: accepts fields at their maximum length and refuses one more character', () => {
    const host = 'h'.repeat(255);
    expect(parseRfc5424(b(`<1>1 - ${host} - - - -`)).syslog.hostname).toBe(host);
    expect(errorOf(`<1>1 - ${host}X - - - -`)).toEqual(['RFC 5424: HOSTNAME at byte 262: HOSTNAME longer than 255 characters', 'rfc5424_hostname']);
    expect(errorOf(`<1>1 - - ${'a'.repeat(49)} - - -`)).toEqual(['RFC 5424: APP-NAME at byte 57: APP-NAME longer than 48 characters', 'rfc5424_app_name']);
    expect(errorOf(`<1>1 - - - ${'p'.repeat(129)} - -`)).toEqual(['RFC 5424: PROCID at byte 139: PROCID longer than 128 characters', 'rfc5424_procid']);
    expect(errorOf(`<1>1 - - - - ${'m'.repeat(33)} -`)).toEqual(['RFC 5424: MSGID at byte 45: MSGID longer than 32 characters', 'rfc5424_msgid']);
  });

  it('rfc5424: PRI must be 0-191 without leading zeros', () => {
    expect(errorOf('<192>1 - - - - - -')).toEqual(['RFC 5424: PRI at byte 1: PRIVAL 192 out of range 0-191', 'rfc5424_pri']);
    expect(errorOf('<002>1 - - - - - -')).toEqual(['RFC 5424: PRI at byte 1: PRIVAL with a leading zero', 'rfc5424_pri']);
    expect(errorOf('<1900>1 - - - - - -')).toEqual(['RFC 5424: PRI at byte 4: PRIVAL longer than 3 digits', 'rfc5424_pri']);
    expect(errorOf('<>1 - - - - - -')).toEqual(["RFC 5424: PRI at byte 1: expected PRIVAL digits, found '>'", 'rfc5424_pri']);
    expect(errorOf('(13>1 - - - - - -')).toEqual(["RFC 5424: PRI at byte 0: expected '<', found '('", 'rfc5424_pri']);
    expect(errorOf('<87]1 -')).toEqual(["RFC 5424: PRI at byte 3: expected '>' after PRIVAL, found ']'", 'rfc5424_pri']);
  });

  it('rfc5424: VERSION is 1-999 and is followed by SP', () => {
    expect(parseRfc5424(b('<1>999 - - - - - -')).syslog.version).toBe(999);
    expect(errorOf('<103>0 - - - - - -')).toEqual(["RFC 5424: VERSION at byte 5: expected VERSION 1-999, found '0'", 'rfc5424_version']);
    expect(errorOf('<101>1000 -')).toEqual(['RFC 5424: VERSION at byte 8: VERSION longer than 3 digits', 'rfc5424_version']);
    expect(errorOf('<1>1')).toEqual(['RFC 5424: VERSION at byte 4: expected SP after VERSION, found end of frame', 'rfc5424_version']);
    expect(errorOf('<1>3a')).toEqual(["RFC 5424: VERSION at byte 4: expected SP after VERSION, found 'a'", 'rfc5424_version']);
  });

  it('rfc5424: TIMESTAMP errors name the field and the byte', () => {
    expect(errorOf('<29>1 2006-01-02t15:04:05Z - - - - -')).toEqual(["RFC 5424: TIMESTAMP at byte 16: expected 'T' between date and time, found 't'", 'rfc5424_timestamp']);
    expect(errorOf('<29>1 2006-01-02T15:04:05z - - - - -')).toEqual(["RFC 5424: TIMESTAMP at byte 25: expected 'Z' or a numeric offset, found 'z'", 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-31T22:14:15.003Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 13: day 31 out of range for 2003-09', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2018-02-29T22:14:16+01:00 - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 13: day 29 out of range for 2018-02', 'rfc5424_timestamp']);
    expect(parseRfc5424(b('<1>1 2024-02-29T22:14:16+01:00 - - - - -')).format).toBe('rfc5424');
    expect(errorOf('<1>1 2003-13-01T00:00:00Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 10: month 13 out of range 01-12', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-29T24:00:00Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 16: hour 24 out of range 00-23', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-29T22:60:00Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 19: minute 60 out of range 00-59', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-29T22:09:60Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 22: second 60 out of range 00-59', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-29T22:09:01.0000001Z - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 31: more than 6 digits in the fraction of a second', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-09-29T22:09:01.Z - - - - -')).toEqual(["RFC 5424: TIMESTAMP at byte 25: expected a digit after '.' in the fraction of a second", 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-08-24T05:14:15-24:00 - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 25: offset hour 24 out of range 00-23', 'rfc5424_timestamp']);
    expect(errorOf('<1>1 2003-08-24T05:14:15-07:61 - - - - -')).toEqual(['RFC 5424: TIMESTAMP at byte 28: offset minute 61 out of range 00-59', 'rfc5424_timestamp']);
    expect(errorOf('<29>1 2006-01-02T15:04:05Z+07:00 - - - - -')).toEqual(["RFC 5424: TIMESTAMP at byte 26: expected SP after TIMESTAMP, found '+'", 'rfc5424_timestamp']);
    expect(errorOf('<1>10 -- - - - -')).toEqual(["RFC 5424: TIMESTAMP at byte 7: expected SP after TIMESTAMP, found '-'", 'rfc5424_timestamp']);
  });

  it('rfc5424: header fields are PRINTUSASCII only', () => {
    expect(errorOf('<1>1 - host\nname - - - -')).toEqual(['RFC 5424: HOSTNAME at byte 11: expected SP after HOSTNAME, found byte 0x0a, not printable US-ASCII', 'rfc5424_hostname']);
    expect(errorOf('<1>1 - -  - - -')).toEqual(['RFC 5424: APP-NAME at byte 9: expected APP-NAME (printable US-ASCII) or \'-\', found SP', 'rfc5424_app_name']);
    expect(errorOf(b('<1>1 - h\u00e9 - - - -'))).toEqual(['RFC 5424: HOSTNAME at byte 8: expected SP after HOSTNAME, found byte 0xc3, not printable US-ASCII', 'rfc5424_hostname']);
  });

  it('rfc5424: STRUCTURED-DATA with several elements, empty elements and escapes', () => {
    const r = parseRfc5424(b('<1>1 - - - - - [a x="1" y=""][b][c v="q\\"b\\\\s\\]e\\n\\x"] m'));
    expect(r.syslog.structured_data).toEqual({ a: { x: '1', y: '' }, b: {}, c: { v: 'q"b\\s]e\\n\\x' } });
    expect(r.syslog.message).toBe('m');
  });

  it('rfc5424: UTF-8 in PARAM-VALUE is decoded', () => {
    expect(parseRfc5424(b('<1>1 - - - - - [m gr="κόσμε" s="⌘"]')).syslog.structured_data).toEqual({ m: { gr: 'κόσμε', s: '⌘' } });
  });

  it('rfc5424: STRUCTURED-DATA errors name the rule and the byte', () => {
    expect(errorOf('<29>1 2016-01-15T01:00:43Z hn S - - [meta escape="""] 127.0.0.1')).toEqual([`RFC 5424: STRUCTURED-DATA at byte 51: unescaped '"' in PARAM-VALUE`, 'rfc5424_sd']);
    expect(errorOf('<29>3 2016-01-15T01:00:43Z hn S - - [meta escape="]"] x')).toEqual(["RFC 5424: STRUCTURED-DATA at byte 50: unescaped ']' in PARAM-VALUE", 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - []')).toEqual([`RFC 5424: STRUCTURED-DATA at byte 16: expected SD-ID (1-32 printable US-ASCII except '=', SP, ']', '"'), found ']'`, 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - [=]')).toEqual([`RFC 5424: STRUCTURED-DATA at byte 16: expected SD-ID (1-32 printable US-ASCII except '=', SP, ']', '"'), found '='`, 'rfc5424_sd']);
    expect(errorOf(`<1>1 - - - - - [${'i'.repeat(33)}]`)).toEqual(['RFC 5424: STRUCTURED-DATA at byte 48: SD-ID longer than 32 characters', 'rfc5424_sd']);
    expect(errorOf(`<1>1 - - - - - [id ${'k'.repeat(33)}="v"]`)).toEqual(['RFC 5424: STRUCTURED-DATA at byte 51: PARAM-NAME longer than 32 characters', 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - [id1][id1]')).toEqual(['RFC 5424: STRUCTURED-DATA at byte 21: duplicate SD-ID "id1"', 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - [id k="v"')).toEqual(['RFC 5424: STRUCTURED-DATA at byte 24: frame ends inside SD-ELEMENT "id"', 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - [id k="v')).toEqual(['RFC 5424: STRUCTURED-DATA at byte 23: frame ends inside PARAM-VALUE of "k"', 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - [id k=v]')).toEqual([`RFC 5424: STRUCTURED-DATA at byte 21: expected '"' to open PARAM-VALUE, found 'v'`, 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - X')).toEqual(["RFC 5424: STRUCTURED-DATA at byte 15: expected '[' or '-', found 'X'", 'rfc5424_sd']);
    expect(errorOf('<1>1 - - - - - -\n<2>1 - - - - - -')).toEqual(['RFC 5424: STRUCTURED-DATA at byte 16: expected SP or end of frame after STRUCTURED-DATA, found byte 0x0a', 'rfc5424_sd']);
  });

  it('rfc5424: an SD-ID named __proto__ is an own property, not a prototype change', () => {
    const r = parseRfc5424(b('<1>1 - - - - - [__proto__ __proto__="x"]'));
    const sd = r.syslog.structured_data!;
    expect(Object.getPrototypeOf(sd)).toBe(Object.prototype);
    expect(Object.keys(sd)).toEqual(['__proto__']);
    expect(JSON.stringify(sd)).toBe('{"__proto__":{"__proto__":"x"}}');
  });

  it('rfc5424: a MSG that is not UTF-8 is kept, decoded with U+FFFD', () => {
    const frame = Buffer.concat([b('<1>1 - - - - - - caf'), Buffer.from([0xe9, 0x00, 0x41])]);
    const r = parseRfc5424(frame);
    expect(r.format).toBe('rfc5424');
    expect(r.syslog.message).toBe('caf\uFFFD\uFFFDA');
  });

  it('rfc5424: compliantMsg refuses invalid UTF-8 after a BOM, at the offending byte', () => {
    const frame = Buffer.concat([b('<1>1 - - - - - - \uFEFFok'), Buffer.from([0xc0, 0xaf])]);
    expect(parseRfc5424(frame).format).toBe('rfc5424');
    const r = parseRfc5424(frame, { compliantMsg: true });
    expect([r.parse_error, r.parse_error_reason]).toEqual(['RFC 5424: MSG at byte 22: invalid UTF-8 in a MSG that starts with a BOM', 'rfc5424_msg']);
  });

  it('rfc5424: a failed frame keeps what was parsed and the whole text as message', () => {
    const r = parseRfc5424(b('<34>1 2003-10-11T22:14:15.003Z host su - ID47 [x k="v] tail'));
    expect(r.format).toBe('unparsed');
    expect(r.syslog).toMatchObject({ facility: 4, severity: 2, timestamp: '2003-10-11T22:14:15.003Z', hostname: 'host', app_name: 'su', msgid: 'ID47' });
    expect(r.syslog.message).toBe('<34>1 2003-10-11T22:14:15.003Z host su - ID47 [x k="v] tail');
  });

  it('rfc5424: NUL bytes never reach a string', () => {
    const r = parseRfc5424(b('<1>1 - - - - - [a k="x\u0000y"] m\u0000n'));
    expect(r.syslog.structured_data).toEqual({ a: { k: 'x\uFFFDy' } });
    expect(r.syslog.message).toBe('m\uFFFDn');
  });

  it('rfc5424: an empty frame is unparsed with reason empty', () => {
    expect(errorOf('')).toEqual(['RFC 5424: empty frame', 'empty']);
  });
});
