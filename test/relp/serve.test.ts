/**
 * `serve --relp-listen`: the real server over mTLS, a test RELP client, a real PostgreSQL behind a
 * switchable proxy (the database "down" without stopping it).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, createTestDatabase, query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';
import { freePort, TestRelpClient } from './client.js';
import { startDbSwitch, type DbSwitch } from './db-switch.js';

const CN = 'relp1.example.com';

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function messages(url: string, like: string): Promise<Array<{ raw: string; truncated: boolean }>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ raw: Buffer; truncated: boolean }>('SELECT raw, truncated FROM ledger WHERE position($1::bytea in raw) > 0 ORDER BY seq', [Buffer.from(like)]);
    return r.rows.map((x) => ({ raw: x.raw.toString('utf8'), truncated: x.truncated }));
  } finally {
    await c.end();
  }
}

function line(run: string, i: number): string {
  return `<134>1 2026-12-06T12:00:00.${String(i).padStart(6, '0')}+00:00 relp-host app - - - ${run} ${String(i).padStart(6, '0')}\n`;
}

describe('serve --relp-listen', () => {
  let server: RunningServer;
  let db: { url: string; drop: () => Promise<void> };
  let sw: DbSwitch;
  let relpPort: number;
  let files: { ca: string; cert: string; key: string };
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('sl_relp');
    const pgPort = Number(new URL(adminUrl()).port || 5432);
    sw = await startDbSwitch(pgPort);
    const u = new URL(db.url);
    u.port = String(sw.port);
    url = db.url;
    relpPort = await freePort();
    server = await startServer({
      databaseUrl: u.toString(),
      clients: [{ cn: CN }],
      args: ['--relp-listen', `127.0.0.1:${relpPort}`, '--relp-max-data', '1KiB', '--batch-size', '50'],
    });
    files = { ca: server.pki.ca, cert: server.pki.clients[0]!.cert, key: server.pki.clients[0]!.key };
  }, 120_000);

  afterAll(async () => {
    await server?.cleanup();
    await sw?.close();
    await db?.drop();
  });

  it('acknowledges each syslog frame only after its COMMIT, in order, never 500 while the database is down; close is answered last', async () => {
    const c = await TestRelpClient.connect(relpPort, files);
    c.open();
    expect(await c.until(() => c.rsps().length === 1)).toBe(true);
    expect(c.rsps()).toEqual(['1 200']);
    expect(c.received[0]!.data.toString()).toContain('relp_version=0');
    sw.down();
    try {
      for (let i = 0; i < 5; i++) c.send('syslog', line('held', i));
      await new Promise((r) => setTimeout(r, 4000));
      expect(c.rsps()).toEqual(['1 200']);
      expect(await metric(server, 'syslog_ledger_relp_acks_outstanding')).toBe(5);
    } finally {
      sw.up();
    }
    expect(await c.until(() => c.rsps().length === 6, 60_000)).toBe(true);
    expect(c.rsps()).toEqual(['1 200', '2 200', '3 200', '4 200', '5 200', '6 200']);
    expect(await metric(server, 'syslog_ledger_relp_responses_total{code="500"}')).toBe(0);
    expect((await messages(url, 'held')).length).toBe(5);
    // Frames and close in one write: the close's rsp comes after every earlier one, then the server ends.
    for (let i = 5; i < 10; i++) c.send('syslog', line('held', i));
    c.send('close');
    expect(await c.until(() => c.closed, 30_000)).toBe(true);
    expect(c.rsps().slice(6)).toEqual(['7 200', '8 200', '9 200', '10 200', '11 200', '12 200']);
    expect((await messages(url, 'held')).map((m) => m.raw)).toEqual(Array.from({ length: 10 }, (_, i) => line('held', i)));
    // Ledger format v3: the rows reference their connection, recorded once with its transport.
    const conns = await query<{ transport: string; peer_cn: string; n: number }>(
      url,
      `SELECT c.transport, c.peer_cn, count(*)::int AS n FROM ledger l JOIN ledger_connections c USING (chain, conn)
        WHERE position(convert_to('held', 'UTF8') in l.raw) > 0 GROUP BY 1, 2`,
    );
    expect(conns).toEqual([{ transport: 'relp', peer_cn: CN, n: 10 }]);
    // Their stages ran in the stage worker (--workers 1, the default), as the TLS listener's frames do.
    expect(await metric(server, 'syslog_ledger_stage_frames_total{thread="worker"}')).toBe(10);
    expect(await metric(server, 'syslog_ledger_stage_frames_total{thread="main"}')).toBe(0);
  }, 120_000);

  it('a frame before open is a protocol violation: counted, the session closed', async () => {
    const c = await TestRelpClient.connect(relpPort, files);
    c.send('syslog', line('noopen', 1));
    expect(await c.until(() => c.closed, 10_000)).toBe(true);
    expect(c.rsps()).toEqual([]);
    expect(await metric(server, 'syslog_ledger_relp_violations_total{reason="no_open"}')).toBe(1);
  });

  it('a TXNR out of sequence and a malformed frame close the session', async () => {
    const c = await TestRelpClient.connect(relpPort, files);
    c.open();
    c.send('syslog', line('txnr', 1), 5);
    expect(await c.until(() => c.closed, 10_000)).toBe(true);
    expect(await metric(server, 'syslog_ledger_relp_violations_total{reason="bad_txnr"}')).toBe(1);
    const d = await TestRelpClient.connect(relpPort, files);
    d.open();
    d.socket.write('2 syslog 3 abcdef\n');
    expect(await d.until(() => d.closed, 10_000)).toBe(true);
    expect(await metric(server, 'syslog_ledger_relp_violations_total{reason="malformed"}')).toBe(1);
  });

  it('DATALEN over --relp-max-data is read through, stored cut and flagged; the session goes on', async () => {
    const c = await TestRelpClient.connect(relpPort, files);
    c.open();
    const big = `<134>1 2026-12-06T12:00:00Z relp-host app - - - oversize ${'x'.repeat(5000)}`;
    c.send('syslog', big);
    c.send('syslog', line('after-oversize', 1));
    expect(await c.until(() => c.rsps().length === 3)).toBe(true);
    expect(c.rsps()).toEqual(['1 200', '2 200', '3 200']);
    const rows = await messages(url, 'oversize');
    expect(rows.find((r) => r.raw.includes('relp-host app - - - oversize'))).toMatchObject({ truncated: true });
    expect(rows.find((r) => r.raw.includes('relp-host app - - - oversize'))!.raw.length).toBe(1024);
    c.destroy();
  });

  it('resends on a new session are stored once (pending or committed); a later repeat is stored', async () => {
    const a = await TestRelpClient.connect(relpPort, files);
    a.open();
    for (let i = 0; i < 20; i++) a.send('syslog', line('live', i));
    expect(await a.until(() => a.rsps().length === 21)).toBe(true);
    a.destroy();
    const before = await metric(server, 'syslog_ledger_relp_resends_total');
    // As librelp after a reconnect: the unacknowledged tail again, byte-identical, new TXNRs, then new frames.
    const b = await TestRelpClient.connect(relpPort, files);
    b.open();
    for (let i = 12; i < 25; i++) b.send('syslog', line('live', i));
    b.send('syslog', line('live', 3)); // not in the leading run: a message sent again is stored again
    expect(await b.until(() => b.rsps().length === 15)).toBe(true);
    expect(b.rsps().every((r) => r.endsWith(' 200'))).toBe(true);
    expect((await metric(server, 'syslog_ledger_relp_resends_total')) - before).toBe(8);
    const stored = (await messages(url, ' live ')).map((m) => m.raw);
    expect(stored).toEqual([...Array.from({ length: 25 }, (_, i) => line('live', i)), line('live', 3)]);
    b.destroy();
  });

  it('resends of frames still waiting for their COMMIT (database down) are stored once and acked when the originals commit', async () => {
    const before = await metric(server, 'syslog_ledger_relp_resends_total');
    const a = await TestRelpClient.connect(relpPort, files);
    a.open();
    expect(await a.until(() => a.rsps().length === 1)).toBe(true);
    sw.down();
    let b: TestRelpClient | undefined;
    try {
      for (let i = 0; i < 10; i++) a.send('syslog', line('pending', i));
      await new Promise((r) => setTimeout(r, 1500));
      expect(a.rsps()).toEqual(['1 200']);
      a.destroy();
      b = await TestRelpClient.connect(relpPort, files);
      b.open();
      for (let i = 0; i < 15; i++) b.send('syslog', line('pending', i));
      await new Promise((r) => setTimeout(r, 1500));
      expect(b.rsps()).toEqual(['1 200']);
    } finally {
      sw.up();
    }
    expect(await b.until(() => b!.rsps().length === 16, 60_000)).toBe(true);
    expect(b.rsps()).toEqual(Array.from({ length: 16 }, (_, i) => `${i + 1} 200`));
    expect((await metric(server, 'syslog_ledger_relp_resends_total')) - before).toBe(10);
    expect((await messages(url, ' pending ')).map((m) => m.raw)).toEqual(Array.from({ length: 15 }, (_, i) => line('pending', i)));
    b.destroy();
  }, 120_000);

  it('recorded omrelp sessions replayed: the reconnect resends 3 frames, stored once; close answered last', async () => {
    const fixtures = resolve(import.meta.dirname, '../fixtures/relp');
    const before = await metric(server, 'syslog_ledger_relp_resends_total');
    const a = await TestRelpClient.connect(relpPort, files);
    a.socket.write(readFileSync(resolve(fixtures, 'omrelp-reconnect-session1.bin')));
    expect(await a.until(() => a.rsps().length === 7)).toBe(true);
    a.destroy();
    const b = await TestRelpClient.connect(relpPort, files);
    b.socket.write(readFileSync(resolve(fixtures, 'omrelp-reconnect-session2.bin')));
    expect(await b.until(() => b.closed, 30_000)).toBe(true);
    expect(b.rsps()).toEqual(['1 200', '2 200', '3 200', '4 200', '5 200', '6 200', '7 200']);
    expect((await metric(server, 'syslog_ledger_relp_resends_total')) - before).toBe(3);
    const stored = (await messages(url, ' vm app-audit - - - line ')).map((m) => m.raw.replace(/^.* - - - /, '').trim());
    expect(stored).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8']);
  });

  it('resends after kill -9 are recognized from the database and stored once', async () => {
    const a = await TestRelpClient.connect(relpPort, files);
    a.open();
    for (let i = 0; i < 30; i++) a.send('syslog', line('killed', i));
    expect(await a.until(() => a.rsps().length === 31)).toBe(true);
    const child = server.child;
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
    (child as unknown as { exitCode: number | null }).exitCode = 137;
    await server.restart();
    expect(await metric(server, 'syslog_ledger_relp_resends_total')).toBe(0);
    const b = await TestRelpClient.connect(relpPort, files);
    b.open();
    for (let i = 20; i < 35; i++) b.send('syslog', line('killed', i));
    expect(await b.until(() => b.rsps().length === 16)).toBe(true);
    expect(await metric(server, 'syslog_ledger_relp_resends_total')).toBe(10);
    expect((await messages(url, ' killed ')).map((m) => m.raw)).toEqual(Array.from({ length: 35 }, (_, i) => line('killed', i)));
    b.destroy();
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);

  it('after a restart, resends are aligned with RELP sessions only: a line the same certificate stored over TCP is not one', async () => {
    const a = await TestRelpClient.connect(relpPort, files);
    a.open();
    for (let i = 0; i < 5; i++) a.send('syslog', line('tcpseed-relp', i));
    expect(await a.until(() => a.rsps().length === 6)).toBe(true);
    a.destroy();
    // The same certificate over syslog/TLS (6514), octet-counted: stored bytes = what RELP sends below.
    const sock = await connect(server.port, files);
    const tcpLine = line('tcpseed', 0);
    await sendAndClose(sock, `${Buffer.byteLength(tcpLine)} ${tcpLine}`);
    await waitFor(async () => (await messages(url, ' tcpseed ')).length === 1);
    const child = server.child;
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
    (child as unknown as { exitCode: number | null }).exitCode = 137;
    await server.restart();
    const b = await TestRelpClient.connect(relpPort, files);
    b.open();
    b.send('syslog', tcpLine);
    b.send('syslog', line('tcpseed', 1));
    expect(await b.until(() => b.rsps().length === 3)).toBe(true);
    expect(await metric(server, 'syslog_ledger_relp_resends_total')).toBe(0);
    expect((await messages(url, ' tcpseed ')).map((m) => m.raw)).toEqual([tcpLine, tcpLine, line('tcpseed', 1)]);
    // How a row says RELP: its connection's transport (src/relp/seed.ts reads it).
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query<{ t: string | null }>(`SELECT transport AS t FROM ledger_rows WHERE position($1::bytea in raw) > 0 ORDER BY seq`, [Buffer.from(' tcpseed ')]);
      expect(r.rows.map((x) => x.t)).toEqual(['tls', 'relp', 'relp']);
    } finally {
      await c.end();
    }
    b.destroy();
  }, 120_000);
});

describe('serve --relp-listen: SIGHUP reload', () => {
  it('a RELP session whose peer the reloaded allowlist no longer names is closed; new ones are refused', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const relpPort = await freePort();
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'sl-relp-allow-'));
    const allowFile = join(dir, 'allow.txt');
    writeFileSync(allowFile, `${CN}\n`);
    const server = await startServer({ clients: [{ cn: CN }], args: ['--relp-listen', `127.0.0.1:${relpPort}`, '--allow-peer-file', allowFile] });
    try {
      const files = { ca: server.pki.ca, cert: server.pki.clients[0]!.cert, key: server.pki.clients[0]!.key };
      const c = await TestRelpClient.connect(relpPort, files);
      c.open();
      c.send('syslog', line('reload', 1));
      expect(await c.until(() => c.rsps().length === 2)).toBe(true);
      writeFileSync(allowFile, 'someone-else.example.com\n');
      server.child.kill('SIGHUP');
      expect(await c.until(() => c.closed, 15_000)).toBe(true);
      const d = await TestRelpClient.connect(relpPort, files).catch(() => undefined);
      if (d) {
        d.open();
        expect(await d.until(() => d.closed, 15_000)).toBe(true);
        expect(d.rsps()).toEqual([]);
      }
      expect(await metric(server, 'syslog_ledger_tls_refusals_total{reason="peer_not_allowed"}')).toBeGreaterThanOrEqual(1);
    } finally {
      await server.cleanup();
      (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
