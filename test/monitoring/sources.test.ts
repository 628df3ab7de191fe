import { describe, expect, it } from 'vitest';
import { OTHER_SOURCE } from '../../src/metrics/labels.js';
import { Metrics } from '../../src/metrics/registry.js';
import { SourceTracker } from '../../src/monitoring/sources.js';

function fakeClock(startMs = 1_700_000_000_000) {
  let t = startMs;
  return { now: () => t, advance: (sec: number) => (t += sec * 1000) };
}

async function gauge(m: Metrics, name: string, source: string): Promise<number | undefined> {
  const metric = m.registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels['source'] === source)?.value;
}

describe('SourceTracker', () => {
  it('silence: an expected source flips to 1 past the threshold and back to 0 when it sends again', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['web-01'], silenceThresholdSec: 300, now: clock.now });
    tracker.observeCommitted('web-01', 'web-01');
    expect(tracker.tick()).toEqual([]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'web-01')).toBe(0);

    clock.advance(300);
    expect(tracker.tick()).toEqual([]); // exactly at the threshold: not yet
    clock.advance(1);
    const [change] = tracker.tick();
    expect(change).toMatchObject({ kind: 'silent', source: 'web-01', lastSeenMs: clock.now() - 301_000, thresholdSec: 300 });
    expect(await gauge(m, 'syslog_ledger_source_silent', 'web-01')).toBe(1);
    expect(tracker.tick()).toEqual([]); // reported once
    expect(tracker.silentSources()).toEqual(['web-01']);

    tracker.observeCommitted('web-01', null, 3);
    expect(tracker.tick()).toMatchObject([{ kind: 'resumed', source: 'web-01' }]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'web-01')).toBe(0);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'web-01')).toBe(4);
    expect(await gauge(m, 'syslog_ledger_source_last_event_timestamp_seconds', 'web-01')).toBe(clock.now() / 1000);
  });

  it('silence: an expected source never seen is silent once the threshold has passed since start', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['db-01'], silenceThresholdSec: 60, now: clock.now });
    expect(await gauge(m, 'syslog_ledger_source_silent', 'db-01')).toBe(0);
    clock.advance(60);
    expect(tracker.tick()).toEqual([]);
    clock.advance(1);
    expect(tracker.tick()).toMatchObject([{ kind: 'silent', source: 'db-01', lastSeenMs: null }]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'db-01')).toBe(1);
  });

  it('sources: the syslog HOSTNAME is its own source when it differs from the peer CN', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { now: () => 5_000 });
    const row = (hostname: string | null) => ({ peer: { cn: 'relay.example.com' }, syslog: { hostname } });
    tracker.observeBatch([row('app-1'), row('app-1'), row('relay.example.com'), row(null)]);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'relay.example.com')).toBe(4);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'app-1')).toBe(2);
    expect(await gauge(m, 'syslog_ledger_source_last_event_timestamp_seconds', 'app-1')).toBe(5);
    expect((await m.lastCommit.get()).values[0]?.value).toBe(5);
  });

  it('sources: a peer certificate without a CN is named by its first SAN', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { now: () => 5_000 });
    tracker.observeBatch([{ peer: { cn: null, sans: ['DNS:san-only.example.com', 'IP:10.0.0.1'] }, syslog: { hostname: null } }]);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'san-only.example.com')).toBe(1);
  });

  it('label cap: other hostnames share the slots left by peers and expected sources, least recently used out', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { expectSources: ['late-expected'], maxSources: 4, now: () => 1_000 });
    tracker.observeCommitted('peer-a', 'h1'); // reserved: late-expected, peer-a; shared: h1
    tracker.observeCommitted('peer-a', 'h2'); // shared: h1, h2 (full)
    tracker.observeCommitted('peer-a', 'h3'); // h1 evicted
    tracker.observeCommitted('peer-a', 'h2'); // h2 used again: h3 is now the least recent
    tracker.observeCommitted('peer-a', 'h4'); // h3 evicted
    tracker.observeCommitted('peer-b', 'late-expected'); // a new peer is reserved: h2 evicted to keep the cap

    const events = (await m.sourceEvents.get()).values;
    const bySource = Object.fromEntries(events.map((v) => [v.labels['source'], v.value]));
    expect(bySource).toEqual({ 'peer-a': 5, h4: 1, 'peer-b': 1, 'late-expected': 1 });
    expect((await m.sourceLabelsEvicted.get()).values[0]?.value).toBe(3);
    expect((await m.sourceLastEvent.get()).values.map((v) => v.labels['source']).sort()).toEqual(['h4', 'late-expected', 'peer-a', 'peer-b']);
  });

  it('label cap: 10,000 made-up hostnames from one client leave a slot for a real host that appears later', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { expectSources: ['db-01'], maxSources: 50, now: () => 1_000 });
    for (let i = 0; i < 10_000; i++) tracker.observeCommitted('hostile-peer', `spoofed-${i}`);
    expect((await m.sourceLastEvent.get()).values.length).toBeLessThanOrEqual(50);
    expect((await m.sourceLabelsEvicted.get()).values[0]?.value).toBe(10_000 - 48);
    tracker.observeCommitted('good-peer', 'web-07');
    tracker.observeCommitted('good-peer', 'db-01');
    const bySource = Object.fromEntries((await m.sourceEvents.get()).values.map((v) => [v.labels['source'], v.value]));
    expect(bySource['web-07']).toBe(1);
    expect(bySource['db-01']).toBe(1);
    expect(bySource['hostile-peer']).toBe(10_000);
    expect(bySource[OTHER_SOURCE]).toBeUndefined();
    expect((await m.sourceLastEvent.get()).values.length).toBeLessThanOrEqual(50);
  });

  it('labels: a forgotten source gives its reserved slot back to the shared ones', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { maxSources: 4, silenceThresholdSec: 10, learnWindowSec: 60, now: clock.now });
    for (const p of ['p1', 'p2', 'p3', 'p4']) tracker.observeCommitted(p, null); // 4 peers: every slot reserved
    tracker.observeCommitted('p1', 'host-a');
    expect((await m.sourceEvents.get()).values.map((v) => v.labels['source'])).toContain('_other_');
    clock.advance(61);
    tracker.observeCommitted('p1', null);
    tracker.tick(); // p2, p3, p4 forgotten after the learning window
    tracker.observeCommitted('p1', 'host-b');
    const labels = (await m.sourceEvents.get()).values.map((v) => v.labels['source']);
    expect(labels).toContain('host-b');
  });

  it('labels: control characters in a hostname or CN never reach a label value', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { now: () => 1_000 });
    tracker.observeCommitted('peer\u001b[2J', 'h2\r\n\u001b[2J\u0007x\u007f');
    const labels = (await m.sourceEvents.get()).values.map((v) => v.labels['source'] as string).sort();
    expect(labels).toEqual(['h2#015#012#033[2J#007x#177', 'peer#033[2J']);
    expect(await m.registry.metrics()).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  it('learning: peers and hostnames seen become expected, go silent once, and are forgotten on the record after the learn window', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { silenceThresholdSec: 300, learnWindowSec: 3600, now: clock.now });
    tracker.observeCommitted('peer-a', 'some-host');
    expect(tracker.expectedSources()).toEqual(['peer-a', 'some-host']);
    expect(await gauge(m, 'syslog_ledger_sources_expected', 'x')).toBeUndefined();
    expect((await m.sourcesExpected.get()).values.map((v) => [v.labels['how'], v.value])).toEqual([['learned', 2], ['configured', 0]]);
    clock.advance(301);
    expect(tracker.tick()).toMatchObject([{ kind: 'silent', source: 'peer-a' }, { kind: 'silent', source: 'some-host' }]);
    for (let i = 0; i < 10; i++) {
      clock.advance(60);
      expect(tracker.tick()).toEqual([]); // one finding per episode, not one per tick
    }
    clock.advance(3600);
    expect(tracker.tick()).toMatchObject([
      { kind: 'forgotten', source: 'peer-a', reason: 'learn_window' },
      { kind: 'forgotten', source: 'some-host', reason: 'learn_window' },
    ]);
    expect(tracker.tick()).toEqual([]);
    expect(tracker.expectedSources()).toEqual([]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'peer-a')).toBeUndefined();
    expect((await m.sourcesExpected.get()).values.find((v) => v.labels['how'] === 'learned')?.value).toBe(0);
  });

  it('learning: learned hostnames hold at most half the label slots (a flood of invented names cannot fill them); peers always are learned', () => {
    const m = new Metrics({ defaultMetrics: false });
    const tracker = new SourceTracker(m, { maxSources: 4, learnWindowSec: 3600, now: () => 1_000 });
    for (let i = 0; i < 50; i++) tracker.observeCommitted('relay', `spoofed-${i}`);
    tracker.observeCommitted('late-peer', null);
    expect(tracker.expectedSources()).toEqual(['relay', 'spoofed-0', 'spoofed-1', 'late-peer']);
  });

  it('episodes: silent and resumed carry the silent window as ledger receive times', () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['web-01'], silenceThresholdSec: 10, now: clock.now });
    const t0 = clock.now() * 1000;
    tracker.observeCommitted('web-01', null, 2, t0 - 5_000, t0 - 1_000);
    clock.advance(11);
    const [silent] = tracker.tick();
    expect(silent).toMatchObject({ kind: 'silent', source: 'web-01', silentSinceUs: t0 - 1_000 });
    clock.advance(30);
    const back = clock.now() * 1000;
    tracker.observeBatch([
      { peer: { cn: 'web-01' }, syslog: { hostname: null }, receivedAtUs: back - 200 },
      { peer: { cn: 'web-01' }, syslog: { hostname: null }, receivedAtUs: back - 700 },
    ]);
    tracker.observeCommitted('web-01', null, 1, back + 5);
    expect(tracker.tick()).toEqual([
      { kind: 'resumed', source: 'web-01', lastSeenMs: Math.floor((back - 700) / 1000), thresholdSec: 10, atMs: clock.now(), silentSinceUs: t0 - 1_000, resumedAtUs: back - 700 },
    ]);
    expect(tracker.tick()).toEqual([]);
  });

  it('rebuild: a source silent while the server was down is silent on the first tick, with one finding', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { silenceThresholdSec: 300, learnWindowSec: 86_400, now: clock.now });
    const lastUs = (clock.now() - 600_000) * 1000 + 123;
    tracker.rebuild({ lastEvents: [{ source: 'db-01', lastEventUs: lastUs, peer: true }, { source: 'fresh', lastEventUs: clock.now() * 1000 - 5, peer: true }], openSilences: [] });
    expect(tracker.expectedSources()).toEqual(['db-01', 'fresh']);
    expect(tracker.tick()).toMatchObject([{ kind: 'silent', source: 'db-01', silentSinceUs: lastUs }]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'db-01')).toBe(1);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'fresh')).toBe(0);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'db-01')).toBeUndefined();
  });

  it('rebuild: a silence left open by the previous run continues without a second finding, and ends with one', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['never-seen'], silenceThresholdSec: 300, learnWindowSec: 86_400, now: clock.now });
    const sinceUs = (clock.now() - 900_000) * 1000 + 7;
    tracker.rebuild({
      lastEvents: [{ source: 'db-01', lastEventUs: sinceUs, peer: true }],
      openSilences: [
        { source: 'db-01', silentSinceUs: sinceUs, firstEventAfterUs: null },
        { source: 'never-seen', silentSinceUs: 1, firstEventAfterUs: null },
      ],
    });
    expect(tracker.tick()).toEqual([]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'never-seen')).toBe(1); // threshold not yet passed since start: still silent
    expect(tracker.silentSources().sort()).toEqual(['db-01', 'never-seen']);
    const back = clock.now() * 1000 + 50;
    tracker.observeCommitted('db-01', null, 1, back);
    expect(tracker.tick()).toMatchObject([{ kind: 'resumed', source: 'db-01', silentSinceUs: sinceUs, resumedAtUs: back }]);
  });

  it('rebuild: an open silence whose source sent before the server stopped ends at once; one no longer expected is forgotten', () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { silenceThresholdSec: 300, now: clock.now, expectSources: ['web-01'] });
    const nowUs = clock.now() * 1000;
    tracker.rebuild({
      lastEvents: [{ source: 'web-01', lastEventUs: nowUs - 2_000_000, peer: true }],
      openSilences: [
        { source: 'web-01', silentSinceUs: nowUs - 900_000_000, firstEventAfterUs: nowUs - 3_000_000 },
        { source: 'gone', silentSinceUs: nowUs - 900_000_000, firstEventAfterUs: null },
      ],
    });
    expect(tracker.tick()).toMatchObject([
      { kind: 'forgotten', source: 'gone', reason: 'unconfigured', silentSinceUs: nowUs - 900_000_000 },
      { kind: 'resumed', source: 'web-01', silentSinceUs: nowUs - 900_000_000, resumedAtUs: nowUs - 3_000_000 },
    ]);
  });

  it('configured sources: a re-read inventory adds sources; one removed stays learned if it sent within the window, else is forgotten', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['a', 'b'], silenceThresholdSec: 60, learnWindowSec: 3600, now: clock.now });
    tracker.observeCommitted('a', null);
    tracker.setConfigured(['c']);
    expect(tracker.expectation('a')).toBe('learned');
    expect(tracker.expectation('b')).toBeUndefined();
    expect(tracker.expectation('c')).toBe('configured');
    expect(tracker.tick()).toMatchObject([{ kind: 'forgotten', source: 'b', reason: 'unconfigured' }]);
    expect(await gauge(m, 'syslog_ledger_source_silent', 'b')).toBeUndefined();
    expect((await m.sourcesExpected.get()).values.map((v) => [v.labels['how'], v.value])).toEqual([['learned', 1], ['configured', 1]]);
  });

  it('restore: a last-seen time from the ledger counts for silence without counting events', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const clock = fakeClock();
    const tracker = new SourceTracker(m, { expectSources: ['web-01'], silenceThresholdSec: 300, now: clock.now });
    tracker.restore('web-01', clock.now() - 299_000);
    clock.advance(2);
    expect(tracker.tick()).toMatchObject([{ kind: 'silent', source: 'web-01' }]);
    expect(await gauge(m, 'syslog_ledger_source_events_committed_total', 'web-01')).toBeUndefined();
  });
});
