/**
 * A writer that must stop (another process moved the chain head under it: ChainDivergedError) can
 * no longer commit what it holds. The server must then stop reading, say how many received events
 * were not committed, and exit 1: never "every received event is committed" with exit 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';
import { clientOf, frame } from './load.js';

describe('writer failure', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  }, 120_000);
  afterAll(async () => {
    await server?.cleanup();
  });

  it('a diverged chain: intake stops, the lost events are counted in the log, exit 1', async () => {
    const committed = async (): Promise<number> => metricValue(await scrape(server.metricsPort), 'syslog_ledger_events_committed_total') ?? 0;
    await sendAndClose(await connect(server.port, clientOf(server)), Array.from({ length: 10 }, (_, i) => frame('before', i)).join(''));
    await waitFor(async () => (await committed()) >= 10, 10_000);

    // Someone else moves the head: the writer's next batch finds it changed and stops.
    await query(server.databaseUrl, "UPDATE chains SET head_seq = head_seq + 1000 WHERE chain = 'test-chain'");
    const from = server.logs.length;
    const exited = new Promise<number | null>((res) => server.child.once('exit', (c) => res(c)));
    // One write, so that all 20 frames are read (and queued) together.
    await sendAndClose(await connect(server.port, clientOf(server)), Array.from({ length: 20 }, (_, i) => frame('after', i)).join(''));
    const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(() => res('no exit within 15 s'), 15_000))]);
    const logs = server.logs.slice(from);
    expect(code).toBe(1);
    expect(logs.find((l) => l.msg === 'writer failed; stopping intake')?.notCommitted).toBe(20);
    const failed = logs.find((l) => l.msg === 'shutdown failed');
    expect(failed?.notCommitted).toBe(20);
    expect(String(failed?.err)).toContain('diverged');
    expect(logs.some((l) => l.msg === 'shutdown complete; every received event is committed')).toBe(false);
    const stored = await query<{ n: number }>(server.databaseUrl, "SELECT count(*)::int AS n FROM ledger WHERE chain = 'test-chain'");
    expect(stored[0]!.n).toBe(10);
  }, 60_000);
});
