import { describe, expect, it } from 'vitest';
import { expectRefsValid, Feed, stamp } from './helpers.js';

const T0 = Date.UTC(2024, 11, 10, 10, 0, 0);

/** What the seed's AuditLogger.log_data_access writes, as rsyslog's imfile forwards it. */
function dataAccess(s: number, user: string, resource: string, operation: string, recordCount: number): string {
  const rec = { timestamp: new Date(T0 + s * 1000).toISOString(), service: 'crm-api', event_type: 'data_access', user, resource, action: operation, result: 'success', source_ip: '10.20.0.15', metadata: { record_count: recordCount }, prev_hash: null, hash: 'ab'.repeat(32) };
  return `<134>${stamp(T0 + s * 1000)} app-01 app-audit: ${JSON.stringify(rec)}`;
}

describe('detection: bulk export', () => {
  it('bulk_export: one data access above max_records fires, every time', async () => {
    const feed = new Feed();
    expect(feed.line(dataAccess(0, 'alice', 'customers', 'export', 10_000))).toEqual([]);
    const [f] = feed.line(dataAccess(10, 'alice', 'customers', 'export', 250_000));
    expect(f?.rule).toBe('bulk_export');
    expect(f?.message).toBe('user "alice" accessed 250000 records of customers in one operation (threshold 10000)');
    expect(f?.event.unmapped).toMatchObject({ syslog_ledger_detection: { record_count: 250_000, resource: 'customers', operation: 'export' } });
    expect(feed.line(dataAccess(20, 'alice', 'invoices', 'download', 20_001)).map((x) => x.rule)).toEqual(['bulk_export']);
    expect(await feed.counted('bulk_export')).toBe(2);
    expectRefsValid(feed);
  });

  it('bulk_reads: many reads by one user within the window fire once per cool-down', () => {
    const feed = new Feed({ bulk_export: { reads: 50, window: '5m' } });
    for (let i = 0; i < 49; i++) feed.line(dataAccess(i * 2, 'bob', `customer/${i}`, 'get_customer', 1));
    expect(feed.findings).toEqual([]);
    const [f] = feed.line(dataAccess(100, 'bob', 'customer/49', 'get_customer', 1));
    expect(f?.rule).toBe('bulk_reads');
    expect(f?.refs).toHaveLength(20); // max_refs, the most recent
    expect(f?.refs.at(-1)).toEqual({ chain: 'c', seq: 50 });
    for (let i = 0; i < 20; i++) feed.line(dataAccess(102 + i, 'bob', 'customer/x', 'get_customer', 1));
    expect(feed.rules()).toEqual(['bulk_reads']);
  });

  it('bulk export: near misses (writes, reads spread out, reads by many users, failed reads)', () => {
    const feed = new Feed({ bulk_export: { reads: 50, window: '5m' } });
    for (let i = 0; i < 60; i++) feed.line(dataAccess(i, 'carol', 'orders', 'update_order', 1));
    for (let i = 0; i < 60; i++) feed.line(dataAccess(1000 + i * 10, 'dave', 'orders', 'get_order', 1));
    for (let i = 0; i < 60; i++) feed.line(dataAccess(2000 + i, `user${i}`, 'orders', 'get_order', 1));
    const failed = (s: number) => dataAccess(s, 'erin', 'orders', 'export', 99_999).replace('"result":"success"', '"result":"denied"');
    feed.line(failed(3000));
    expect(feed.findings).toEqual([]);
  });
});
