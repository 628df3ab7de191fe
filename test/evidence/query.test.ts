import { describe, expect, it } from 'vitest';
import { absoluteTime, describeQuery, isFiltered, statusId, type EvidenceQuery } from '../../src/evidence/query.js';
import { db as qb } from '../../src/ledger/db.js';
import { predicate } from '../../src/evidence/query.js';

const NOW = Date.parse('2026-12-06T12:00:00.000Z');

describe('export query', () => {
  it('times: absolute RFC 3339 in any zone, a date alone, now and times ago all become absolute UTC', () => {
    expect(absoluteTime('--from', '2026-12-01T10:00:00+02:00', NOW)).toBe('2026-12-01T08:00:00.000Z');
    expect(absoluteTime('--from', '2026-12-01', NOW)).toBe('2026-12-01T00:00:00.000Z');
    expect(absoluteTime('--from', '2026-12-01T10:00:00', NOW)).toBe('2026-12-01T10:00:00.000Z');
    expect(absoluteTime('--to', 'now', NOW)).toBe('2026-12-06T12:00:00.000Z');
    expect(absoluteTime('--from', '24h', NOW)).toBe('2026-12-05T12:00:00.000Z');
    expect(absoluteTime('--from', '-7d', NOW)).toBe('2026-11-29T12:00:00.000Z');
    expect(absoluteTime('--from', 'now-30m', NOW)).toBe('2026-12-06T11:30:00.000Z');
    expect(absoluteTime('--from', '2w ago', NOW)).toBe('2026-11-22T12:00:00.000Z');
    expect(() => absoluteTime('--from', 'yesterday', NOW)).toThrow(/--from: expects an RFC 3339 time/);
    expect(() => absoluteTime('--from', '2026-13-45', NOW)).toThrow(/--from/);
  });

  it('status: names and OCSF ids', () => {
    expect(statusId('failure')).toBe(2);
    expect(statusId('Success')).toBe(1);
    expect(statusId('99')).toBe(99);
    expect(() => statusId('bad')).toThrow(/--status/);
  });

  it('predicate: only time and chain make a complete export; the predicate compiles to one parameterized WHERE', () => {
    const base: EvidenceQuery = { by: 'event', from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z', given: { from: null, to: null }, host: null, user: null, class_uid: null, status_id: null, chain: 'web' };
    expect(isFiltered(base)).toBe(false);
    const q = { ...base, by: 'received' as const, user: "o'brien", class_uid: 3002 };
    expect(isFiltered(q)).toBe(true);
    const c = qb.selectFrom('ledger').select('seq').where((eb) => predicate(eb, q)).compile();
    expect(c.sql).toBe('select "seq" from "ledger" where ("received_at" >= $1::timestamptz and "received_at" < $2::timestamptz and "chain" = $3 and ("user_name" = $4 or "actor_user" = $5) and "class_uid" = $6)');
    expect(c.parameters).toEqual(['2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z', 'web', "o'brien", "o'brien", 3002]);
    expect(describeQuery(q)).toBe('2026-12-01T00:00:00.000Z <= received_at < 2026-12-02T00:00:00.000Z AND chain = "web" AND (user_name = "o\'brien" OR actor_user = "o\'brien") AND class_uid = 3002');
  });
});
