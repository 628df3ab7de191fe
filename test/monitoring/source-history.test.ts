import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCsv, formatJson } from '../../src/cli/coverage.js';
import { migrate } from '../../src/db/migrate.js';
import { isoMicros } from '../../src/ledger/copy.js';
import { coverageReport } from '../../src/monitoring/coverage.js';
import { findingToEvent, type Finding } from '../../src/monitoring/findings.js';
import { loadSourceHistory, SOURCE_PAIRS_SQL } from '../../src/monitoring/source-history.js';
import { createTestDatabase } from '../helpers/db.js';

/**
 * The ledger side of silence detection: what `serve` rebuilds at start, and the coverage report.
 * Rows are inserted directly (hash fields are placeholders: neither query reads them).
 */
const S = 1_000_000; // µs per second
const T0 = Date.UTC(2026, 10, 2, 12, 0, 0) * 1000 + 123; // µs, with a non-zero microsecond part

let seq = 0;
async function event(c: pg.Client, o: { us: number; peer: string | null; host: string | null; sans?: string[]; chain?: string }): Promise<void> {
  seq++;
  await c.query(
    `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_sans, peer_addr, format, raw, syslog, event, hostname, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, '192.0.2.1:1', 'rfc5424', '\\x00', '{}', '{}', $6, $7, $7)`,
    [o.chain ?? 'other', seq, isoMicros(o.us), o.peer, o.sans ?? [], o.host, Buffer.alloc(32, seq % 256)],
  );
}

/** A finding row as the monitor writes it (src/ledger/internal-record.ts). */
async function finding(c: pg.Client, us: number, f: Finding, chain = 'srv'): Promise<void> {
  seq++;
  const ev = findingToEvent(f);
  await c.query(
    `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_addr, format, raw, syslog, event, hostname, class_uid, activity_id, status_id, severity_id, prev_hash, hash)
     VALUES ($1, $2, $3, 'syslog-ledger', 'internal', 'internal', '\\x00', '{}', $4, $5, 2004, 1, 1, 3, $6, $6)`,
    [chain, seq, isoMicros(us), JSON.stringify(ev), f.source, Buffer.alloc(32, seq % 256)],
  );
}

const silent = (source: string, sinceUs: number | null, atUs: number): Finding => ({ kind: 'silent', source, lastSeenMs: sinceUs === null ? null : Math.floor(sinceUs / 1000), thresholdSec: 30, atMs: Math.floor(atUs / 1000), silentSinceUs: sinceUs });
const resumed = (source: string, sinceUs: number, endUs: number, atUs: number): Finding => ({ kind: 'resumed', source, lastSeenMs: Math.floor(endUs / 1000), thresholdSec: 30, atMs: Math.floor(atUs / 1000), silentSinceUs: sinceUs, resumedAtUs: endUs });

