/**
 * `serve --workers 1` end to end: every frame is one row, in the order sent; the rows verify; the
 * events the view gives back match what the inline path stores; metrics counted in the worker
 * (frames received, parse failures) and the monitor's sequence gaps reach /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.js';
import { toRecord } from '../../src/stages.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

const CN = 'client1.example.com';
const N = 3000;

function frame(i: number): string {
  if (i % 3 === 0) return `<134>1 2026-11-28T12:00:00.000001Z web-1.example.com app 1 - [meta sequenceId="${i === 2997 ? 99999 : i / 3 + 1}"] event ${i} user=alice\n`;
  if (i % 3 === 1) return `<38>Nov 28 12:00:01 bastion sshd[${i}]: Failed password for bob from 10.0.0.${i % 250} port 22 ssh2\n`;
  return i % 30 === 2 ? `not syslog ${i}\n` : `{"timestamp":"2026-11-28T12:00:07Z","service":"s","user":"carol","n":${i}}\n`;
}

describe('serve --workers 1', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ args: ['--workers', '1'] });
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  it('stores every frame in order, verifiably, with worker metrics on /metrics', async () => {
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(socket, Array.from({ length: N }, (_, i) => frame(i)).join(''));
    await waitFor(async () => {
      const r = await query<{ n: string }>(server.databaseUrl, `SELECT count(*) AS n FROM ledger WHERE format <> 'internal'`);
      return Number(r[0]!.n) === N ? true : undefined;
    }, 60_000);
    const rows = await query<{ raw: Buffer; format: string }>(server.databaseUrl, `SELECT raw, format FROM ledger WHERE format <> 'internal' ORDER BY seq`);
    expect(rows.map((r) => r.raw.toString('utf8'))).toEqual(Array.from({ length: N }, (_, i) => frame(i).slice(0, -1)));
    // Each row's format is the one the inline stages give the same frame.
    const metrics = new Metrics({ defaultMetrics: false });
    const peer = { cn: CN, sans: [], subject: '', fingerprint: '', address: '' };
    const inline = Array.from({ length: N }, (_, i) => {
      const raw = Buffer.from(frame(i).slice(0, -1));
      return toRecord({ raw, body: raw, truncated: false, framing: 'lf' }, peer, 0, { format: 'auto', timeZone: 'UTC' }, metrics).format;
    });
    expect(rows.map((r) => r.format)).toEqual(inline);
    expect(new Set(inline).size).toBeGreaterThanOrEqual(3);
    // The view assembles the event from the prepared row: the message and the mapped user are there.
    const ev = await query<{ event: Record<string, unknown> }>(server.databaseUrl, `SELECT o.event FROM ocsf_events o JOIN ledger l USING (chain, seq) WHERE l.raw = convert_to($1, 'UTF8')`, [frame(4).slice(0, -1)]);
    expect(ev[0]?.event.message).toBe(frame(4).slice(0, -1).replace(/^.*?sshd\[4\]: /, ''));
    const text = await scrape(server.metricsPort);
    expect(metricValue(text, 'syslog_ledger_frames_received_total', { format: 'rfc3164' })).toBe(inline.filter((f) => f === 'rfc3164').length);
    // The jump to sequenceId 99999 is a gap the monitor saw through the worker's observation.
    await waitFor(async () => (metricValue(await scrape(server.metricsPort), 'syslog_ledger_sequence_gaps_total', { source: CN }) ? true : undefined));
    const v = await server.cli(['verify']);
    expect(v.code).toBe(0);
  });
});
