import { describe, expect, it } from 'vitest';
import { parseJson } from '../../src/parsing/json.js';
import type { ParseContext } from '../../src/parsing/types.js';

const ctx: ParseContext = { receivedAtMs: Date.parse('2024-06-15T12:00:00Z'), timeZone: 'UTC', format: 'json' };
const j = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');

/** What the seed's AuditLogger writes (json.dumps, default separators). */
const auditRecord = {
  timestamp: '2024-06-15T11:59:58.123456+00:00',
  service: 'billing',
  event_type: 'authentication',
  user: 'alice',
  resource: 'auth-service',
  action: 'login',
  result: 'failure',
  source_ip: '203.0.113.7',
  metadata: { mfa_used: false },
  prev_hash: null,
  hash: 'f'.repeat(64),
};

describe('JSON parser', () => {
  it('json: maps the seed json-audit template and finds the audit record in message', () => {
    const frame = `{"@timestamp":"2024-06-15T11:59:58.123456+00:00","host":"app1","severity":"info","facility":"local0","tag":"app-audit","message":${JSON.stringify(JSON.stringify(auditRecord))}}\n`;
    const r = parseJson(j(frame), ctx);
    expect(r.format).toBe('json');
    expect(r.parse_error).toBeNull();
    expect(r.syslog).toEqual({
      facility: 16,
      severity: 6,
      timestamp: '2024-06-15T11:59:58.123456+00:00',
      timestamp_original: '2024-06-15T11:59:58.123456+00:00',
      hostname: 'app1',
      app_name: 'app-audit',
      procid: null,
      msgid: null,
      structured_data: null,
      message: JSON.stringify(auditRecord),
    });
    expect(r.audit).toEqual(auditRecord);
    expect(r.extra).toBeUndefined();
  });

  it('json: splits an RFC 3164 tag and removes the leading space of %msg%', () => {
    const r = parseJson(j({ '@timestamp': '2024-06-15T11:00:00+02:00', host: 'h', severity: 'notice', facility: 'authpriv', tag: 'sshd[77]:', message: ' Accepted publickey for bob' }), ctx);
    expect(r.syslog).toMatchObject({ app_name: 'sshd', procid: '77', facility: 10, severity: 5, message: 'Accepted publickey for bob', timestamp: '2024-06-15T11:00:00+02:00' });
    expect(parseJson(j({ tag: 'app-audit:' }), ctx).syslog).toMatchObject({ app_name: 'app-audit', procid: null });
    expect(parseJson(j({ tag: 'sshd(pam_unix)[123]:' }), ctx).syslog).toMatchObject({ app_name: 'sshd(pam_unix)', procid: '123' });
  });

  it('json: textual and numeric severity and facility', () => {
    const sev = (v: unknown): number | null => parseJson(j({ severity: v }), ctx).syslog.severity;
    const fac = (v: unknown): number | null => parseJson(j({ facility: v }), ctx).syslog.facility;
    expect([sev('emerg'), sev('ALERT'), sev('crit'), sev('err'), sev('warning'), sev('notice'), sev('info'), sev('debug'), sev(3), sev('4')]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 3, 4]);
    expect([fac('kern'), fac('auth'), fac('authpriv'), fac('local0'), fac('local7'), fac(23), fac('cron')]).toEqual([0, 4, 10, 16, 23, 23, 9]);
    const bad = parseJson(j({ severity: 'loud', facility: 99 }), ctx);
    expect(bad.syslog).toMatchObject({ severity: null, facility: null });
    expect(bad.extra).toEqual({ severity: 'loud', facility: 99 });
  });

  it('json: the audit record as the frame itself', () => {
    const r = parseJson(j(auditRecord), ctx);
    expect(r.format).toBe('json');
    expect(r.audit).toEqual(auditRecord);
    expect(r.syslog).toMatchObject({ timestamp: '2024-06-15T11:59:58.123456+00:00', app_name: 'billing', message: null });
    expect(r.extra).toBeUndefined();
  });

  it('json: unmapped top-level fields go to extra', () => {
    const r = parseJson(j({ host: 'h', message: 'm', trace_id: 'abc', nested: { a: [1, 2] } }), ctx);
    expect(r.extra).toEqual({ trace_id: 'abc', nested: { a: [1, 2] } });
    expect(r.audit).toBeUndefined();
  });

  it('json: a message that is JSON but not an audit record stays text', () => {
    const r = parseJson(j({ message: '{"event":"x"}' }), ctx);
    expect(r.audit).toBeUndefined();
    expect(r.syslog.message).toBe('{"event":"x"}');
  });

  it('json: timestamps as epoch seconds or milliseconds, or unparseable text', () => {
    expect(parseJson(j({ timestamp: 1718452800 }), ctx).syslog).toMatchObject({ timestamp: '2024-06-15T12:00:00Z', timestamp_original: '1718452800' });
    expect(parseJson(j({ timestamp: 1718452800123 }), ctx).syslog.timestamp).toBe('2024-06-15T12:00:00.123Z');
    expect(parseJson(j({ '@timestamp': 'yesterday' }), ctx).syslog).toMatchObject({ timestamp: null, timestamp_original: 'yesterday' });
    expect(parseJson(j({ time: '2024-06-15 10:00:00' }), { ...ctx, timeZone: 'Europe/Paris' }).syslog.timestamp).toBe('2024-06-15T10:00:00+02:00');
  });

  it('json: NUL and lone surrogates from escapes are made storable, keys included', () => {
    const r = parseJson(j('{"message":"a\\u0000b\\ud800c","k\\u0000":"\\udc00","arr":["\\u0000"]}'), ctx);
    expect(r.syslog.message).toBe('a\uFFFDb\uFFFDc');
    expect(r.extra).toEqual({ 'k\uFFFD': '\uFFFD', arr: ['\uFFFD'] });
  });

  it('json: a __proto__ key stays data', () => {
    const r = parseJson(j('{"__proto__":{"polluted":true},"message":"m"}'), ctx);
    expect(Object.getPrototypeOf(r.extra)).toBe(Object.prototype);
    expect(JSON.stringify(r.extra)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('json: syntax errors name the byte', () => {
    const err = (s: string): [string | null, string | null] => {
      const r = parseJson(Buffer.from(s), ctx);
      expect(r.format).toBe('unparsed');
      expect(r.syslog.message).toBe(s);
      return [r.parse_error, r.parse_error_reason];
    };
    expect(err('{"a":}')).toEqual(["JSON: syntax error at byte 5: unexpected '}', expected a value", 'json_syntax']);
    expect(err('{"a":1')).toEqual(['JSON: syntax error at byte 6: unexpected end of frame inside an object', 'json_syntax']);
    expect(err('{"a" 1}')).toEqual(["JSON: syntax error at byte 5: expected ':' after a property name, found '1'", 'json_syntax']);
    expect(err('{"host":"h","message":"cut')).toEqual(['JSON: syntax error at byte 26: unterminated string', 'json_syntax']);
    expect(err('{"a":1} x')).toEqual(["JSON: syntax error at byte 8: unexpected 'x' after the JSON value", 'json_syntax']);
    expect(err('{"a":"\u0001"}')).toEqual(['JSON: syntax error at byte 6: control character 0x01 in string', 'json_syntax']);
    expect(err('{"a":tru}')).toEqual(["JSON: syntax error at byte 8: invalid literal, expected 'true'", 'json_syntax']);
  });

  it('json: a top-level value that is not an object is refused', () => {
    expect(parseJson(j('[1,2]'), ctx)).toMatchObject({ format: 'unparsed', parse_error: 'JSON: expected an object at the top level, found an array', parse_error_reason: 'json_not_object' });
    expect(parseJson(j('null'), ctx).parse_error_reason).toBe('json_not_object');
  });

  it('json: nesting deeper than 64 levels is refused, without recursion', () => {
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(parseJson(j(deep), ctx)).toMatchObject({ format: 'unparsed', parse_error: 'JSON: nesting deeper than 64 levels', parse_error_reason: 'json_depth' });
  });
});
