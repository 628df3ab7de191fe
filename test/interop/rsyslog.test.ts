/**
 * rsyslog (omfwd + gtls) against the real server, with the published deploy/clients configs.
 * N lines (INTEROP_N, default 10,000) go through imfile; each must arrive once, in order, with
 * the right host, app, severity, message, peer identity and detected format. Then the server is
 * restarted mid-run and what was lost or duplicated is measured (docs/interop.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { findRsyslog } from './harness/binaries.js';
import { startRsyslog, type ClientProcess } from './harness/clients.js';
import type { ClientConfigName } from './harness/configs.js';
import { otherRowsFrom } from './harness/ledger.js';
import { auditLoggerLines, plainLines } from './harness/lines.js';
import { prepareClient, runLines, type RunOptions, type RunResult } from './harness/scenario.js';
import { expectDelivered, INTEROP_N, RESTART_LIMITS } from './harness/expect.js';

const rsyslog = findRsyslog();
/** rsyslog's local host name: the short name, as gethostname() gives it. */
const HOST = hostname().split('.')[0]!;

interface Case {
  readonly config: ClientConfigName;
  readonly format: 'json' | 'rfc5424' | 'rfc3164';
  readonly lines: (run: string, n: number) => string[];
  /** A change to the published file, for variants that are documented but not published. */
  readonly variant?: { readonly name: string; readonly edit: (dropIn: string) => string };
}

const CASES: readonly Case[] = [
  { config: 'rsyslog-json-audit', format: 'json', lines: auditLoggerLines },
  { config: 'rsyslog-rfc5424', format: 'rfc5424', lines: plainLines },
  { config: 'rsyslog-traditional', format: 'rfc3164', lines: plainLines },
];

describe.skipIf(!rsyslog)(`rsyslog interop (${rsyslog?.version ?? 'rsyslogd with rsyslog-gnutls not installed'})`, () => {
  let server: RunningServer;
  let root: string;
  const running: ClientProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'interop-rsyslog-'));
    server = await startServer();
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await server?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function run(c: Case, tag: string, opts: RunOptions = {}): Promise<{ result: RunResult; cn: string; proc: ClientProcess }> {
    const label = c.variant ? `${c.config}-${c.variant.name}` : c.config;
    const cn = `${label}-${tag}.interop.test`;
    const client = await prepareClient(server, c.config, join(root, `${label}-${tag}`), cn);
    const dropIn = c.variant ? c.variant.edit(client.dropIn) : client.dropIn;
    const proc = await startRsyslog(rsyslog!, { dir: client.dir, dropIn, name: `rsyslog ${label}${tag === 'restart' ? ' (server restarted)' : ''}` });
    running.push(proc);
    const runId = randomBytes(6).toString('hex');
    try {
      const result = await runLines(server, client, proc, runId, c.lines(runId, INTEROP_N), opts);
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
      // Anything else from this peer can only be rsyslog's own status messages (the action forwards everything).
      const others = await otherRowsFrom(server.databaseUrl, cn, result.runId);
      expect(others.filter((o) => o.appName !== 'rsyslogd')).toEqual([]);
    }, 240_000);
  }

  for (const c of CASES) {
    it(`${c.config}: a server restart mid-run loses at most ${RESTART_LIMITS.rsyslog.lost} and duplicates at most ${RESTART_LIMITS.rsyslog.duplicated} lines`, async () => {
      const { result } = await run(c, 'restart', { batch: 50, pauseMs: 50, restartAfter: Math.floor(INTEROP_N / 2), idleMs: 75_000, timeoutMs: 200_000 });
      expect(result.restart?.resumedAfterMs, result.summary).not.toBeNull();
      expect(result.tally.unknown, result.summary).toEqual([]);
      expect(result.tally.missing.length, result.summary).toBeLessThanOrEqual(RESTART_LIMITS.rsyslog.lost);
      expect(result.tally.duplicates, result.summary).toBeLessThanOrEqual(RESTART_LIMITS.rsyslog.duplicated);
    }, 300_000);
  }

  // The OpenSSL driver (package rsyslog-openssl) instead of GnuTLS. rsyslog 8.2302's ossl driver
  // does not match the target name against the certificate's DNS SANs when no permitted peer is
  // configured ("peer name not authorized ... /CN=localhost"), so it needs StreamDriverPermittedPeers.
  const ossl: Case = {
    config: 'rsyslog-rfc5424',
    format: 'rfc5424',
    lines: plainLines,
    variant: {
      name: 'ossl',
      edit: (dropIn) =>
        dropIn
          .replace('StreamDriver="gtls"', 'StreamDriver="ossl"')
          .replace('StreamDriverAuthMode="x509/name"', 'StreamDriverAuthMode="x509/name"\n  StreamDriverPermittedPeers="localhost"'),
    },
  };
  it.skipIf(!rsyslog?.moduleDir || !existsSync(join(rsyslog.moduleDir, 'lmnsd_ossl.so')))(
    `rsyslog-rfc5424 with StreamDriver="ossl" and StreamDriverPermittedPeers: ${INTEROP_N} lines arrive once, in order`,
    async () => {
      const { result, cn, proc } = await run(ossl, 'plain');
      expectDelivered(result, proc, { format: 'rfc5424', cn, hostname: HOST, appName: 'app-audit', severity: 6, facility: 16 });
    },
    240_000,
  );

  it('the ledger written by all of the above verifies intact', async () => {
    const r = await server.cli(['verify']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
