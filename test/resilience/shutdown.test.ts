/**
 * Shutdown under load. SIGTERM: every event a client wrote before the server ended its connection
 * is committed, and the server exits 0. kill -9: measured, not guaranteed: what the server held in
 * memory (and the kernel in socket buffers) is lost; the chain stays intact and verifiable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';
import { clientOf, ledgerCount, ledgerIndexes, sleep, startLoad, tally } from './load.js';

const RATE = 1000;
const CLIENTS = 2;

describe('shutdown under load', () => {
  let server: RunningServer;
  const results: string[] = [];

  beforeAll(async () => {
    server = await startServer({ clients: [{ cn: 'client1.example.com' }, { cn: 'client2.example.com' }] });
  }, 120_000);
  afterAll(async () => {
    console.log(results.map((r) => `[shutdown] ${r}`).join('\n'));
    await server?.cleanup();
  });

  const files = (i: number) => clientOf(server, server.pki.clients[i]!.cert, server.pki.clients[i]!.key);

  it('SIGTERM: every event written before the server closed the connection is committed; exit 0', async () => {
    const loads = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => startLoad(server.port, files(i), { rate: RATE, prefix: `term${i}` })));
    await sleep(2000);
    const t0 = Date.now();
    const code = await server.stop('SIGTERM');
    const exitMs = Date.now() - t0;
    await Promise.all(loads.map((l) => l.stop()));
    expect(code).toBe(0);
    for (const [i, l] of loads.entries()) {
      expect(l.closedByServer).toBe(true);
      const before = l.writtenBeforeServerClose!;
      const t = tally(await ledgerIndexes(server.databaseUrl, `term${i}`), before);
      results.push(
        `SIGTERM client ${i}: wrote ${before} before the server's FIN (${l.flushedBeforeServerClose} flushed), ${l.written} in all; ` +
          `stored ${t.stored}, missing ${t.missing}, duplicates ${t.duplicates}; server exited ${code} after ${exitMs} ms`,
      );
      expect(t.missing).toBe(0);
      expect(t.duplicates).toBe(0);
      expect(t.outOfOrder).toBe(0);
    }
    await server.restart();
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 60_000);

  it('kill -9 under load: measures what is lost; the chain stays intact and the server resumes it', async () => {
    const loads = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => startLoad(server.port, files(i), { rate: RATE, prefix: `kill${i}` })));
    await sleep(2000);
    const text = await scrape(server.metricsPort);
    const pending = metricValue(text, 'syslog_ledger_writer_queue_events') ?? 0;
    const received = metricValue(text, 'syslog_ledger_frames_received_total', { format: 'rfc5424' }) ?? 0;
    const committed = metricValue(text, 'syslog_ledger_events_committed_total') ?? 0;
    await kill9(server);
    await Promise.all(loads.map((l) => l.stop()));
    await server.restart();
    let lostTotal = 0;
    let flushedTotal = 0;
    for (const [i, l] of loads.entries()) {
      const flushed = l.flushedBeforeServerClose ?? l.flushed;
      const t = tally(await ledgerIndexes(server.databaseUrl, `kill${i}`), flushed);
      lostTotal += t.missing;
      flushedTotal += flushed;
      results.push(`kill -9 client ${i}: ${flushed} flushed to the kernel before the connection died, ${t.stored} stored, lost ${t.missing} (the last ones: stored through ${t.through}), duplicates ${t.duplicates}`);
      expect(t.duplicates).toBe(0);
      expect(t.outOfOrder).toBe(0);
      // What was stored is a prefix of what was sent: nothing in the middle is lost.
      expect(t.stored).toBe(t.through);
    }
    results.push(`kill -9: last scrape before the kill: writer queue ${pending} events (received ${received}, committed ${committed}); lost in all ${lostTotal} of ${flushedTotal}`);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    // The restarted server continues the chain.
    const after = await startLoad(server.port, files(0), { rate: 200, prefix: 'afterkill', maxFrames: 100 });
    await sleep(800);
    await after.stop();
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'afterkill')) === 100);
    expect((await server.cli(['verify'])).code).toBe(0);
  }, 60_000);
});

/**
 * kill -9 the server and wait for it to be gone. test/helpers/server.ts decides "already exited" by
 * `exitCode`, which stays null for a process killed by a signal, and would then wait forever for
 * an 'exit' that already happened; so record an exit code the way a shell would (128 + 9).
 */
async function kill9(server: RunningServer): Promise<void> {
  const child = server.child;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGKILL');
  await exited;
  (child as unknown as { exitCode: number | null }).exitCode = 137;
}

describe('a start that fails', () => {
  it('the TLS port is taken: serve exits with the error, nothing of it left running', async () => {
    const { createServer } = await import('node:net');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createTestDatabase } = await import('../helpers/db.js');
    const { runCli } = await import('../helpers/server.js');
    const taken = createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
    const port = (taken.address() as { port: number }).port;
    const db = await createTestDatabase('sl_startfail');
    const dir = mkdtempSync(join(tmpdir(), 'syslog-ledger-startfail-'));
    try {
      // Before, the writer, checkpointer and chain-set timers kept a half-started server alive.
      const t0 = Date.now();
      const r = await Promise.race([
        runCli(['serve', '--database-url', db.url, '--listen', `127.0.0.1:${port}`, '--metrics', '127.0.0.1:0'], { cwd: dir }),
        sleep(30_000).then(() => ({ code: 'still running after 30 s', stdout: '', stderr: '' })),
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('EADDRINUSE');
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  }, 60_000);
});
