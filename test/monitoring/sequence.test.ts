import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ParsedMessage } from '../../src/parsing/types.js';
import { Metrics } from '../../src/metrics/registry.js';
import { SEQUENCE_ID_MAX, SequenceTracker, observationOf, sequenceIdOf, type SequenceObservation, type SequenceSummary } from '../../src/monitoring/sequence.js';

/** Records chained by the seed's AuditLogger (regenerate with make-auditlogger-chain.py). */
const chain: Array<{ prev_hash: string | null; hash: string; user: string }> = readFileSync(
  new URL('../metrics/fixtures/auditlogger-chain.jsonl', import.meta.url),
  'utf8',
)
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));

function tracker() {
  const metrics = new Metrics({ defaultMetrics: false });
  return { metrics, seq: new SequenceTracker(metrics, { now: () => 42_000 }) };
}

function feed(seq: SequenceTracker, ids: number[], source = 'web-01') {
  return ids.flatMap((sequenceId) => seq.observe(source, { sequenceId }));
}

async function counter(m: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const values = (await m.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe('SequenceTracker: RFC 5424 meta sequenceId', () => {
  it('in-order numbers, starting anywhere, are no finding', () => {
    const { seq } = tracker();
    expect(feed(seq, [17, 18, 19, 20])).toEqual([]);
  });

  it('gap: a jump forward is a gap, with the number of missing messages counted', async () => {
    const { seq, metrics } = tracker();
    const findings = feed(seq, [1, 2, 3, 7, 8]);
    expect(findings).toEqual([
      { kind: 'gap', via: 'sequence_id', source: 'web-01', stream: null, app: null, procid: null, connection: null, expected: 4, got: 7, missing: 3, atMs: 42_000 },
    ]);
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'web-01' })).toBe(1);
    expect(await counter(metrics, 'syslog_ledger_sequence_missing_messages_total', { source: 'web-01' })).toBe(3);
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web-01', kind: 'gap' })).toBe(1);
  });

  it('duplicate: a repeated or older number is a duplicate and does not move the expectation back', async () => {
    const { seq, metrics } = tracker();
    const findings = feed(seq, [5, 6, 6, 4, 7]);
    // One episode: its first anomaly is the finding; both are counted.
    expect(findings.map((f) => f.kind === 'sequence_summary' ? [f.kind] : [f.kind, f.expected, f.got])).toEqual([['duplicate', 7, 6]]);
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web-01', kind: 'duplicate' })).toBe(2);
  });

  it('reset: a restart at 1 is a reset, counted apart from gaps', async () => {
    const { seq, metrics } = tracker();
    const findings = feed(seq, [100, 101, 1, 2, 3]);
    expect(findings).toMatchObject([{ kind: 'reset', expected: 102, got: 1 }]);
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'web-01' })).toBe(0);
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web-01', kind: 'reset' })).toBe(1);
  });

  it('wrap: 2147483647 followed by 1 is the RFC 5424 wrap, not a finding; a gap across the wrap is a gap', () => {
    const { seq } = tracker();
    expect(feed(seq, [SEQUENCE_ID_MAX - 1, SEQUENCE_ID_MAX, 1, 2])).toEqual([]);
    expect(feed(seq, [SEQUENCE_ID_MAX - 1, 3], 'other')).toMatchObject([{ kind: 'gap', expected: SEQUENCE_ID_MAX, got: 3, missing: 3 }]);
  });

  it('streams: numberings of different hostnames behind one peer are followed separately', () => {
    const { seq } = tracker();
    const out = [
      seq.observe('relay', { sequenceId: 1, stream: 'a' }),
      seq.observe('relay', { sequenceId: 50, stream: 'b' }),
      seq.observe('relay', { sequenceId: 2, stream: 'a' }),
      seq.observe('relay', { sequenceId: 51, stream: 'b' }),
    ].flat();
    expect(out).toEqual([]);
  });

  it('counters: a source starts at 0 on its first message, so increase() sees its first finding', async () => {
    const { seq, metrics } = tracker();
    feed(seq, [1]);
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'web-01' })).toBe(0);
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web-01', kind: 'chain_break' })).toBe(0);
  });

  it('memory: streams are bounded by an LRU; an evicted stream starts a new baseline', () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const seq = new SequenceTracker(metrics, { maxStreams: 2 });
    seq.observe('a', { sequenceId: 1 });
    seq.observe('b', { sequenceId: 1 });
    seq.observe('a', { sequenceId: 2 }); // a is now the most recent
    seq.observe('c', { sequenceId: 1 }); // evicts b
    expect(seq.streams).toBe(2);
    expect(seq.observe('a', { sequenceId: 3 })).toEqual([]);
    expect(seq.observe('b', { sequenceId: 9 })).toEqual([]); // b forgotten: new baseline, no finding
  });

  it('labels: beyond the cap, the least recently used source gives up its label and its series', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const seq = new SequenceTracker(metrics, { maxSources: 1 });
    feed(seq, [1, 3], 'first');
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'first' })).toBe(1);
    feed(seq, [1, 3], 'second');
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'second' })).toBe(1);
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'first' })).toBeUndefined();
    expect((await metrics.sourceLabelsEvicted.get()).values[0]?.value).toBe(1);
  });
});

