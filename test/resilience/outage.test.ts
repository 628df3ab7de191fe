/**
 * Database outage under continuous load: the server's PostgreSQL (a cluster this test starts) is
 * stopped for more than 10 s and started again. Every event sent must end up in the ledger once,
 * in order, with the chain intact; meanwhile /readyz says 503, backpressure engages, RSS stays bounded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';
import { clientOf, frame, ledgerCount, ledgerIndexes, MiB, readyz, sampleRss, sleep, startLoad, tally } from './load.js';

const RATE = 500;
const OUTAGE_MS = 11_000;
const SHUTDOWN_TIMEOUT_MS = 3000;

describe('database outage', () => {
  let dir: string;
  let pg: EmbeddedServer;
  let server: RunningServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-outage-'));
    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: 0 });
    // A small queue so that a 10 s outage at 500 events/s fills it and backpressure shows.
    server = await startServer({ databaseUrl: pg.url, args: ['--queue-max-events', '2000', '--batch-size', '500', '--shutdown-timeout', `${SHUTDOWN_TIMEOUT_MS}ms`] });
  }, 120_000);
  afterAll(async () => {
    await server?.cleanup();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('commits every event sent across a >10 s outage once, in order; readyz 503 and backpressure meanwhile; RSS bounded', async () => {
    const rss = sampleRss(server.child.pid!);
    const load = await startLoad(server.port, clientOf(server), { rate: RATE, prefix: 'outage' });
    await sleep(1500);
    const seen = { readyz503: false, backpressure: false, maxQueue: 0, readyzBefore: await readyz(server.metricsPort) };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        if ((await readyz(server.metricsPort)) === 503) seen.readyz503 = true;
        const text = await scrape(server.metricsPort).catch(() => '');
        if (metricValue(text, 'syslog_ledger_backpressure_active') === 1) seen.backpressure = true;
        seen.maxQueue = Math.max(seen.maxQueue, metricValue(text, 'syslog_ledger_writer_queue_events') ?? 0);
        await sleep(250);
      }
    })();

    const downAt = Date.now();
    await pg.stop();
    await sleep(OUTAGE_MS);
    const writtenDuringOutage = load.written;
    pg = await startEmbeddedPostgres({ dataDir: pg.dataDir, port: pg.port });
    const downMs = Date.now() - downAt;
    await sleep(2000);
    await load.stop();
    const sent = load.written;
    const recoverAt = Date.now();
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'outage')) >= sent, 60_000, 250);
    const catchUpMs = Date.now() - recoverAt;
    polling = false;
    await poller;
    rss.stop();

    const t = tally(await ledgerIndexes(server.databaseUrl, 'outage'), sent);
    const verify = await server.cli(['verify']);
    console.log(
      `[outage] sent ${sent} (${writtenDuringOutage} by the end of the outage), stored ${t.stored}, missing ${t.missing}, ` +
        `duplicates ${t.duplicates}, out of order ${t.outOfOrder}; database down ${downMs} ms; caught up ${catchUpMs} ms after load stopped; ` +
        `readyz before ${seen.readyzBefore}, 503 seen ${seen.readyz503}; backpressure seen ${seen.backpressure}, max queue ${seen.maxQueue}; ` +
        `max RSS ${(rss.maxBytes / MiB).toFixed(0)} MiB; verify exit ${verify.code}`,
    );
    expect(load.closedByServer).toBe(false);
    expect(t).toEqual({ stored: sent, missing: 0, duplicates: 0, outOfOrder: 0, through: sent });
    expect(downMs).toBeGreaterThanOrEqual(10_000);
    expect(seen.readyzBefore).toBe(200);
    expect(seen.readyz503).toBe(true);
    expect(seen.backpressure).toBe(true);
    expect(await readyz(server.metricsPort)).toBe(200);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(rss.maxBytes).toBeLessThan(300 * MiB);
  }, 120_000);

  /** Sends `n` frames while the database is down and waits until the server has received them. */
  async function sendWhileDown(prefix: string, n: number): Promise<void> {
    const received = async (): Promise<number> => metricValue(await scrape(server.metricsPort), 'syslog_ledger_frames_received_total', { format: 'rfc5424' }) ?? 0;
    const before = await received();
    const socket = await connect(server.port, clientOf(server));
    await sendAndClose(socket, Array.from({ length: n }, (_, i) => frame(prefix, i)).join(''));
    await waitFor(async () => (await received()) >= before + n, 10_000);
  }

  it('SIGTERM while the database is down: --shutdown-timeout forces the exit and logs how many events were not committed', async () => {
    await pg.stop();
    await sendWhileDown('forced', 100);
    const from = server.logs.length;
    const t0 = Date.now();
    const code = await server.stop('SIGTERM');
    const ms = Date.now() - t0;
    const line = server.logs.slice(from).find((l) => l.msg === 'shutdown timed out: forced exit');
    console.log(`[outage] SIGTERM with the database down: exit ${code} after ${ms} ms; logged notCommitted ${String(line?.notCommitted)}`);
    expect(code).toBe(1);
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3000);
    expect(line?.notCommitted).toBe(100);
  }, 60_000);

  it('a second SIGTERM forces the exit at once and logs how many events were not committed', async () => {
    pg = await startEmbeddedPostgres({ dataDir: pg.dataDir, port: pg.port });
    await server.restart();
    await pg.stop();
    await sendWhileDown('second', 50);
    const from = server.logs.length;
    const child = server.child;
    const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    // A repeat within REPEATED_SIGNAL_MS (1 s) is the same stop (npm forwarding the group's signal).
    await sleep(1300);
    const t1 = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    const ms = Date.now() - t1;
    const line = server.logs.slice(from).find((l) => l.msg === 'second signal: forced exit');
    console.log(`[outage] second SIGTERM: exit ${code} ${ms} ms after it (${t1 - t0} ms after the first); logged notCommitted ${String(line?.notCommitted)}`);
    expect(code).toBe(1);
    expect(ms).toBeLessThan(2000);
    expect(line?.notCommitted).toBe(50);

    // What was reported lost is what is missing; the chain is intact.
    pg = await startEmbeddedPostgres({ dataDir: pg.dataDir, port: pg.port });
    await server.restart();
    expect(await ledgerCount(server.databaseUrl, 'forced')).toBe(0);
    expect(await ledgerCount(server.databaseUrl, 'second')).toBe(0);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 90_000);

  it('idle: /readyz turns 503 when the database goes away and 200 when it is back, with no traffic', async () => {
    expect(await readyz(server.metricsPort)).toBe(200);
    await pg.stop();
    const t0 = Date.now();
    await waitFor(async () => (await readyz(server.metricsPort)) === 503, 10_000, 100);
    const downMs = Date.now() - t0;
    pg = await startEmbeddedPostgres({ dataDir: pg.dataDir, port: pg.port });
    const t1 = Date.now();
    await waitFor(async () => (await readyz(server.metricsPort)) === 200, 15_000, 100);
    console.log(`[outage] idle: /readyz 503 ${downMs} ms after the database stopped, 200 ${Date.now() - t1} ms after it was back`);
  }, 60_000);
});
