/**
 * kill -9 of the server while a real rsyslog (published config, omfwd over TLS with a disk-assisted
 * queue) is sending: what is lost, and what rsyslog's queue sends again after the server is back.
 * Measured, not guaranteed (docs/operations.md). Needs rsyslogd with gtls (test/interop) and
 * takes about a minute (rsyslog retries after action.resumeInterval, 30 s): opt-in with
 * SYSLOG_LEDGER_LONG_TESTS=1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { findRsyslog } from '../interop/harness/binaries.js';
import { startRsyslog } from '../interop/harness/clients.js';
import { plainLines } from '../interop/harness/lines.js';
import { prepareClient, runLines } from '../interop/harness/scenario.js';

const rsyslog = findRsyslog();
const LONG = process.env.SYSLOG_LEDGER_LONG_TESTS === '1';
const N = 5000;

describe.skipIf(!rsyslog || !LONG)('kill -9 under rsyslog load', () => {
  let server: RunningServer;
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sl-crash-rsyslog-'));
    server = await startServer();
  }, 120_000);
  afterAll(async () => {
    await server?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it(`rsyslog-rfc5424, ${N} lines at ~1,000/s, server killed half-way and started again`, async () => {
    const cn = 'crash.interop.test';
    const client = await prepareClient(server, 'rsyslog-rfc5424', join(root, 'client'), cn);
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn: client.dropIn, name: 'rsyslog (server killed)' });
    const run = randomBytes(6).toString('hex');
    // runLines restarts the server through `restart`; this one kills it first.
    const killing = Object.create(server, {
      restart: {
        value: async () => {
          const child = server.child;
          const exited = new Promise((res) => child.once('exit', res));
          child.kill('SIGKILL');
          await exited;
          // test/helpers/server.ts waits for an exit code, which a signal death leaves null.
          (child as unknown as { exitCode: number | null }).exitCode = 137;
          await server.restart();
        },
      },
    }) as RunningServer;
    try {
      const result = await runLines(killing, client, proc, run, plainLines(run, N), { batch: 50, pauseMs: 50, restartAfter: N / 2, idleMs: 75_000, timeoutMs: 200_000 });
      console.log(`[crash-rsyslog] ${result.summary}`);
      expect(result.tally.unknown).toEqual([]);
      expect(result.restart?.resumedAfterMs).not.toBeNull();
      const verify = await server.cli(['verify']);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    } finally {
      await proc.stop();
    }
  }, 300_000);
});
