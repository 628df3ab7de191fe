/**
 * One pass per frame: a long message (or RFC 5424 PARAM-VALUE) that is a verbatim part of the raw
 * text takes its masked form from the masked raw text instead of a second scan (redactor.ts,
 * seedMessage). What it stores must be what scanning the field on its own stores.
 */
import { describe, expect, test } from 'vitest';
import { PLANTED, sampledBodies, withPlanted, wrap } from '../../bench/lib/adversarial.js';
import { builtinPatterns, REDACTION_RULES } from '../../src/redact/patterns.js';
import { ingest } from './helpers.js';

const patterns = builtinPatterns();

/** `s` through every built-in rule on its own (what the field walk did before the message was seeded). */
function alone(s: string): string {
  let out = s;
  const budget = { left: 1_000_000, spent: false };
  for (const id of REDACTION_RULES) out = patterns[id].mask(out, () => {}, budget);
  return out;
}

const bodies = sampledBodies(16 * 1024, 12);

describe('a message taken from the masked raw text', () => {
  for (const wrapper of ['rfc5424', 'rfc3164'] as const) {
    test(`${wrapper}: the stored message is the message masked on its own, for every adversarial body`, () => {
      let compared = 0;
      const diffs: string[] = [];
      for (const body of bodies) {
        const { after } = ingest(wrap(wrapper, withPlanted(body.text)));
        if ((after.event.redactions as string[] | undefined)?.includes('budget')) continue; // cut short: masked wholesale, not comparable
        const msg = after.syslog.message;
        const before = ingest(wrap(wrapper, withPlanted(body.text))).before.syslog.message;
        compared++;
        if (msg !== alone(before!)) diffs.push(`${body.rule} ${body.shape}`);
        expect(after.event.message).toBe(msg);
      }
      expect(diffs).toEqual([]);
      expect(compared).toBeGreaterThan(40);
    });
  }

  test('random frames, every format: what masking the message on its own hides, the stored message hides too', () => {
    const parts = ['password', 'pass', 'PWD', 'token', 'api_key', 'Authorization: Bearer ', 'bearer ', '=', ':', ' = ', '"', "'", '\\', ' ', '\t', '-', '_', '(', '--password ', 'identified by ', '<redacted:x>', '<redacted:password>', '***', 'eyJ', '.', 'AKIA', 'postgres://u:', '@h/', '4111 1111 1111 1111', 'sk_live_', '#012', ']', '{'];
    let seed = 42;
    const rnd = (k: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % k;
    };
    const leaks: string[] = [];
    let seeded = 0;
    for (let i = 0; i < 300; i++) {
      let body = 'y'.repeat(300);
      for (let j = 0; j < 20 + rnd(40); j++) body += rnd(4) === 0 ? `S${i}q${j}Z` : parts[rnd(parts.length)]!;
      for (const wrapper of ['rfc5424', 'rfc3164', 'json', 'rfc5424-sd'] as const) {
        const { before, after } = ingest(wrap(wrapper, body));
        if ((after.event.redactions as string[] | undefined)?.includes('budget')) continue;
        const field = wrapper === 'rfc5424-sd' ? Object.values(before.syslog.structured_data ?? {})[0]?.['v'] : before.syslog.message;
        const stored = wrapper === 'rfc5424-sd' ? Object.values(after.syslog.structured_data ?? {})[0]?.['v'] : after.syslog.message;
        if (typeof field !== 'string' || typeof stored !== 'string') continue;
        seeded++;
        const hidden = alone(field);
        for (const m of field.match(/S\d+q\d+Z/g) ?? []) if (!hidden.includes(m) && stored.includes(m)) leaks.push(`${wrapper} ${m}`);
      }
    }
    expect(leaks).toEqual([]);
    expect(seeded).toBeGreaterThan(1000);
  });

  test('secrets at both ends of the message, in every format, are masked in the raw text and in every field', () => {
    const filler = ' word'.repeat(100);
    const body = `password=FIRSTsecret1${filler} ${PLANTED.map((p) => p.text).join(' ')}${filler} token=LASTsecret2`;
    for (const wrapper of ['rfc5424', 'rfc5424-sd', 'rfc3164', 'json'] as const) {
      const { after } = ingest(wrap(wrapper, body));
      const stored = after.raw.toString('latin1') + JSON.stringify(after.event) + JSON.stringify(after.syslog);
      for (const m of ['FIRSTsecret1', 'LASTsecret2', ...PLANTED.map((p) => p.marker)]) expect(stored, `${wrapper}: ${m}`).not.toContain(m);
    }
  });

  test('a mask in the header (a structured-data password) does not shift the message: it is scanned on its own', () => {
    const msg = `${'x'.repeat(300)} api_key=MSGsecret3 ${'y'.repeat(300)}`;
    const { after } = ingest(`<86>1 2026-12-06T12:00:00Z h app - - [a@1 password="HDRsecret4"] ${msg}`);
    expect(after.syslog.message).toBe(alone(msg));
    expect(after.raw.toString()).not.toMatch(/HDRsecret4|MSGsecret3/);
  });

  test('a private key cut at the end of a frame with a line feed: the message is masked to its end', () => {
    const msg = `${'z'.repeat(300)} -----BEGIN ${'PRIVATE'} KEY-----#012MIIEsecret5`;
    const { after } = ingest(`<86>1 2026-12-06T12:00:00Z h app - - - ${msg}\n`);
    expect(after.syslog.message).not.toContain('MIIEsecret5');
    expect(after.raw.toString()).not.toContain('MIIEsecret5');
  });
});
