import { describe, expect, it } from 'vitest';
import { detectFormat, PARSE_ERROR_REASONS, parseFrame } from '../../src/parsing/index.js';
import type { FormatOption, ParseContext } from '../../src/parsing/types.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const ctx = (format: FormatOption = 'auto'): ParseContext => ({ receivedAtMs: Date.parse('2024-06-15T12:00:00Z'), timeZone: 'UTC', format });

describe('parseFrame', () => {
  it('detect: <PRI>VERSION SP is RFC 5424, other <PRI> frames RFC 3164, { JSON', () => {
    expect(detectFormat(b('<34>1 2003-10-11T22:14:15.003Z h a - - - m'))).toBe('rfc5424');
    expect(detectFormat(b('<1>999 - - - - - -'))).toBe('rfc5424');
    expect(detectFormat(b('<34>Oct 11 22:14:15 h su: m'))).toBe('rfc3164');
    expect(detectFormat(b('<34>2019-02-13T21:53:30Z h su: m'))).toBe('rfc3164');
    expect(detectFormat(b('<34>0 x'))).toBe('rfc3164');
    expect(detectFormat(b('{"host":"h"}'))).toBe('json');
    expect(detectFormat(b('Oct 11 22:14:15 h su: m'))).toBe('rfc3164');
    expect(detectFormat(b('1 2020-05-22T14:59:09Z h a - - - m'))).toBe('rfc3164');
    expect(detectFormat(b(''))).toBe('rfc3164');
  });

  it('parseFrame: dispatches on detection in auto mode', () => {
    expect(parseFrame(b('<34>1 - h su - - - m'), ctx()).format).toBe('rfc5424');
    expect(parseFrame(b('<34>Oct 11 22:14:15 h su: m'), ctx()).format).toBe('rfc3164');
    expect(parseFrame(b('{"host":"h","message":"m"}'), ctx()).format).toBe('json');
  });

  it('parseFrame: a frame detected as RFC 5424 that breaks the ABNF is unparsed, not re-read as RFC 3164', () => {
    const r = parseFrame(b('<34>1 2003-10-11 22:14:15Z h su - - - m'), ctx());
    expect(r).toMatchObject({ format: 'unparsed', parse_error_reason: 'rfc5424_timestamp' });
    expect(r.parse_error).toBe("RFC 5424: TIMESTAMP at byte 16: expected 'T' between date and time, found SP");
    expect(r.syslog.message).toBe('<34>1 2003-10-11 22:14:15Z h su - - - m');
    expect(r.syslog).toMatchObject({ facility: 4, severity: 2 });
  });

  it('parseFrame: --format forces a parser', () => {
    expect(parseFrame(b('<34>Oct 11 22:14:15 h su: m'), ctx('rfc5424'))).toMatchObject({ format: 'unparsed', parse_error_reason: 'rfc5424_version' });
    expect(parseFrame(b('<34>1 - h su - - - m'), ctx('rfc3164'))).toMatchObject({ format: 'rfc3164', syslog: { message: '1 - h su - - - m' } });
    expect(parseFrame(b('<34>Oct 11 22:14:15 h su: m'), ctx('json'))).toMatchObject({ format: 'unparsed', parse_error_reason: 'json_syntax' });
  });

  it('parseFrame: every failure reason is in the bounded list', () => {
    const frames = ['', '<999>x', '<1>0 x', '<1>1 bad', '<1>1 - ' + 'h'.repeat(300), '<1>1 - - - - - [', '{', '[]', `{"a":${'['.repeat(70)}${']'.repeat(70)}}`];
    for (const f of frames) {
      const r = parseFrame(b(f), ctx());
      if (r.parse_error_reason !== null) expect(PARSE_ERROR_REASONS).toContain(r.parse_error_reason);
      expect(r.format === 'unparsed').toBe(r.parse_error !== null);
    }
  });
});
