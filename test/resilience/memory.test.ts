/**
 * Memory under a 30 s database outage with the default queue bounds (--queue-max-events,
 * --queue-max-bytes): RSS must stay bounded (~300 MB) whatever is offered, for small frames (the
 * events bound fills first) and large ones (the bytes bound fills first). Long (about 90 s), so
 * opt-in: SYSLOG_LEDGER_LONG_TESTS=1. docs/operations.md quotes its numbers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';
import { clientOf, ledgerCount, MiB, sampleRss, sleep, startLoad } from './load.js';

const LONG = process.env.SYSLOG_LEDGER_LONG_TESTS === '1';
const OUTAGE_MS = Number(process.env.SYSLOG_LEDGER_OUTAGE_MS ?? 30_000);
/** Extra serve options, e.g. to measure other bounds than the defaults. */
const EXTRA = (process.env.SYSLOG_LEDGER_MEMORY_ARGS ?? '').split(' ').filter(Boolean);
/** NODE_OPTIONS for the server only, e.g. --max-old-space-size=256. */
const NODE_OPTIONS = process.env.SYSLOG_LEDGER_MEMORY_NODE_OPTIONS;

describe.skipIf(!LONG)(`memory during a ${OUTAGE_MS / 1000} s database outage (default queue bounds${EXTRA.length ? ` + ${EXTRA.join(' ')}` : ''}${NODE_OPTIONS ? `, NODE_OPTIONS=${NODE_OPTIONS}` : ''})`, () => {
  let dir: string;
  let pg: EmbeddedServer;
  let server: RunningServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-memory-'));
    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: 0 });
    server = await startServer({ databaseUrl: pg.url, args: EXTRA, ...(NODE_OPTIONS ? { env: { NODE_OPTIONS } } : {}) });
  }, 120_000);
  afterAll(async () => {
    await server?.cleanup();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases = [
    { name: 'small frames (~100 B), 3,000/s', rate: 3000, pad: 0, prefix: 'memsmall' },
    { name: 'large frames (~4 KB), 1,500/s', rate: 1500, pad: 4000, prefix: 'membig' },
  ];
  const only = process.env.SYSLOG_LEDGER_MEMORY_CASES?.split(',');
  for (const c of cases.filter((x) => !only || only.includes(x.prefix))) {
    it(c.name, async () => {
      const rss = sampleRss(server.child.pid!);
      // Where the memory is, by phase: max of each gauge while the database is down, and while it drains.
      const phases: Record<string, Record<string, number>> = { steady: {}, outage: {}, drain: {} };
      let phase = 'steady';
      let sampling = true;
      const gauges = ['process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes', 'syslog_ledger_writer_queue_events', 'syslog_ledger_writer_queue_bytes'];
      const sampler = (async () => {
        while (sampling) {
          const text = await scrape(server.metricsPort).catch(() => '');
          for (const g of gauges) phases[phase]![g] = Math.max(phases[phase]![g] ?? 0, metricValue(text, g) ?? 0);
          await sleep(250);
        }
      })();
      const load = await startLoad(server.port, clientOf(server), { rate: c.rate, prefix: c.prefix, pad: c.pad });
      await sleep(1500);
      const base = rss.lastBytes;
      await pg.stop();
      phase = 'outage';
      let maxQueue = 0;
      let maxBytes = 0;
      const until = Date.now() + OUTAGE_MS;
      while (Date.now() < until) {
        const text = await scrape(server.metricsPort);
        maxQueue = Math.max(maxQueue, metricValue(text, 'syslog_ledger_writer_queue_events') ?? 0);
        maxBytes = Math.max(maxBytes, metricValue(text, 'syslog_ledger_writer_queue_bytes') ?? 0);
        await sleep(500);
      }
      // The server must still be there (a heap limit in NODE_OPTIONS that the queue does not fit in kills it).
      expect(server.child.exitCode ?? server.child.signalCode, 'server exited during the outage').toBeNull();
      const heap = metricValue(await scrape(server.metricsPort), 'nodejs_heap_size_used_bytes') ?? 0;
      pg = await startEmbeddedPostgres({ dataDir: pg.dataDir, port: pg.port });
      phase = 'drain';
      await load.stop();
      await waitFor(async () => (await ledgerCount(server.databaseUrl, c.prefix)) >= load.written, 120_000, 500);
      rss.stop();
      sampling = false;
      await sampler;
      const mib = (v: number | undefined): string => `${((v ?? 0) / MiB).toFixed(0)}`;
      for (const [name, g] of Object.entries(phases)) {
        console.log(`[memory] ${c.name} ${name}: RSS ${mib(g.process_resident_memory_bytes)} MiB, heap total ${mib(g.nodejs_heap_size_total_bytes)} / used ${mib(g.nodejs_heap_size_used_bytes)} MiB, external ${mib(g.nodejs_external_memory_bytes)} MiB, queue ${g.syslog_ledger_writer_queue_events ?? 0} events / ${mib(g.syslog_ledger_writer_queue_bytes)} MiB`);
      }
      console.log(
        `[memory] ${c.name}: offered ${load.written} events; during the outage the queue peaked at ${maxQueue} events / ${(maxBytes / MiB).toFixed(1)} MiB; ` +
          `RSS ${(base / MiB).toFixed(0)} MiB before, max ${(rss.maxBytes / MiB).toFixed(0)} MiB; heap used at the end of the outage ${(heap / MiB).toFixed(0)} MiB; all ${load.written} committed afterwards`,
      );
      expect(rss.maxBytes).toBeLessThan(300 * MiB);
    }, OUTAGE_MS + 180_000);
  }
});
