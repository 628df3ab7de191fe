import { describe, expect, test } from 'vitest';
import { PLANTED, sampledBodies, withPlanted, wrap, WRAPPERS } from '../../bench/lib/adversarial.js';
import { parseRedactionConfig } from '../../src/redact/config.js';
import { counted, ingest } from './helpers.js';

/** Bodies that, with the planted secrets and the wrapper, make frames of about 64 KiB (under the default byte budget). */
const BODY = 64 * 1024 - 1024;
const bodies = sampledBodies(BODY, 10);

/** Everything a stored record holds as text, with JSON `\u00XX` escapes spelled plainly (so an escaped secret is still seen). */
function storedText(after: ReturnType<typeof ingest>['after']): string {
  const all = after.raw.toString('latin1') + JSON.stringify(after.event) + JSON.stringify(after.syslog);
  return all.replace(/\\u00([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

describe('adversarial frames: nothing left unmasked', () => {
  test('the generator covers every rule with its own shapes', () => {
    const rules = new Set(bodies.map((b) => b.rule));
    for (const r of ['password', 'url_password', 'bearer', 'api_key', 'aws_access_key', 'private_key', 'jwt', 'pan', '*']) expect(rules.has(r), r).toBe(true);
    expect(bodies.length).toBeGreaterThan(60);
  });

  test('the wrappers reach every parser (and the unparsed fallback)', () => {
    const formats = new Set(WRAPPERS.map((w) => ingest(wrap(w, withPlanted(bodies[0]!.text))).before.format));
    expect([...formats].sort()).toEqual(['json', 'rfc3164', 'rfc5424', 'unparsed']);
  });

  for (const wrapper of WRAPPERS) {
    test(`${wrapper}: every planted secret is masked in every adversarial frame`, () => {
      const leaks: string[] = [];
      for (const body of bodies) {
        const { after } = ingest(wrap(wrapper, withPlanted(body.text)));
        const stored = storedText(after);
        for (const p of PLANTED) if (stored.includes(p.marker)) leaks.push(`${body.rule} ${body.shape}: ${p.rule} (${p.marker})`);
      }
      expect(leaks).toEqual([]);
    });
  }
});

describe('already masked means exactly <redacted:RULE>', () => {
  test('a value that only starts like a mask is a secret', () => {
    const { after } = ingest('<86>1 2026-12-06T12:00:00Z h app - - - login password=<redacted:x>hunter2 api_key=<redacted:>REALKEY123');
    const raw = after.raw.toString();
    expect(raw).not.toContain('hunter2');
    expect(raw).not.toContain('REALKEY123');
    expect(raw).toContain('password=<redacted:password> api_key=<redacted:api_key>');
  });

  test('a value that is exactly a mask is left as it is (a relayed, already redacted line)', () => {
    const text = '<86>1 2026-12-06T12:00:00Z h app - - - relayed password=<redacted:password> user=bob';
    const { before, after } = ingest(text);
    expect(after).toBe(before);
  });

  test('a JSON field named like a secret whose value only starts like a mask is masked whole', () => {
    const { after } = ingest(JSON.stringify({ host: 'h', message: 'm', password: '<redacted:x>hunter2' }));
    expect(storedText(after)).not.toContain('hunter2');
  });
});

describe('cards inside other numbers', () => {
  test('a card that starts inside a longer failed match is found', () => {
    const { after } = ingest('<86>1 2026-12-06T12:00:00Z h app - - - ref 5234 4111 1111 1111 1111 end');
    expect(after.raw.toString()).toBe('<86>1 2026-12-06T12:00:00Z h app - - - ref 5234 <redacted:pan> end');
  });

  test('a card followed by another number is masked to its end', () => {
    const { after } = ingest('<86>1 2026-12-06T12:00:00Z h app - - - 4111 1111 1111 1111 2 items');
    expect(after.raw.toString()).toBe('<86>1 2026-12-06T12:00:00Z h app - - - <redacted:pan> 2 items');
  });
});

describe('the per-frame budget', () => {
  test('text past the byte budget is masked wholesale and flagged, never left unmasked', async () => {
    const config = parseRedactionConfig({ budget: { max_bytes: 4096 } });
    const text = `<86>1 2026-12-06T12:00:00Z h app - - - password=a ${'x'.repeat(5000)} tail-secret-123`;
    const { after, metrics } = ingest(text, { config });
    const raw = after.raw.toString();
    expect(raw).not.toContain('tail-secret-123');
    expect(raw.endsWith('<redacted:budget>')).toBe(true);
    expect(after.event.redactions).toContain('budget');
    expect(storedText(after)).not.toContain('tail-secret-123');
    expect(await counted(metrics, 'budget')).toBe(1);
  });

  test('a clean frame over the byte budget is still masked past the budget (it was never scanned)', () => {
    const config = parseRedactionConfig({ budget: { max_bytes: 1024 } });
    const { after } = ingest(`<86>1 2026-12-06T12:00:00Z h app - - - ${'y'.repeat(2000)}`, { config });
    expect(after.raw.length).toBeLessThan(1200);
    expect(after.event.redactions).toEqual(['budget']);
  });

  test('a frame whose masking runs out of time has its free text masked wholesale, flagged, and leaks nothing', () => {
    const config = parseRedactionConfig({ budget: { max_ms: 1 } });
    let overTime = 0;
    const leaks: string[] = [];
    for (const body of bodies.slice(0, 40)) {
      for (const wrapper of ['rfc5424', 'json-escaped'] as const) {
        const { after } = ingest(wrap(wrapper, withPlanted(body.text)), { config });
        const rules = after.event.redactions;
        if (Array.isArray(rules) && rules.includes('budget')) overTime++;
        const stored = storedText(after);
        for (const p of PLANTED) if (stored.includes(p.marker)) leaks.push(`${wrapper} ${body.shape}: ${p.rule}`);
      }
    }
    expect(leaks).toEqual([]);
    // 64 KiB through every rule takes more than 1 ms on any machine: most frames took the wholesale path.
    expect(overTime).toBeGreaterThan(0);
  });

  test('past budget.max_matches candidates the rest of the text is masked wholesale from the next candidate on', () => {
    const config = parseRedactionConfig({ budget: { max_matches: 16 } });
    const text = `<86>1 2026-12-06T12:00:00Z h app - - - start ${'password"='.repeat(100)} later-secret-456`;
    const { after } = ingest(text, { config });
    const raw = after.raw.toString();
    expect(raw.startsWith('<86>1 2026-12-06T12:00:00Z h app - - - start password"=<redacted:password>')).toBe(true);
    expect(raw.endsWith('<redacted:budget>')).toBe(true);
    expect(storedText(after)).not.toContain('later-secret-456');
    expect(after.event.redactions).toEqual(['budget', 'password']);
  });

  test('a bad budget stops the program with a message naming the setting', () => {
    expect(() => parseRedactionConfig({ budget: { max_ms: 0 } })).toThrow(/budget\.max_ms/);
    expect(() => parseRedactionConfig({ budget: { max_bytes: 'big' } })).toThrow(/budget\.max_bytes/);
    expect(() => parseRedactionConfig({ budget: { max_matches: 1 } })).toThrow(/budget\.max_matches/);
    expect(() => parseRedactionConfig({ budget: { maxBytes: 1 } })).toThrow(/unknown setting "maxBytes"/);
  });
});
