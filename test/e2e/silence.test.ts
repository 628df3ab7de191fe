import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/ledger/copy.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

/**
 * Issue 28: every source that has ever sent is watched, across restarts. Three real mTLS senders
 * (three certificates, three HOSTNAMEs), learned with the default `--learn-sources 7d`, and a 2 s
 * silence threshold. Margins are generous: the machine is shared and slow.
 */
const SENDERS = [
  { cn: 'sender-a.example.com', host: 'host-a' },
  { cn: 'sender-b.example.com', host: 'host-b' },
  { cn: 'sender-c.example.com', host: 'host-c' },
] as const;
const C = SENDERS[2];
const THRESHOLD_MS = 2000;
const MARGIN_MS = 10_000;

interface FindingDetails {
  kind: string;
  source: string;
  silent_since_us?: number;
  resumed_at_us?: number;
}

describe('silent sources: learned, ledgered once per episode, kept across a restart, reported by coverage', () => {
  let server: RunningServer;
  let keepSending = true;
  /** Senders the background loop keeps sending from. */
  const sending = new Set<number>([0, 1]);
  let background: Promise<void> | undefined;

  const send = async (i: number, text = 'hello'): Promise<void> => {
    const s = SENDERS[i]!;
    const client = server.pki.clients[i]!;
    const socket = await connect(server.port, { cert: client.cert, key: client.key, ca: server.pki.ca });
    await sendAndClose(socket, `<134>1 ${new Date().toISOString()} ${s.host} app - - - ${text}\n`);
  };
  const findings = async (type: string, source: string): Promise<FindingDetails[]> =>
    (
      await query<{ f: FindingDetails }>(
        server.databaseUrl,
        `SELECT event -> 'unmapped' -> 'syslog_ledger_finding' AS f FROM ledger
          WHERE format = 'internal' AND class_uid = 2004
            AND event #>> '{finding_info,types,0}' = $1 AND event #>> '{unmapped,syslog_ledger_finding,source}' = $2
          ORDER BY received_at, seq`,
        [type, source],
      )
    ).map((r) => r.f);
  const silentValue = async (source: string): Promise<number | undefined> => metricValue(await scrape(server.metricsPort), 'syslog_ledger_source_silent', { source });

  beforeAll(async () => {
    server = await startServer({ clients: SENDERS.map((s) => ({ cn: s.cn })), args: ['--silence-threshold', `${THRESHOLD_MS / 1000}s`] });
  });
  afterAll(async () => {
    keepSending = false;
    await background;
    await server?.cleanup();
  });

  it('all three send, one stops; the other two keep sending through a restart; the stopped one is silent, once, before and after the restart; it resumes with one finding; coverage shows the window', async () => {
    const startUs = Date.now() * 1000 - 1_000_000;
    await Promise.all(SENDERS.map((_, i) => send(i)));
    // Learned: every peer name and HOSTNAME is expected, and none is silent.
    await waitFor(async () => {
      const text = await scrape(server.metricsPort);
      return SENDERS.every((s) => metricValue(text, 'syslog_ledger_source_silent', { source: s.cn }) === 0 && metricValue(text, 'syslog_ledger_source_silent', { source: s.host }) === 0);
    }, 15_000);
    expect(metricValue(await scrape(server.metricsPort), 'syslog_ledger_sources_expected', { how: 'learned' })).toBe(6);

    // a and b keep sending (and reconnect after the restart); c stops now.
    background = (async () => {
      while (keepSending) {
        await Promise.all([...sending].map((i) => send(i, 'tick'))).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const stoppedAt = Date.now();
    await waitFor(async () => (await silentValue(C.cn)) === 1, THRESHOLD_MS + MARGIN_MS, 100);
    expect(Date.now() - stoppedAt).toBeLessThan(THRESHOLD_MS + MARGIN_MS);
    const [silent] = await waitFor(async () => {
      const f = await findings('source_silent', C.cn);
      return f.length > 0 ? f : undefined;
    }, 15_000);
    const [lastBefore] = await query<{ us: string }>(
      server.databaseUrl,
      `SELECT (extract(epoch FROM max(received_at)) * 1000000)::bigint::text AS us FROM ledger_rows WHERE peer_cn = $1 AND format <> 'internal'`,
      [C.cn],
    );
    // The silence starts at c's last event, exactly as the ledger has it.
    expect(silent!.silent_since_us).toBe(Number(lastBefore!.us));
    expect(await waitFor(async () => ((await findings('source_silent', C.host)).length === 1 ? true : undefined), 15_000)).toBe(true);

    // Restart with no traffic from c: still expected, silent on the first scrape, and no second finding.
    await server.restart();
    const text = await scrape(server.metricsPort);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: C.cn })).toBe(1);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: C.host })).toBe(1);
    expect(metricValue(text, 'syslog_ledger_sources_expected', { how: 'learned' })).toBe(6);
    // c's two names at least (a and b could flap on a slow machine; c cannot).
    expect(Number(server.logs.find((l) => l.msg === 'sources rebuilt from the ledger')?.openSilences)).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, THRESHOLD_MS + 1500));
    expect(await findings('source_silent', C.cn)).toHaveLength(1);
    expect(await silentValue(C.cn)).toBe(1);

    // c sends again: resumed, with one finding whose window matches the silent one and the ledger.
    await send(2, 'back');
    sending.add(2); // and keeps sending, so it stays resumed however slow the machine
    await waitFor(async () => (await silentValue(C.cn)) === 0, 15_000);
    const resumed = await waitFor(async () => {
      const f = await findings('source_resumed', C.cn);
      return f.length > 0 ? f : undefined;
    }, 15_000);
    const [firstAfter] = await query<{ us: string }>(
      server.databaseUrl,
      `SELECT (extract(epoch FROM min(received_at)) * 1000000)::bigint::text AS us FROM ledger_rows WHERE peer_cn = $1 AND format <> 'internal' AND received_at > $2::timestamptz`,
      [C.cn, isoMicros(silent!.silent_since_us!)],
    );
    expect(resumed).toHaveLength(1);
    expect(resumed[0]).toMatchObject({ silent_since_us: silent!.silent_since_us, resumed_at_us: Number(firstAfter!.us) });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await findings('source_resumed', C.cn)).toHaveLength(1);
    expect(await findings('source_silent', C.cn)).toHaveLength(1);

    // coverage: the silent window, start and end as the findings say.
    keepSending = false;
    await background;
    const to = isoMicros(resumed[0]!.resumed_at_us! + 1_000_000);
    const cov = await server.cli(['coverage', '--from', isoMicros(startUs), '--to', to, '--silence-threshold', '2s', '--format', 'json']);
    expect(cov.stderr).toBe('');
    expect(cov.code).toBe(0);
    const report = JSON.parse(cov.stdout) as { sources: Array<{ source: string; events: number; silent_windows: Array<{ start_us: number; end_us: number | null; basis: string[] }> }> };
    for (const name of [C.cn, C.host]) {
      const source = report.sources.find((s) => s.source === name);
      expect(source, name).toBeDefined();
      expect(source!.events).toBeGreaterThanOrEqual(2);
      expect(source!.silent_windows).toEqual([
        expect.objectContaining({ start_us: silent!.silent_since_us, end_us: resumed[0]!.resumed_at_us, basis: ['events', 'findings'] }),
      ]);
    }
    const table = await server.cli(['coverage', '--from', isoMicros(startUs), '--to', to, '--silence-threshold', '2s', '--format', 'table']);
    expect(table.stdout).toContain(`silent  ${isoMicros(silent!.silent_since_us!)} -> ${isoMicros(resumed[0]!.resumed_at_us!)}`);

    const v = await server.cli(['verify']);
    expect(v.code).toBe(0);
  });
});

