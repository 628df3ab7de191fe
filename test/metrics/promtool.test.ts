import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { observeCertificateExpiry } from '../../src/monitoring/certificates.js';
import { FindingBudget } from '../../src/monitoring/finding-budget.js';
import { Metrics } from '../../src/metrics/registry.js';
import { RelpMetrics } from '../../src/metrics/relp.js';
import { SequenceTracker } from '../../src/monitoring/sequence.js';
import { SourceTracker } from '../../src/monitoring/sources.js';
import { StallDetector } from '../../src/monitoring/stall.js';
import { VerifyMetrics } from '../../src/metrics/verify.js';

/**
 * The alert rules and the exposition, checked by Prometheus' own tool. CI installs it
 * (Debian package `prometheus`, by .ci/run); elsewhere these tests skip and say why.
 */
const RULES_DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const promtoolVersion = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const hasPromtool = promtoolVersion.status === 0;
if (!hasPromtool) {
  console.warn('test/metrics/promtool.test.ts: promtool not found on PATH, skipping the promtool checks (apt-get install prometheus)');
}

/**
 * What `promtool check metrics` says about prom-client's own default metrics (gauges it names
 * `*_total`). Not ours to rename; anything else, and anything about `syslog_ledger_*`, fails.
 */
const PROM_CLIENT_DEFAULTS_LINT = new Set([
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
]);

