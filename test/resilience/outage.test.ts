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
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';
import { clientOf, ledgerCount, ledgerIndexes, MiB, readyz, sampleRss, sleep, startLoad, tally } from './load.js';

const RATE = 500;
const OUTAGE_MS = 11_000;

describe('database outage', () => {
  let dir: string;
  let pg: EmbeddedServer;
  let server: RunningServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-outage-'));
    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: 0 });
    // A small queue so that a 10 s outage at 500 events/s fills it and backpressure shows.
    server = await startServer({ databaseUrl: pg.url, args: ['--queue-max-events', '2000', '--batch-size', '500'] });
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
});
