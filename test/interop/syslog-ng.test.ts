/**
 * syslog-ng (syslog() and network() drivers over TLS) against the real server, with the
 * published deploy/clients configs. N lines (INTEROP_N, default 10,000) go through a file()
 * source; each must arrive once, in order, with the right host, app, severity, message, peer
 * identity and detected format. Then the server is restarted mid-run and what was lost or
 * duplicated is measured (docs/interop.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { findSyslogNg } from './harness/binaries.js';
import { startSyslogNg, type ClientProcess } from './harness/clients.js';
import type { ClientConfigName } from './harness/configs.js';
import { expectDelivered, INTEROP_N, RESTART_LIMITS } from './harness/expect.js';
import { otherRowsFrom } from './harness/ledger.js';
import { plainLines } from './harness/lines.js';
import { prepareClient, runLines, type RunOptions, type RunResult } from './harness/scenario.js';

const syslogNg = findSyslogNg();
/** syslog-ng's HOST for local messages: the short host name (use-fqdn(no) is the default). */
const HOST = hostname().split('.')[0]!;

interface Case {
  readonly config: ClientConfigName;
  readonly format: 'rfc5424' | 'rfc3164';
}

const CASES: readonly Case[] = [
  { config: 'syslog-ng-syslog-tls', format: 'rfc5424' },
  { config: 'syslog-ng-network-tls', format: 'rfc3164' },
];

describe.skipIf(!syslogNg)(`syslog-ng interop (${syslogNg?.version ?? 'syslog-ng not installed'})`, () => {
  let server: RunningServer;
  let root: string;
  const running: ClientProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'interop-syslog-ng-'));
    server = await startServer();
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await server?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function run(c: Case, tag: string, opts: RunOptions = {}): Promise<{ result: RunResult; cn: string; proc: ClientProcess }> {
    const cn = `${c.config}-${tag}.interop.test`;
    const client = await prepareClient(server, c.config, join(root, `${c.config}-${tag}`), cn);
    const proc = await startSyslogNg(syslogNg!, { dir: client.dir, dropIn: client.dropIn, name: `syslog-ng ${c.config}${tag === 'restart' ? ' (server restarted)' : ''}` });
    running.push(proc);
    const runId = randomBytes(6).toString('hex');
    try {
      const result = await runLines(server, client, proc, runId, plainLines(runId, INTEROP_N), opts);
      console.log(result.summary);
      return { result, cn, proc };
    } finally {
      await proc.stop();
    }
  }

  for (const c of CASES) {
    it(`${c.config}: ${INTEROP_N} lines arrive once, in order, as ${c.format}, with host, app, severity, message and peer identity`, async () => {
      const { result, cn, proc } = await run(c, 'plain');
      expectDelivered(result, proc, { format: c.format, cn, hostname: HOST, appName: 'app-audit', severity: 6, facility: 16 });
      // The log path has only the file source: nothing else may come from this peer.
      expect(await otherRowsFrom(server.databaseUrl, cn, result.runId)).toEqual([]);
    }, 240_000);
  }

  for (const c of CASES) {
    it(`${c.config}: a server restart mid-run loses at most ${RESTART_LIMITS.syslogNg.lost} and duplicates at most ${RESTART_LIMITS.syslogNg.duplicated} lines`, async () => {
      const { result } = await run(c, 'restart', { batch: 50, pauseMs: 50, restartAfter: Math.floor(INTEROP_N / 2), idleMs: 45_000, timeoutMs: 200_000 });
      expect(result.restart?.resumedAfterMs, result.summary).not.toBeNull();
      expect(result.tally.unknown, result.summary).toEqual([]);
      expect(result.tally.missing.length, result.summary).toBeLessThanOrEqual(RESTART_LIMITS.syslogNg.lost);
      expect(result.tally.duplicates, result.summary).toBeLessThanOrEqual(RESTART_LIMITS.syslogNg.duplicated);
    }, 300_000);
  }

  it('the ledger written by all of the above verifies intact', async () => {
    const r = await server.cli(['verify']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
