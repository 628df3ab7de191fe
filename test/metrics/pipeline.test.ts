import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { earliestExpiryMs, observeCertificateExpiry } from '../../src/monitoring/certificates.js';
import { FINDING_CLASS_UID, findingToEvent } from '../../src/monitoring/findings.js';
import { Metrics } from '../../src/metrics/registry.js';
import { SequenceTracker } from '../../src/monitoring/sequence.js';
import { StallDetector } from '../../src/monitoring/stall.js';
import { writeVerifyMetricsFile } from '../../src/metrics/verify.js';

const tmp = mkdtempSync(join(tmpdir(), 'syslog-ledger-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('StallDetector', () => {
  it('stall: the oldest uncommitted age is exported, and stalled flips once past the threshold', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let now = 100_000;
    let oldest: number | null = null;
    const stall = new StallDetector(m, { oldestUncommittedUs: () => (oldest === null ? null : oldest * 1000), thresholdSec: 60, now: () => now });
    expect(stall.tick()).toEqual({ ageSec: 0, stalled: false, changed: false });
    oldest = now;
    now += 60_000;
    expect(stall.tick()).toEqual({ ageSec: 60, stalled: false, changed: false });
    now += 500;
    expect(stall.tick()).toEqual({ ageSec: 60.5, stalled: true, changed: true });
    expect((await m.oldestUncommittedAge.get()).values[0]?.value).toBe(60.5);
    expect((await m.pipelineStalled.get()).values[0]?.value).toBe(1);
    expect(stall.tick().changed).toBe(false);
    oldest = null;
    expect(stall.tick()).toEqual({ ageSec: 0, stalled: false, changed: true });
    expect((await m.pipelineStalled.get()).values[0]?.value).toBe(0);
  });
});

describe.skipIf(!hasOpenssl())('certificate expiry', () => {
  function selfSigned(name: string, days: number): string {
    const key = join(tmp, `${name}.key`);
    const cert = join(tmp, `${name}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${name}`], { stdio: 'ignore' });
    return readFileSync(cert, 'utf8');
  }
  function notAfterMs(pem: string): number {
    const out = execFileSync('openssl', ['x509', '-noout', '-enddate'], { input: pem }).toString();
    return Date.parse(out.trim().replace(/^notAfter=/, ''));
  }

  it('certificates: the gauge holds notAfter, and for a CA bundle the earliest of its certificates', async () => {
    const longLived = selfSigned('ca-old', 3650);
    const shortLived = selfSigned('ca-new', 10);
    const m = new Metrics({ defaultMetrics: false });
    observeCertificateExpiry(m, 'ca', longLived + shortLived);
    observeCertificateExpiry(m, 'server', longLived);
    const values = (await m.certificateExpiry.get()).values;
    expect(values.find((v) => v.labels.cert === 'ca')?.value).toBe(notAfterMs(shortLived) / 1000);
    expect(values.find((v) => v.labels.cert === 'server')?.value).toBe(notAfterMs(longLived) / 1000);
    expect(earliestExpiryMs(shortLived) - Date.now()).toBeGreaterThan(9 * 86_400_000);
  });

  it('certificates: a file without a certificate is an error, not a silent 0', () => {
    expect(() => earliestExpiryMs('not a certificate')).toThrow(/no PEM certificate/);
  });
});

describe('findingToEvent', () => {
  it('findings: a sequence gap becomes an OCSF 2004 Detection Finding carrying every detail', () => {
    const seq = new SequenceTracker(new Metrics({ defaultMetrics: false }));
    seq.observe('web-01', { sequenceId: 1, stream: 'web-01' });
    const [gap] = seq.observe('web-01', { sequenceId: 5, stream: 'web-01', receivedAtMs: 1_700_000_000_123 });
    const event = findingToEvent(gap!);
    expect(event).toMatchObject({
      class_uid: FINDING_CLASS_UID,
      category_uid: 2,
      activity_id: 1,
      type_uid: 200401,
      severity_id: 3,
      status_id: 1,
      time: 1_700_000_000_123,
      is_alert: true,
      device: { hostname: 'web-01' },
      finding_info: { title: 'Sender sequence gap: messages missing', types: ['sequence_gap'] },
      unmapped: { syslog_ledger_finding: { kind: 'gap', via: 'sequence_id', source: 'web-01', expected: 2, got: 5, missing: 3 } },
    });
    expect(event.message).toBe('web-01: sequenceId 5 arrived where 2 was expected; 3 message(s) missing');
    expect(findingToEvent(gap!)).toEqual(event); // deterministic
    expect((event.finding_info as { uid: string }).uid).toMatch(/^[0-9a-f]{32}$/);
  });

  it('findings: silence changes map too; a reset is informational and not an alert', () => {
    const silent = findingToEvent({ kind: 'silent', source: 'db-01', lastSeenMs: null, thresholdSec: 300, atMs: 1 });
    expect(silent).toMatchObject({ severity_id: 3, is_alert: true, finding_info: { types: ['source_silent'] } });
    expect(silent.message).toContain('never since start');
    const reset = findingToEvent({ kind: 'reset', via: 'audit_chain', source: 'a', stream: null, app: null, procid: null, connection: null, expected: 'x', got: null, atMs: 1 });
    expect(reset).toMatchObject({ severity_id: 1, is_alert: false, finding_info: { types: ['audit_chain_reset'] } });
  });
});

describe('verify metrics file', () => {
  it('verify: the textfile holds the result and nothing else', async () => {
    const path = join(tmp, 'verify.prom');
    await writeVerifyMetricsFile(path, { exitCode: 1, rowsChecked: 1234, chainsChecked: 2, durationSec: 3.5, problems: { hash_mismatch: 1 }, finishedAtMs: 1_700_000_000_000 });
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('syslog_ledger_verify_exit_code 1');
    expect(text).toContain('syslog_ledger_verify_last_run_timestamp_seconds 1700000000');
    expect(text).toContain('syslog_ledger_verify_rows_checked 1234');
    expect(text).toContain('syslog_ledger_verify_problems{kind="hash_mismatch"} 1');
    expect(text).not.toMatch(/^(process|nodejs)_/m);
  });
});
