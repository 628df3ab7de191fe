/**
 * Control characters (C0 and DEL) in every header field a parser reads, for every parser and the
 * unparsed fallback, through toRecord and the source tracker: no lifted column and no metric label
 * value holds one, and the raw frame keeps its bytes.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.js';
import { SourceTracker } from '../../src/monitoring/sources.js';
import { toRecord } from '../../src/stages.js';
import { frameOf, PEER } from '../redact/helpers.js';

const CONTROLS = /[\u0000-\u001f\u007f]/;
/** Every C0 control and DEL (NUL, CR and LF included). */
const ALL = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';

/** Frames with `bad` in each header field, per format (the name of the case, the frame text). */
function frames(bad: string): Array<[string, string]> {
  const json = (o: Record<string, unknown>): string => JSON.stringify({ timestamp: '2026-12-06T12:00:00Z', message: 'm', ...o });
  return [
    ['rfc5424 hostname', `<13>1 2026-12-06T12:00:00Z h${bad}x app 1 ID - m`],
    ['rfc5424 app-name', `<13>1 2026-12-06T12:00:00Z host a${bad}p 1 ID - m`],
    ['rfc5424 procid', `<13>1 2026-12-06T12:00:00Z host app 1${bad} ID - m`],
    ['rfc5424 msgid', `<13>1 2026-12-06T12:00:00Z host app 1 I${bad}D - m`],
    // (A control character in an RFC 5424 header field is a parse error: those four are kept unparsed.)
    ['rfc5424 structured data and message', `<13>1 2026-12-06T12:00:00Z host app 1 ID [x@1 v="a${bad}b"] m${bad}`],
    ['rfc3164 hostname', `<13>Dec  6 12:00:00 h${bad}x app[1]: m`],
    ['rfc3164 tag', `<13>Dec  6 12:00:00 host a${bad}p[1]: m`],
    ['rfc3164 pid', `<13>Dec  6 12:00:00 host app[1${bad}]: m`],
    ['json host', json({ host: `h${bad}x` })],
    ['json hostname', json({ hostname: `h${bad}x` })],
    ['json programname', json({ host: 'h', programname: `a${bad}p` })],
    ['json tag', json({ host: 'h', tag: `a${bad}p[1${bad}]:` })],
    ['json procid and msgid', json({ host: 'h', procid: `1${bad}`, msgid: `M${bad}` })],
    ['unparsed', `h${bad}x no header at all`],
  ];
}

describe('control characters never reach a column or a label, whatever the parser', () => {
  for (const [name, bad] of [
    ['all C0 and DEL', ALL],
    ['CR LF ESC BEL', '\r\n\u001b[2J\u0007'],
  ] as const) {
    it(`${name}: every format and header field`, async () => {
      const m = new Metrics({ defaultMetrics: false });
      const tracker = new SourceTracker(m, { now: () => 1_000 });
      const formats = new Set<string>();
      for (const [field, text] of frames(bad)) {
        const rec = toRecord(frameOf(text), { ...PEER, cn: `peer${bad}` }, Date.UTC(2026, 11, 6) * 1000, { format: 'auto', timeZone: 'UTC' }, m);
        formats.add(rec.format);
        expect(rec.raw.toString('utf8'), field).toBe(text);
        for (const [col, v] of Object.entries(rec.columns)) if (typeof v === 'string') expect(v, `${field}: column ${col}`).not.toMatch(CONTROLS);
        for (const k of ['hostname', 'app_name', 'procid', 'msgid'] as const) {
          const v = rec.syslog[k];
          if (typeof v === 'string') expect(v, `${field}: syslog.${k}`).not.toMatch(CONTROLS);
        }
        tracker.observeBatch([rec]);
      }
      expect([...formats].sort()).toEqual(['json', 'rfc3164', 'rfc5424', 'unparsed']);
      let labels = 0;
      for (const metric of await m.registry.getMetricsAsJSON()) {
        for (const v of metric.values as Array<{ labels: Record<string, string | number> }>) {
          for (const [l, value] of Object.entries(v.labels)) {
            labels++;
            expect(String(value), `${metric.name}{${l}}`).not.toMatch(CONTROLS);
          }
        }
      }
      const sources = (await m.sourceEvents.get()).values.map((v) => String(v.labels['source']));
      // The hostnames got their labels, escaped (a NUL becomes U+FFFD first: PostgreSQL text cannot hold one).
      expect(sources.some((s) => /^h.*#033/.test(s)), sources.join(' ')).toBe(true);
      expect(labels).toBeGreaterThan(10);
    });
  }
});