describe('source history and coverage, from the ledger', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let c: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('sl_sources');
    await migrate(db.url);
    c = new pg.Client({ connectionString: db.url });
    await c.connect();
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('rebuild: last event per peer and hostname within the look-back; server rows, old rows and open silences handled', async () => {
    await event(c, { us: T0 - 10 * 86_400 * S, peer: 'ancient', host: 'ancient' }); // before the look-back
    await event(c, { us: T0 - 100 * S, peer: 'web-01', host: 'web-01' });
    await event(c, { us: T0 - 50 * S, peer: 'web-01', host: 'web-01' });
    await event(c, { us: T0 - 40 * S, peer: 'relay', host: 'app-1' });
    await event(c, { us: T0 - 30 * S, peer: null, host: null, sans: ['DNS:san-only.example'] });
    // db-01 went silent: the server recorded the start and never the end.
    await event(c, { us: T0 - 3000 * S, peer: 'db-01', host: 'db-01' });
    await finding(c, T0 - 2960 * S, silent('db-01', T0 - 3000 * S, T0 - 2960 * S));
    // cache went silent and came back: the episode is closed.
    await finding(c, T0 - 900 * S, silent('cache', T0 - 1000 * S, T0 - 900 * S));
    await finding(c, T0 - 500 * S, resumed('cache', T0 - 1000 * S, T0 - 520 * S, T0 - 500 * S));
    // A silence recorded by another server (chain) is not this one's to continue.
    await finding(c, T0 - 800 * S, silent('web-01', T0 - 850 * S, T0 - 800 * S), 'another-server');
    // queue's silence ended, but the server stopped before it wrote `resumed`.
    await event(c, { us: T0 - 2000 * S, peer: 'queue', host: null });
    await finding(c, T0 - 1900 * S, silent('queue', T0 - 2000 * S, T0 - 1900 * S));
    await event(c, { us: T0 - 1000 * S, peer: 'queue', host: null });
    await event(c, { us: T0 - 10 * S, peer: 'queue', host: null });

    const h = await loadSourceHistory(c, { chain: 'srv', lookbackSec: 7 * 86_400, nowUs: T0 });
    const last = Object.fromEntries(h.lastEvents.map((e) => [e.source, [e.lastEventUs - T0, e.peer]]));
    expect(last).toEqual({
      'web-01': [-50 * S, true],
      relay: [-40 * S, true],
      'app-1': [-40 * S, false],
      'san-only.example': [-30 * S, true],
      'db-01': [-3000 * S, true],
      queue: [-10 * S, true],
    });
    expect([...h.openSilences].sort((a, b) => a.source.localeCompare(b.source))).toEqual([
      { source: 'db-01', silentSinceUs: T0 - 3000 * S, firstEventAfterUs: null },
      { source: 'queue', silentSinceUs: T0 - 2000 * S, firstEventAfterUs: T0 - 1000 * S },
    ]);
    expect(h.truncated).toBe(false);
  });

  it('rebuild: the pair walk is an index skip scan (EXPLAIN), never a scan of the ledger', async () => {
    // Enough rows, spread over daily partitions, that a sequential scan would be the planner's choice
    // if the query allowed one. A month after the other tests' rows (their days are in the default partition).
    const T1 = T0 + 30 * 86_400 * S;
    await c.query(
      `SELECT ledger_create_partition(d, d + interval '1 day')
         FROM generate_series(date_trunc('day', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days',
                              date_trunc('day', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', interval '1 day') d`,
      [isoMicros(T1)],
    );
    await c.query(
      `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_addr, format, raw, syslog, event, hostname, prev_hash, hash)
       SELECT 'bulk', i, $1::timestamptz - (i % 259200) * interval '1 second', 'bulk-' || (i % 40), '', 'rfc5424', '\\x00', '{}', '{}', 'h-' || (i % 40),
              '\\x0000000000000000000000000000000000000000000000000000000000000000', '\\x0000000000000000000000000000000000000000000000000000000000000000'
         FROM generate_series(1, 60000) i`,
      [isoMicros(T1)],
    );
    await c.query('ANALYZE ledger');
    const r = await c.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${SOURCE_PAIRS_SQL}`, [isoMicros(T1 - 86_400 * S), isoMicros(T1 + 60 * S), 'syslog-ledger', 1001]);
    const plan = JSON.stringify(r.rows[0]!['QUERY PLAN']);
    type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };
    const scans: PlanNode[] = [];
    const walk = (n: PlanNode): void => {
      // The ledger's partitions (ledger_connections, one row per connection, is small).
      if (n['Relation Name'] !== undefined && n['Relation Name'] !== 'ledger_connections') scans.push(n);
      for (const child of n.Plans ?? []) walk(child);
    };
    walk((r.rows[0]!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan);
    expect(scans.length).toBeGreaterThan(0);
    // Every read of a ledger partition is an index scan on the (peer, host) index: no Seq Scan, no Bitmap Heap Scan.
    expect(scans.filter((n) => !/^Index (Only )?Scan$/.test(n['Node Type'])).map((n) => `${n['Node Type']} ${n['Relation Name']}`)).toEqual([]);
    expect(scans.filter((n) => !/coalesce/.test(n['Index Name'] ?? '')).map((n) => n['Index Name'])).toEqual([]);
    // Partitions outside the range are pruned: the 3-day-old partition is never read.
    const old = `ledger_p${new Date((T1 - 3 * 86_400 * S) / 1000).toISOString().slice(0, 10).replaceAll('-', '')}`;
    expect(plan).toContain('ledger_p');
    expect(plan).not.toContain(`"Relation Name":"${old}"`);
    const h = await loadSourceHistory(c, { chain: 'srv', lookbackSec: 86_400, nowUs: T1 });
    expect(h.pairs).toBe(40);
  });

  it('coverage: counts, first and last event, silent windows from the events and the findings, sequence gaps', async () => {
    const from = T0 + 1000 * S;
    const to = from + 3600 * S;
    // alpha: events with one 90 s hole the running server also recorded (silent + resumed).
    for (const t of [0, 10, 20, 110, 120]) await event(c, { us: from + t * S, peer: 'alpha', host: 'alpha' });
    await finding(c, from + 51 * S, silent('alpha', from + 20 * S, from + 51 * S));
    await finding(c, from + 111 * S, resumed('alpha', from + 20 * S, from + 110 * S, from + 111 * S));
    // A sequence gap found in alpha's stream.
    seq++;
    await c.query(
      `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_addr, format, raw, syslog, event, hostname, class_uid, activity_id, status_id, severity_id, prev_hash, hash)
       VALUES ('srv', $1, $2, 'syslog-ledger', 'internal', 'internal', '\\x00', '{}', $3, 'alpha', 2004, 1, 1, 3, $4, $4)`,
      [seq, isoMicros(from + 115 * S), JSON.stringify(findingToEvent({ kind: 'gap', via: 'sequence_id', source: 'alpha', stream: 'alpha', app: null, procid: null, connection: null, expected: 3, got: 6, missing: 3, atMs: Math.floor((from + 115 * S) / 1000) })), Buffer.alloc(32, 1)],
    );
    // beta: sent before the period and never again: silent through it.
    await event(c, { us: from - 500 * S, peer: 'beta', host: 'beta' });
    // a relay for app-9: two sources, one row each.
    await event(c, { us: from + 5 * S, peer: 'relay-2', host: 'app-9' });
    // gamma: back after the period.
    await event(c, { us: from + 3000 * S, peer: 'gamma', host: 'gamma' });
    await event(c, { us: to + 500 * S, peer: 'gamma', host: 'gamma' });

    // delta: quiet for 1 s at the period's end; the server noticed its silence after the period.
    await event(c, { us: to - 1 * S, peer: 'delta', host: 'delta' });
    await finding(c, to + 30 * S, silent('delta', to - 1 * S, to + 30 * S));
    const report = await coverageReport(c, { fromUs: from, toUs: to, thresholdSec: 30, lookbackSec: 7 * 86_400, expectSources: ['never-seen'], nowUs: to + 10_000 * S });
    const by = Object.fromEntries(report.sources.map((s) => [s.source, s]));
    expect(by['alpha']).toMatchObject({ events: 5, firstEventUs: from, lastEventUs: from + 120 * S });
    expect(by['alpha']!.silentWindows).toEqual([
      { startUs: from + 20 * S, endUs: from + 110 * S, durationSec: 90, basis: ['events', 'findings'] },
      // From its last event to the end of the period: the period ended, the silence had not.
      { startUs: from + 120 * S, endUs: null, durationSec: 3480, basis: ['events'] },
    ]);
    expect(by['alpha']!.sequenceGaps).toMatchObject([{ type: 'sequence_gap', missing: 3, stream: 'alpha' }]);
    expect(by['beta']).toMatchObject({ events: 0, firstEventUs: null, silentWindows: [{ startUs: from - 500 * S, endUs: null, basis: ['events'] }] });
    expect(by['relay-2']).toMatchObject({ events: 1 });
    expect(by['app-9']).toMatchObject({ events: 1 });
    expect(by['gamma']!.silentWindows).toEqual([
      { startUs: from + 3000 * S, endUs: to + 500 * S, durationSec: 1100, basis: ['events'] },
    ]);
    expect(by['never-seen']).toMatchObject({ configured: true, events: 0, silentWindows: [{ startUs: null, endUs: null, durationSec: 3600, basis: ['no_events'] }] });
    expect(by['delta']).toMatchObject({ events: 1, silentWindows: [] });
    expect(report.sources.map((s) => s.source)).not.toContain('syslog-ledger');

    const json = JSON.parse(formatJson(report)) as { sources: Array<{ source: string; silent_windows: Array<{ start: string; end: string | null }> }> };
    expect(json.sources.find((s) => s.source === 'alpha')!.silent_windows[0]).toMatchObject({ start: isoMicros(from + 20 * S), end: isoMicros(from + 110 * S) });
    const csv = formatCsv(report).split('\n');
    expect(csv[0]).toBe('source,record,start,end,duration_sec,events,detail');
    expect(csv).toContain(`alpha,silent,${isoMicros(from + 20 * S)},${isoMicros(from + 110 * S)},90,,events+findings`);
    expect(csv).toContain(`alpha,sequence_gap,${isoMicros(from + 115 * S)},,,3,sequence_gap`);
  });
});
