import { describe, expect, it } from 'vitest';
import { parseDetectionConfig } from '../../src/detect/config.js';
import { Detector } from '../../src/detect/detector.js';
import { internalRecord } from '../../src/ledger/internal-record.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { FindingBudget } from '../../src/monitoring/finding-budget.js';
import { findingToEvent } from '../../src/monitoring/findings.js';
import { Metrics } from '../../src/metrics/registry.js';
import { liftColumns, normalize } from '../../src/normalize/index.js';
import { parseFrame } from '../../src/parsing/index.js';
import { PEER } from '../detect/helpers.js';

const row = (source: string, kind: string): LedgerRecord =>
  internalRecord(findingToEvent({ kind: 'silent', source, lastSeenMs: null, thresholdSec: 1, atMs: 1 }), { receivedAtUs: 1, hostname: source, msgid: `finding.${kind}` });

async function suppressed(m: Metrics, labels: Partial<Record<'source' | 'kind', string>>): Promise<number | undefined> {
  return (await m.findingsSuppressed.get()).values.find((v) => (Object.keys(labels) as ('source' | 'kind')[]).every((k) => v.labels[k] === labels[k]))?.value;
}

describe('FindingBudget: the per-source cap on server rows', () => {
  it('cap: at most N rows per source a minute, across kinds; the rest counted per source and kind', async () => {
    const clock = { ms: 1_000_000 };
    const m = new Metrics({ defaultMetrics: false });
    const written: LedgerRecord[] = [];
    const budget = new FindingBudget(m, { perMinute: 5, enqueue: (r) => written.push(r), now: () => clock.ms });
    let built = 0;
    for (let i = 0; i < 100; i++) budget.write('web', i % 2 ? 'sequence_gap' : 'detection_brute_force_user', () => (built++, row('web', 'x')));
    for (let i = 0; i < 3; i++) budget.write('db', 'source_silent', () => row('db', 'silent'));
    expect(written).toHaveLength(5 + 3);
    expect(built).toBe(5); // suppressed rows are never built
    expect(await suppressed(m, { source: 'web', kind: 'sequence_gap' })).toBe(50 - 2);
    expect(await suppressed(m, { source: 'web', kind: 'detection_brute_force_user' })).toBe(50 - 3);
    expect(await suppressed(m, { source: 'db', kind: 'source_silent' })).toBeUndefined();

    clock.ms += 59_000;
    expect(budget.tick()).toEqual([]);
    clock.ms += 1_000;
    const notices = budget.tick();
    expect(notices).toEqual([{ source: 'web', suppressed: 95, byKind: { detection_brute_force_user: 47, sequence_gap: 48 }, windowStartMs: 1_000_000, windowEndMs: 1_060_000, perMinute: 5 }]);
    const notice = written.at(-1)!;
    expect(notice.syslog.msgid).toBe('finding.suppressed');
    expect(notice.event).toMatchObject({ class_uid: 2004, finding_info: { types: ['findings_suppressed'] }, unmapped: { syslog_ledger_finding: { source: 'web', suppressed: 95 } } });
    // A new minute: the budget is whole again.
    for (let i = 0; i < 6; i++) budget.write('web', 'sequence_gap', () => row('web', 'gap'));
    expect(written).toHaveLength(8 + 1 + 5);
    expect(budget.stats).toMatchObject({ written: 13, suppressed: 96, notices: 1 });
  });

  it('cap: a bad value is refused', () => {
    expect(() => new FindingBudget(new Metrics({ defaultMetrics: false }), { perMinute: 0, enqueue: () => {} })).toThrow(RangeError);
  });
});

describe('detections: a burst is one finding plus summaries', () => {
  it('brute force: 100,000 failed logins are one finding per rule and key, and summaries every interval, through the budget', () => {
    const clock = { ms: Date.UTC(2026, 0, 5, 12) };
    const m = new Metrics({ defaultMetrics: false });
    const written: LedgerRecord[] = [];
    const budget = new FindingBudget(m, { perMinute: 60, enqueue: (r) => written.push(r), now: () => clock.ms });
    const detector = new Detector({ config: parseDetectionConfig({ warmup: 0 }), metrics: m, now: () => clock.ms, summaryIntervalMs: 60_000 });
    detector.attach(budget);
    const t0 = clock.ms;
    for (let i = 0; i < 100_000; i++) {
      // 1,000 a second of event time, the wall clock moving with it.
      const at = t0 + Math.floor(i / 1000) * 1000;
      if (at !== clock.ms) {
        clock.ms = at;
        detector.tick();
        budget.tick();
      }
      const text = `<38>1 ${new Date(at).toISOString()} bastion sshd 9 - - Failed password for root from 203.0.113.9 port ${1000 + (i % 50000)} ssh2`;
      const parsed = parseFrame(Buffer.from(text), { receivedAtMs: at, timeZone: 'UTC', format: 'auto' });
      const event = normalize(parsed, { peer: PEER, receivedAtMs: at, rawText: text });
      detector.onCommitted([{ chain: 'c', seq: i + 1, receivedAtUs: at * 1000, format: 'rfc5424', event, columns: liftColumns(event, parsed), peer: PEER } as never]);
    }
    clock.ms += 16 * 60_000;
    detector.tick();
    const rules = written.map((r) => r.syslog.msgid);
    // brute_force_user and brute_force_source (root from one address): one finding each; a summary
    // each a minute while it lasted (100 s: one), and one when it ended.
    expect(rules.filter((r) => !r!.endsWith('.summary')).sort()).toEqual(['detection.brute_force_source', 'detection.brute_force_user']);
    expect(rules.filter((r) => r!.endsWith('.summary'))).toHaveLength(4);
    const last = written.at(-1)!.event.unmapped as { syslog_ledger_detection: { episode: { triggers: number; open: boolean } } };
    expect(last.syslog_ledger_detection.episode).toMatchObject({ open: false, triggers: 100_000 - 9 });
    expect(detector.stats.emitted).toBe(2);
  }, 120_000);
});