describe('SequenceTracker: streams and episodes', () => {
  const clock = { ms: 1_000_000 };
  const make = (o: { summaryIntervalMs?: number } = {}) => {
    const metrics = new Metrics({ defaultMetrics: false });
    return { metrics, seq: new SequenceTracker(metrics, { now: () => clock.ms, ...o }) };
  };
  const obs = (sequenceId: number, o: Partial<SequenceObservation> = {}): SequenceObservation => ({ sequenceId, stream: 'web-01', app: 'app', procid: '1', receivedAtMs: clock.ms, ...o });
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('episodes: a storm of anomalies is one finding, and one summary with the counts once the stream is back in order', async () => {
    const { seq, metrics } = make();
    const out = [1, 2, 3, 9, 4, 20, 6, 30, ...range(31, 45)].flatMap((n) => seq.observe('web', obs(n)));
    expect(out.map((f) => f.kind)).toEqual(['gap', 'sequence_summary']);
    const summary = out[1] as SequenceSummary;
    expect(summary).toMatchObject({ open: false, anomalies: 5, counts: { gap: 3, duplicate: 2 }, missing: 5 + 10 + 9, first: { kind: 'gap', expected: 4, got: 9 }, last: { kind: 'gap', expected: 21, got: 30 } });
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web', kind: 'gap' })).toBe(3);
    expect(await counter(metrics, 'syslog_ledger_sequence_findings_total', { source: 'web', kind: 'duplicate' })).toBe(2);
    expect(seq.episodes).toBe(0);
  });

  it('episodes: a single anomaly followed by order is its finding alone', () => {
    const { seq } = make();
    expect([1, 2, 5, ...range(6, 30)].flatMap((n) => seq.observe('web', obs(n))).map((f) => f.kind)).toEqual(['gap']);
  });

  it('episodes: while a stream stays out of order, tick() summarizes every interval; with nothing new the episode ends', () => {
    const { seq } = make({ summaryIntervalMs: 60_000 });
    clock.ms = 2_000_000;
    // 2 and 3 arrive late (duplicates), 4 after 52 too: still out of order.
    const out = [1, 50, 2, 51, 3, 52].flatMap((n) => seq.observe('web', obs(n)));
    expect(out.map((f) => f.kind)).toEqual(['gap']);
    clock.ms += 30_000;
    expect(seq.tick()).toEqual([]);
    seq.observe('web', obs(4));
    clock.ms += 30_000;
    const [periodic] = seq.tick();
    expect(periodic).toMatchObject({ kind: 'sequence_summary', open: true, anomalies: 4, sinceSummary: 3 });
    clock.ms += 61_000;
    const [closing] = seq.tick();
    expect(closing).toMatchObject({ kind: 'sequence_summary', open: false, anomalies: 4, sinceSummary: 0 });
    expect(seq.episodes).toBe(0);
  });

  it('restart: a sender whose count restarts at 500 is one finding, and a summary naming the restart', () => {
    const { seq } = make();
    const out = [...range(1, 1000), ...range(500, 1500)].flatMap((n) => seq.observe('web', obs(n)));
    expect(out.map((f) => f.kind)).toEqual(['duplicate', 'sequence_summary']);
    expect(out[1]).toMatchObject({ restartedAt: 500, anomalies: 1, open: false });
  });

  it('streams: two processes (PROCIDs) numbering apart under one hostname and app are followed apart', () => {
    const { seq } = make();
    const out = range(1, 200).flatMap((n) => [seq.observe('web', obs(n, { procid: '100' })), seq.observe('web', obs(5000 + n, { procid: '200' }))].flat());
    expect(out).toEqual([]);
  });

  it('connections: several connections feeding one stream at once are followed per connection', () => {
    const { seq } = make();
    const conns = [0, 1, 2, 3].map((c) => ({ c: `10.0.0.1:${4000 + c}`, next: c * 1000 + 1 }));
    const out: unknown[] = [];
    for (let i = 0; i < 1000; i++) for (const k of conns) if ((i + conns.indexOf(k)) % 3 !== 0 || i > 900) out.push(...seq.observe('web', obs(k.next++, { connection: k.c })));
    expect(out).toEqual([]);
  });

  it('connections: a reconnect after the old connection went quiet continues the count, so a hole across it is found', () => {
    const { seq } = make();
    range(1, 10).forEach((n) => seq.observe('web', obs(n, { connection: 'a:1' })));
    clock.ms += 30_000;
    const out = [15, 16].flatMap((n) => seq.observe('web', obs(n, { connection: 'a:2', receivedAtMs: clock.ms })));
    expect(out).toMatchObject([{ kind: 'gap', expected: 11, got: 15, missing: 4, connection: null }]);
  });

  it('connections: once one connection is left, the stream is followed as one again, across its reconnects', () => {
    const { seq } = make();
    const at = (n: number, connection: string, ms: number) => seq.observe('web', obs(n, { connection, receivedAtMs: ms }));
    const t = clock.ms;
    const out = [at(1, 'a:1', t), at(100, 'b:1', t + 1), at(2, 'a:1', t + 2), at(101, 'b:1', t + 3)].flat();
    expect(out).toEqual([]);
    // a goes away; b alone for 20 s: one stream again, from b's count.
    expect([at(102, 'b:1', t + 20_000), at(103, 'b:1', t + 20_001)].flat()).toEqual([]);
    // b reconnects as c after 30 s of quiet and has lost 104..106: a gap on the stream.
    expect(at(107, 'c:1', t + 50_000)).toMatchObject([{ kind: 'gap', expected: 104, got: 107, connection: null }]);
  });

  it('connections: interleaved on the same stream within the window, a second connection starts its own baseline', () => {
    const { seq } = make();
    const out = [
      seq.observe('web', obs(1, { connection: 'a:1' })),
      seq.observe('web', obs(700, { connection: 'a:2' })),
      seq.observe('web', obs(2, { connection: 'a:1' })),
      seq.observe('web', obs(702, { connection: 'a:2' })),
    ].flat();
    expect(out).toMatchObject([{ kind: 'gap', expected: 701, got: 702, connection: 'a:2' }]);
  });
});

