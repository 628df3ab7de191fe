import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { toRecord } from '../../src/stages.js';
import { Metrics } from '../../src/metrics/registry.js';
import type { Redactor } from '../../src/redact/redactor.js';

const peer = { cn: 'client1.example.com', sans: [], subject: 'CN=client1.example.com', fingerprint: '', address: '127.0.0.1:1' };
const raw = Buffer.from('<13>1 - host app - - - secret\0text');
const frame = { raw, body: raw, truncated: false, framing: 'lf' as const };

describe('toRecord', () => {
  it('a stage that throws (a bug) still yields a stored record: raw kept, error recorded, counted', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const broken = { redact: () => { throw new Error('boom'); } } as unknown as Redactor;
    const r = toRecord(frame, peer, 1_714_564_800_000_000, { format: 'auto', timeZone: 'UTC', redactor: broken }, metrics);
    expect(r.format).toBe('unparsed');
    expect(r.raw).toBe(raw);
    expect(r.parseError).toMatch(/internal error while processing the frame: boom/);
    expect(r.syslog.message).not.toContain('\0');
    expect(() => canonicalJson(r.event)).not.toThrow();
    expect((await metrics.parseFailures.get()).values.find((v) => v.labels.reason === 'internal')?.value).toBe(1);
  });
});
