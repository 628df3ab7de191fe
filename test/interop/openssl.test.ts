/**
 * `openssl s_client` as the minimal syslog-over-TLS client (what the README and
 * `syslog-ledger certs` print): it sends whatever arrives on stdin, so the frames are exactly
 * the bytes written. Checks mutual TLS with the dev PKI (server name verified), LF and
 * octet-counted frames, and the one-shot `printf ... | openssl s_client -quiet -no_ign_eof` form.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert } from '../../src/pki/devpki.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { findOpenssl } from './harness/binaries.js';
import { INTEROP_N } from './harness/expect.js';
import { rowsOfRun, tally, waitForRun } from './harness/ledger.js';

const openssl = findOpenssl();

describe.skipIf(!openssl)(`openssl s_client as the minimal client (${openssl?.version ?? 'openssl not installed'})`, () => {
  let server: RunningServer;
  let root: string;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'interop-openssl-'));
    server = await startServer();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server?.cleanup();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** s_client with a client certificate `cn`, verifying the server certificate for "localhost". */
  async function sClient(cn: string, extra: string[]): Promise<{ child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> }> {
    const files = await issueCert({ dir: server.pkiDir, cn, out: join(root, cn) });
    const child = spawn(openssl!.path, [
      's_client', '-quiet', ...extra,
      '-connect', `127.0.0.1:${server.port}`,
      '-servername', 'localhost', '-verify_hostname', 'localhost', '-verify_return_error',
      '-cert', files.cert, '-key', files.key, '-CAfile', join(server.pkiDir, 'ca.pem'),
    ]);
    children.push(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    return { child, output: () => out, exited };
  }

  it(`${INTEROP_N} RFC 5424 lines, LF-terminated and octet-counted alternately, arrive once, in order, with the peer identity`, async () => {
    const cn = 'openssl-s-client.interop.test';
    const run = randomBytes(6).toString('hex');
    const messages: string[] = [];
    let payload = '';
    for (let i = 0; i < INTEROP_N; i++) {
      const msg = `audit run=${run} n=${i} via s_client`;
      messages.push(msg);
      const frame = `<86>1 2024-05-01T12:00:00.${String(i % 1_000_000).padStart(6, '0')}Z sclient.example.net audit-cli ${process.pid} - - ${msg}`;
      payload += i % 2 === 0 ? `${frame}\n` : `${Buffer.byteLength(frame)} ${frame}`;
    }
    const s = await sClient(cn, []);
    s.child.stdin.write(payload);
    const waited = await waitForRun(server.databaseUrl, cn, run, INTEROP_N, { idleMs: 15_000 });
    s.child.kill('SIGTERM');
    await s.exited;
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    const t = tally(messages, rows.map((r) => r.message));
    const context = `count ${waited.count}; s_client output:\n${s.output().slice(-2000)}`;
    expect(t.missing.length, context).toBe(0);
    expect(t.duplicates, context).toBe(0);
    expect(t.outOfOrder, context).toBe(0);
    for (const r of rows) {
      expect(r).toMatchObject({ format: 'rfc5424', peerCn: cn, hostname: 'sclient.example.net', appName: 'audit-cli', severity: 6, facility: 10, parseError: null });
    }
    console.log(`openssl s_client: ${INTEROP_N} frames committed in ${waited.reachedAfterMs} ms after writing`);
  }, 180_000);

  it('the one-shot form `printf ... | openssl s_client -quiet -no_ign_eof ...` exits by itself and the frame is stored', async () => {
    const cn = 'openssl-one-shot.interop.test';
    const run = randomBytes(6).toString('hex');
    const s = await sClient(cn, ['-no_ign_eof']);
    s.child.stdin.end(`<134>1 - myhost myapp - - - hello ${run}\n`);
    const code = await Promise.race([s.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    expect(code, s.output()).toBe(0);
    await waitForRun(server.databaseUrl, cn, run, 1, { idleMs: 10_000 });
    const rows = await rowsOfRun(server.databaseUrl, cn, run);
    expect(rows.map((r) => [r.message, r.hostname, r.appName, r.format])).toEqual([[`hello ${run}`, 'myhost', 'myapp', 'rfc5424']]);
  }, 60_000);
});