describe('SequenceTracker: the seed AuditLogger hash chain', () => {
  const observeRecord = (seq: SequenceTracker, r: (typeof chain)[number]) =>
    seq.observe('app-01', { auditPrevHash: r.prev_hash, auditHash: r.hash, stream: 'app-01' });

  it('fixture: the records really are chained as the seed chains them', () => {
    expect(chain[0]!.prev_hash).toBeNull();
    for (let i = 1; i < 6; i++) expect(chain[i]!.prev_hash).toBe(chain[i - 1]!.hash);
    expect(chain[6]!.prev_hash).toBeNull();
  });

  it('an intact chain is no finding', () => {
    const { seq } = tracker();
    expect(chain.slice(0, 6).flatMap((r) => observeRecord(seq, r))).toEqual([]);
  });

  it('chain_break: a missing record breaks the chain', async () => {
    const { seq, metrics } = tracker();
    const records = [chain[0]!, chain[1]!, chain[3]!, chain[4]!];
    const findings = records.flatMap((r) => observeRecord(seq, r));
    expect(findings).toEqual([
      { kind: 'chain_break', via: 'audit_chain', source: 'app-01', stream: 'app-01', app: null, procid: null, connection: null, expected: chain[1]!.hash, got: chain[2]!.hash, atMs: 42_000 },
    ]);
    expect(await counter(metrics, 'syslog_ledger_sequence_gaps_total', { source: 'app-01' })).toBe(1);
  });

  it('chain_break: a record forking from an earlier one (a substituted record) breaks the chain', () => {
    const { seq } = tracker();
    for (const r of chain.slice(0, 4)) observeRecord(seq, r);
    const forged = { prev_hash: chain[1]!.hash, hash: 'f'.repeat(64), user: 'mallory' };
    expect(observeRecord(seq, forged)).toMatchObject([{ kind: 'chain_break', expected: chain[3]!.hash, got: chain[1]!.hash }]);
  });

  it('duplicate: a record seen again is a duplicate', () => {
    const { seq } = tracker();
    for (const r of chain.slice(0, 3)) observeRecord(seq, r);
    expect(observeRecord(seq, chain[1]!)).toMatchObject([{ kind: 'duplicate', via: 'audit_chain', got: chain[1]!.hash }]);
    expect(observeRecord(seq, chain[3]!)).toEqual([]); // the chain goes on
  });

  it('reset: a producer restarting (prev_hash null) is a reset, and its new chain is followed', () => {
    const { seq } = tracker();
    const findings = chain.flatMap((r) => observeRecord(seq, r));
    expect(findings).toMatchObject([{ kind: 'reset', via: 'audit_chain', expected: chain[5]!.hash, got: null }]);
  });

  it('interleaved producers under one stream each keep their chain', () => {
    const { seq } = tracker();
    const a = chain.slice(0, 6);
    const b = chain.slice(6);
    const order = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, a[3]!];
    const findings = order.flatMap((r) => observeRecord(seq, r));
    expect(findings.map((f) => f.kind)).toEqual(['reset']); // b's first record, while a's chain was open
  });
});