describe('the inventory file: sources that must send, re-read on SIGHUP', () => {
  let server: RunningServer;
  let dir: string;

  afterAll(async () => {
    await server?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--expect-sources-file: listed sources are expected before they ever send; a SIGHUP adds and removes them, the removal on the record', async () => {
    dir = mkdtempSync(join(tmpdir(), 'syslog-ledger-inventory-'));
    const file = join(dir, 'inventory.txt');
    writeFileSync(file, '# hosts that must log\nbilling-01\n\npayroll-01  # PCI scope\n');
    server = await startServer({ args: ['--expect-sources-file', file, '--learn-sources', '0'] });
    let text = await scrape(server.metricsPort);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: 'billing-01' })).toBe(0);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: 'payroll-01' })).toBe(0);
    expect(metricValue(text, 'syslog_ledger_sources_expected', { how: 'configured' })).toBe(2);
    expect(metricValue(text, 'syslog_ledger_sources_expected', { how: 'learned' })).toBe(0);

    writeFileSync(file, 'billing-01\nhr-01\n');
    server.child.kill('SIGHUP');
    text = await waitFor(async () => {
      const t = await scrape(server.metricsPort);
      return metricValue(t, 'syslog_ledger_source_silent', { source: 'hr-01' }) === 0 ? t : undefined;
    }, 15_000);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: 'payroll-01' })).toBeUndefined();
    expect(metricValue(text, 'syslog_ledger_sources_expected', { how: 'configured' })).toBe(2);
    const forgotten = await waitFor(async () => {
      const r = await query<{ f: { source: string; reason: string } }>(
        server.databaseUrl,
        `SELECT event -> 'unmapped' -> 'syslog_ledger_finding' AS f FROM ledger_rows WHERE format = 'internal' AND event #>> '{finding_info,types,0}' = 'source_forgotten'`,
      );
      return r.length ? r : undefined;
    }, 15_000);
    expect(forgotten.map((r) => r.f)).toMatchObject([{ source: 'payroll-01', reason: 'unconfigured' }]);

    // An unreadable file refuses the whole reload; the configured sources stay.
    rmSync(file);
    server.child.kill('SIGHUP');
    await waitFor(async () => server.logs.some((l) => String(l.msg).startsWith('SIGHUP: reload refused')), 15_000);
    expect(metricValue(await scrape(server.metricsPort), 'syslog_ledger_source_silent', { source: 'hr-01' })).toBe(0);
  });
});
