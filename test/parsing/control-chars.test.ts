import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../src/parsing/index.js';
import { escapeControls } from '../../src/parsing/text.js';
import type { ParseContext } from '../../src/parsing/types.js';
import { ingest } from '../redact/helpers.js';

const ctx: ParseContext = { receivedAtMs: Date.parse('2026-12-06T12:00:00Z'), timeZone: 'UTC', format: 'auto' };
const CONTROLS = /[\u0000-\u001f\u007f]/;

describe('control characters never reach a header column or a label', () => {
  it('escapeControls writes C0 controls and DEL as rsyslog does (#ooo), and leaves clean text as it is', () => {
    expect(escapeControls('h2\r\n\u001b[2J\u0007x\u007f')).toBe('h2#015#012#033[2J#007x#177');
    const clean = 'web-01.example.net';
    expect(escapeControls(clean)).toBe(clean);
  });

  it('JSON: host, app, procid and msgid with CR, LF, ESC and BEL are escaped; the raw frame keeps its bytes', () => {
    const text = JSON.stringify({ host: 'h2\r\n\u001b[2J\u0007', programname: 'app\u001b', procid: '1\u0007', msgid: 'M\u007f', message: 'hi' });
    const p = parseFrame(Buffer.from(text), ctx);
    expect(p.format).toBe('json');
    expect(p.syslog.hostname).toBe('h2#015#012#033[2J#007');
    expect(p.syslog.app_name).toBe('app#033');
    expect(p.syslog.procid).toBe('1#007');
    expect(p.syslog.msgid).toBe('M#177');
    const { after } = ingest(text);
    expect(after.raw.toString()).toBe(text);
    expect(after.columns.hostname ?? '').not.toMatch(CONTROLS);
  });

  it('JSON: an app name split from the tag is escaped too', () => {
    const p = parseFrame(Buffer.from(JSON.stringify({ host: 'h', tag: 'ev\u001bil[4\u0007]:', message: 'x' })), ctx);
    expect(p.syslog.app_name).toBe('ev#033il');
    expect(p.syslog.procid).toBe('4#007');
  });

  it('RFC 3164: an ESC or BEL in the tag does not reach app_name or procid', () => {
    const p = parseFrame(Buffer.from('<13>Dec  6 12:00:00 host1 ap\u001bp[1\u0007]: hello'), ctx);
    expect(p.format).toBe('rfc3164');
    expect(p.syslog.app_name).toBe('ap#033p');
    expect(p.syslog.procid).toBe('1#007');
  });

  it('RFC 5424: a control character in a header field is a parse error (the field is PRINTUSASCII), and the frame is kept raw', () => {
    const text = '<13>1 2026-12-06T12:00:00Z ho\u001bst app - - - hello';
    const p = parseFrame(Buffer.from(text), ctx);
    expect(p.syslog.hostname ?? '').not.toMatch(CONTROLS);
    const { after } = ingest(text);
    expect(after.raw.toString()).toBe(text);
  });
});