describe('observationOf / sequenceIdOf', () => {
  const parsed = (sd: ParsedMessage['syslog']['structured_data'], audit?: ParsedMessage['audit']): ParsedMessage => ({
    format: 'rfc5424',
    syslog: { facility: 1, severity: 5, timestamp: null, hostname: 'web-01', app_name: 'app', procid: null, msgid: null, structured_data: sd, message: null },
    parse_error: null,
    parse_error_reason: null,
    ...(audit ? { audit } : {}),
  });

  it('sequenceIdOf: accepts 1..2147483647 in plain decimal only', () => {
    expect(sequenceIdOf({ meta: { sequenceId: '1' } })).toBe(1);
    expect(sequenceIdOf({ meta: { sequenceId: '2147483647' } })).toBe(SEQUENCE_ID_MAX);
    for (const bad of ['0', '-1', '01', '2147483648', '1.5', ' 7', '']) expect(sequenceIdOf({ meta: { sequenceId: bad } })).toBeUndefined();
    expect(sequenceIdOf(null)).toBeUndefined();
    expect(sequenceIdOf({ origin: { ip: '1.2.3.4' } })).toBeUndefined();
  });

  it('observationOf: null when the message has no sender numbering', () => {
    expect(observationOf(parsed(null))).toBeNull();
    expect(observationOf(parsed(null, { service: 'x' }))).toBeNull();
  });

  it('observationOf: takes the sequenceId, the audit chain fields and the HOSTNAME as stream', () => {
    expect(observationOf(parsed({ meta: { sequenceId: '9' } }), 1_234_567)).toEqual({ sequenceId: 9, stream: 'web-01', app: 'app', procid: null, receivedAtMs: 1234 });
    expect(observationOf(parsed(null, { prev_hash: null, hash: 'ab' }))).toEqual({ sequenceId: null, auditPrevHash: null, auditHash: 'ab', stream: 'web-01', app: 'app', procid: null });
  });
});