function promtool(args: string[], input?: string) {
  const r = spawnSync('promtool', args, { cwd: RULES_DIR, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A server's registry after some traffic through every stage and every tracker. */
async function renderAfterTraffic(): Promise<string> {
  const m = new Metrics();
  m.framesReceived.inc({ format: 'rfc5424' }, 10);
  m.framesReceived.inc({ format: 'unparsed' });
  m.bytesReceived.inc(4096);
  m.parseFailures.inc({ reason: 'rfc5424_header' });
  m.eventsCommitted.inc(11);
  m.batchesCommitted.inc();
  m.batchSize.observe(11);
  m.commitLatency.observe(0.012);
  m.tlsRefusals.inc({ reason: 'unknown_ca' });
  m.connectionsAccepted.inc();
  m.connectionsOpen.set(1);
  m.connectionsClosed.inc({ reason: 'peer_end' });
  m.dbErrors.inc({ kind: 'connection' });
  m.dbRetries.inc();
  m.writerQueueEvents.set(3);
  m.chainHeadSeq.set({ chain: 'host-a' }, 11);
  m.checkpointLast.set(Date.now() / 1000);
  m.verifyLastSuccess.set({ chain: 'host-a' }, Date.now() / 1000);
  m.verifyRows.inc({ chain: 'host-a' }, 11);
  m.verifyOk.set({ chain: 'host-a' }, 1);
  m.verifyFailures.inc({ chain: 'host-a', reason: 'error' });
  const sources = new SourceTracker(m, { expectSources: ['web-01', 'db-01'] });
  sources.observeCommitted('web-01', 'web-01.internal', 11);
  sources.tick();
  const seq = new SequenceTracker(m);
  for (const sequenceId of [1, 2, 5, 5, 1]) seq.observe('web-01', { sequenceId });
  const budget = new FindingBudget(m, { perMinute: 1, enqueue: () => {} });
  for (let i = 0; i < 3; i++) budget.write('web-01', 'sequence_gap', () => ({}) as never);
  new StallDetector(m, { oldestUncommittedUs: () => (Date.now() - 1500) * 1000 }).tick();
  m.certificateExpiry.set({ cert: 'server' }, Date.now() / 1000 + 86_400);
  m.certificateExpiry.set({ cert: 'ca' }, Date.now() / 1000 + 86_400 * 3650);
  const relp = new RelpMetrics(m);
  relp.sessions.inc();
  relp.sessionsOpen.set(1);
  relp.frames.inc({ command: 'syslog' }, 10);
  relp.acksOutstanding.set(2);
  relp.resends.inc(3);
  relp.violations.inc({ reason: 'no_open' });
  relp.responses.inc({ code: '200' }, 10);
  return m.registry.metrics();
}

/** Metric names used in a PromQL text (alerts, dashboard). */
function metricNamesIn(text: string): Set<string> {
  return new Set(text.match(/\bsyslog_ledger_[a-z0-9_]+/g) ?? []);
}

/** Names a rendered exposition defines, with the histogram series suffixes. */
function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
  }
  return names;
}

describe.skipIf(!hasPromtool)('promtool', () => {
  it('promtool: check rules accepts deploy/prometheus/alerts.yml', () => {
    const r = promtool(['check', 'rules', 'alerts.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('promtool: every unit test in alerts.test.yml passes', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('promtool: check metrics finds no problem in the exposition after traffic', async () => {
    const exposition = await renderAfterTraffic();
    expect(exposition).toContain('syslog_ledger_sequence_gaps_total{source="web-01"} 2');
    const r = promtool(['check', 'metrics'], exposition);
    const problems = r.out.split('\n').filter((line) => line.trim() !== '' && !PROM_CLIENT_DEFAULTS_LINT.has(line.trim()));
    expect(problems).toEqual([]);
  });

  it('promtool: every dashboard query is valid PromQL', () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/syslog-ledger.json', import.meta.url), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(20);
    // Grafana's variables replaced by what they expand to, each query checked as a recording rule.
    const rules = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*') }));
    const dir = mkdtempSync(join(tmpdir(), 'syslog-ledger-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = promtool(['check', 'rules', file]);
      expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool: check metrics finds no problem in the verify textfile', async () => {
    const v = new VerifyMetrics();
    v.record({ exitCode: 0, rowsChecked: 10, chainsChecked: 1, durationSec: 0.5, problems: {} });
    const r = promtool(['check', 'metrics'], await v.registry.metrics());
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('alert rules and dashboard stay in step with the registry', () => {
  const alerts = readFileSync(new URL('alerts.yml', `file://${RULES_DIR}`), 'utf8');
  const tests = readFileSync(new URL('alerts.test.yml', `file://${RULES_DIR}`), 'utf8');

  it('alerts: every rule has a unit test where it fires and one where it does not', () => {
    const rules = [...alerts.matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
    expect(rules.length).toBeGreaterThanOrEqual(13);
    for (const rule of rules) {
      const cases = [...tests.matchAll(new RegExp(`alertname: ${rule}\\n\\s+exp_alerts:( \\[\\])?`, 'g'))];
      expect(cases.some((c) => c[1] === undefined), `${rule} has a firing test`).toBe(true);
      expect(cases.some((c) => c[1] === ' []'), `${rule} has a not-firing test`).toBe(true);
    }
  });

  it('alerts and dashboard: every metric they query is one the server or verify exposes', async () => {
    const known = exposedNames(await renderAfterTraffic());
    for (const name of exposedNames(await new VerifyMetrics().registry.metrics())) known.add(name);
    const dashboard = readFileSync(new URL('../../deploy/grafana/syslog-ledger.json', import.meta.url), 'utf8');
    for (const [file, text] of [['alerts.yml', alerts], ['syslog-ledger.json', dashboard]] as const) {
      const unknown = [...metricNamesIn(text)].filter((n) => !known.has(n));
      expect(unknown, `${file} queries metrics nobody exposes`).toEqual([]);
    }
  });

  it('docs: docs/metrics.md documents every metric and has a section for every alert', async () => {
    const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const names = [...exposedNames(await renderAfterTraffic()), ...exposedNames(await new VerifyMetrics().registry.metrics())]
      .filter((n) => n.startsWith('syslog_ledger_') && !/_(bucket|sum|count)$/.test(n));
    expect(names.filter((n) => !docs.includes(`\`${n}\``))).toEqual([]);
    const rules = [...alerts.matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
    expect(rules.filter((r) => !docs.includes(`### ${r}\n`))).toEqual([]);
  });

  it('certificates: the expiry gauge takes the cert label the alerts expect', async () => {
    const m = new Metrics({ defaultMetrics: false });
    expect(() => observeCertificateExpiry(m, 'server', '')).toThrow();
    expect(alerts).toContain('syslog_ledger_tls_certificate_expiry_timestamp_seconds');
  });
});
